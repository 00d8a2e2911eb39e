package ui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
)

func TestBulkBackupIsBoundedAndCarriesTheUser(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24, func(o *Options) { o.Concurrency = 2 })
	h.keys("B")
	h.mustShow("Back up all 6 devices of ACME Networks now?")
	h.keys("y")
	if got := len(f.calls()); got != 2 {
		t.Fatalf("%d backups started at once, want 2 (the concurrency)", got)
	}
	h.mustShow("2 running, 4 waiting")
	// Finish whatever runs until all six went through.
	for done := 0; done < 6; done++ {
		f.mu.Lock()
		var key string
		for k := range f.backups {
			key = k
			break
		}
		f.mu.Unlock()
		if key == "" {
			// The next backup may still be on its way into the fake.
			time.Sleep(time.Millisecond)
			done--
			continue
		}
		f.finish(t, key, successReply(strings.TrimPrefix(key, "acme/"), false))
		h.settle()
	}
	if f.maxRunning != 2 {
		t.Fatalf("at most %d backups ran at once, want 2", f.maxRunning)
	}
	if got := len(f.calls()); got != 6 {
		t.Fatalf("%d backups ran, want 6: %v", got, f.calls())
	}
	for _, o := range f.backupOpts {
		if o.RequestedBy != "ops@jump1" {
			t.Fatalf("requested_by = %q, want the user", o.RequestedBy)
		}
	}
	h.mustShow("no jobs", "Jobs · 6 done")
}

func TestBackupOfMarkedDevicesOnly(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.selectDevice("lab-5")
	h.keys("space")
	h.selectDevice("core-rtr-1")
	h.keys("space", "B")
	got := f.calls()
	slices.Sort(got)
	if len(got) != 2 || got[0] != "acme/core-rtr-1" || got[1] != "acme/lab-5" {
		t.Fatalf("backed up %v, want the two marked devices without a confirmation", got)
	}
	h.mustNotShow("2 marked")
}

func TestPressingBTwiceDoesNotStartASecondBackup(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.selectDevice("core-rtr-1")
	h.keys("b", "b")
	if got := len(f.calls()); got != 1 {
		t.Fatalf("%d backups started, want 1", got)
	}
	h.mustShow("1 backup already running")
}

func TestOnlyTheLatestDevicesReplyIsApplied(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	// acme's reload hangs; the user moves on to globex meanwhile.
	f.gates["acme"] = newGate()
	h.keys("r")
	h.keys("]")
	h.mustShow("gx-core", "Globex Corp [2/3]")
	f.mu.Lock()
	f.devices["acme"] = []api.Device{{ID: "late-reply", TenantID: "acme", Name: "late-reply"}}
	f.mu.Unlock()
	f.gates["acme"].release()
	h.settle()
	h.mustShow("gx-core")
	h.mustNotShow("late-reply")
}

func TestTenantSwitchMovesTheSnapshotWatch(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.keys("]")
	f.mu.Lock()
	_, acme := f.snapWatch["acme"]
	_, globex := f.snapWatch["globex"]
	stops := f.stops
	f.mu.Unlock()
	if acme || !globex || stops != 1 {
		t.Fatalf("watching acme=%v globex=%v after %d stops; want only globex", acme, globex, stops)
	}
}

func TestProgressAndResultUpdateTheRow(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.selectDevice("pop1-sw-3")
	h.keys("b")
	if !strings.Contains(h.line("pop1-sw-3"), "starting") {
		t.Fatalf("row before any progress: %q", h.line("pop1-sw-3"))
	}
	f.progress(t, "acme/pop1-sw-3", api.StageExporting, 900, 4096)
	h.settle()
	if l := h.line("▸ pop1-sw-3"); !strings.Contains(l, "export") {
		t.Fatalf("row does not show the stage: %q", l)
	}
	h.mustShow("4.0 KiB")
	r := successReply("pop1-sw-3", true)
	r.PreviousHash = ""
	f.finish(t, "acme/pop1-sw-3", r)
	h.settle()
	l := h.line("▸ pop1-sw-3")
	if !strings.Contains(l, "now") || !strings.Contains(l, common.ShortHash(r.SHA256)) || !strings.Contains(l, "✓ ok") {
		t.Fatalf("row after success: %q", l)
	}
	h.mustShow("sha256   "+r.SHA256, "first snapshot")
}

func TestStaleProgressAfterTheResultIsIgnored(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	backupOne(h, "core-rtr-1")
	id := h.m.jobs.ActiveID(jobs.Key{Tenant: "acme", Device: "core-rtr-1"})
	f.finish(t, "acme/core-rtr-1", successReply("core-rtr-1", true))
	h.settle()
	h.m.bridge.PushProgress(id, api.ProgressEvent{Stage: api.StageExporting})
	h.settle()
	if !strings.Contains(h.line("▸ core-rtr-1"), "✓ ok") {
		t.Fatalf("late progress revived a finished job: %q", h.line("▸ core-rtr-1"))
	}
}

func TestWatchEndsWithTheHoldersResultAndStops(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	backupOne(h, "core-rtr-1")
	f.finish(t, "acme/core-rtr-1", lockedReply("core-rtr-1"))
	h.settle()
	h.keys("w")
	// An event of another job on the device is not the holder's.
	f.emitDevice("acme/core-rtr-1", client.Update{Progress: &api.ProgressEvent{JobID: "01OTHER", Stage: api.StageQueued}})
	f.emitDevice("acme/core-rtr-1", client.Update{Progress: &api.ProgressEvent{JobID: "01JOBALICE", Stage: api.StageStoring}})
	h.settle()
	if l := h.line("▸ core-rtr-1"); !strings.Contains(l, "store") {
		t.Fatalf("row does not follow the holder's job: %q", l)
	}
	final := failedReply("core-rtr-1", api.KindTimeout, "export did not finish within 60s")
	final.JobID = "01JOBALICE"
	f.emitDevice("acme/core-rtr-1", client.Update{Final: &final})
	h.settle()
	h.mustShow("Timed out", "no jobs")
	f.mu.Lock()
	_, still := f.devWatch["acme/core-rtr-1"]
	f.mu.Unlock()
	if still {
		t.Fatal("the device watch was not stopped after the holder's job ended")
	}
}

func TestWatchNeedsALock(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.selectDevice("wan-6")
	h.keys("w")
	h.mustShow("wan-6 is not locked: nothing to watch")
	h.selectDevice("lab-5") // busy in the inventory
	h.keys("w")
	h.mustShow("1 watched")
	h.keys("w")
	h.mustShow("stopped watching lab-5", "no jobs")
}

func TestCopyHashUsesOSC52WithTheFullHash(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.selectDevice("core-rtr-1")
	h.keys("y")
	want := f.devices["acme"][0].LastBackup.SHA256
	if h.clipboard != want {
		t.Fatalf("clipboard = %q, want the full hash %q", h.clipboard, want)
	}
	h.mustShow("copied sha256 of core-rtr-1")
	h.selectDevice("pop1-sw-3")
	h.clipboard = ""
	h.keys("y")
	if h.clipboard != "" {
		t.Fatal("copied something for a device without a backup")
	}
	h.mustShow("pop1-sw-3 has no backup yet")
}

func TestQuit(t *testing.T) {
	t.Run("at once without jobs", func(t *testing.T) {
		h := newHarness(t, newFake(), 80, 24)
		h.keys("q")
		if !h.quit {
			t.Fatal("q did not quit")
		}
	})
	t.Run("asks while a backup runs", func(t *testing.T) {
		h := newHarness(t, newFake(), 80, 24)
		backupOne(h, "core-rtr-1")
		h.keys("q")
		if h.quit {
			t.Fatal("quit without asking while a backup runs")
		}
		h.mustShow("1 backup is still running")
		h.keys("n")
		h.mustNotShow("Quit?")
		h.keys("q", "y")
		if !h.quit {
			t.Fatal("y did not quit")
		}
	})
	t.Run("ctrl+c twice", func(t *testing.T) {
		h := newHarness(t, newFake(), 80, 24)
		backupOne(h, "core-rtr-1")
		h.keys("ctrl+c")
		if h.quit {
			t.Fatal("ctrl+c quit without asking")
		}
		h.keys("ctrl+c")
		if !h.quit {
			t.Fatal("a second ctrl+c did not quit")
		}
	})
	t.Run("q types into the filter", func(t *testing.T) {
		h := newHarness(t, newFake(), 80, 24)
		h.keys("/", "q")
		if h.quit {
			t.Fatal("q quit while typing a filter")
		}
		h.mustShow("/q█")
	})
}

func TestNoColor(t *testing.T) {
	colour := func(s string) bool {
		// SGR parameters 30-38/40-48/90-107 set colours.
		for _, p := range []string{"[38;", ";38;", "[48;", ";48;", "[3", "[4", "[9", "[10"} {
			for i := 0; ; {
				j := strings.Index(s[i:], "\x1b"+p)
				if j < 0 {
					break
				}
				seq := s[i+j:]
				end := strings.IndexByte(seq, 'm')
				if end > 0 && !strings.ContainsAny(seq[:end], "ABCDHJK") {
					params := strings.Split(strings.TrimPrefix(seq[:end], "\x1b["), ";")
					for _, q := range params {
						var n int
						if _, err := fmt.Sscan(q, &n); err == nil && ((n >= 30 && n <= 48 && n != 39 && n != 49) || (n >= 90 && n <= 107)) {
							return true
						}
					}
				}
				i += j + 1
			}
		}
		return false
	}
	render := func(t *testing.T) string {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		h.selectDevice("branch-4")
		return h.view()
	}
	t.Setenv("NO_COLOR", "")
	if v := render(t); !colour(v) {
		t.Fatal("the colour screen has no colour: the check below could not fail")
	}
	t.Setenv("NO_COLOR", "yes") // any non-empty value, not only 1/true
	v := render(t)
	if colour(v) {
		t.Fatalf("NO_COLOR screen has colour codes: %q", v)
	}
	if !strings.Contains(v, "\x1b[7m") {
		t.Fatal("NO_COLOR screen does not mark the cursor row with reverse video")
	}
	golden := newHarness(t, newFake(), 80, 24)
	backupOne(golden, "core-rtr-1")
	golden.golden()
}

func TestBackgroundColourSwitchesStyles(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	h := newHarness(t, newFake(), 80, 24)
	dark := h.view()
	h.send(tea.BackgroundColorMsg{Color: lightGrey{}})
	if h.m.isDark {
		t.Fatal("a light background was taken for dark")
	}
	if light := h.view(); light == dark {
		t.Fatal("the light background renders the same colours as the dark one")
	}
	if plain(h.view()) != plain(dark) {
		t.Fatal("the background changed the text")
	}
}

type lightGrey struct{}

func (lightGrey) RGBA() (r, g, b, a uint32) { return 0xeeee, 0xeeee, 0xeeee, 0xffff }

func TestMouse(t *testing.T) {
	t.Run("click selects a device", func(t *testing.T) {
		h := newHarness(t, newFake(), 80, 24)
		// Screen line 0 is the status bar, body line 2 the first row.
		h.send(tea.MouseClickMsg{X: 5, Y: 1 + 2 + 2, Button: tea.MouseLeft})
		if d, _ := h.m.fleet.Current(); d.ID != "edge-rtr-2" {
			t.Fatalf("clicked the third row, selected %s", d.ID)
		}
	})
	t.Run("click selects a tenant", func(t *testing.T) {
		h := newHarness(t, newFake(), 120, 30)
		h.send(tea.MouseClickMsg{X: 3, Y: 1 + 2, Button: tea.MouseLeft})
		h.mustShow("gx-core")
		if h.m.fleet.CurrentTenant() != "globex" {
			t.Fatalf("tenant %s after clicking Globex", h.m.fleet.CurrentTenant())
		}
	})
	t.Run("wheel scrolls", func(t *testing.T) {
		f := newFake()
		f.devices["acme"] = manyDevices("acme", 200)
		h := newHarness(t, f, 80, 24)
		h.send(tea.MouseWheelMsg{X: 10, Y: 5, Button: tea.MouseWheelDown})
		if h.m.fleet.Offset() != wheelStep {
			t.Fatalf("offset %d after one notch, want %d", h.m.fleet.Offset(), wheelStep)
		}
		h.mustShow("dev-00003")
		h.mustNotShow("dev-00000 ")
	})
}

func TestHostileTextNeverReachesTheTerminal(t *testing.T) {
	f := newFake()
	f.devices["acme"][0].Name = "evil\x1b]52;c;aGk=\x07\x1b[2J"
	f.devices["acme"][0].Host = "h\x9b31m"
	h := newHarness(t, f, 80, 24)
	backupOne(h, "core-rtr-1")
	f.finish(t, "acme/core-rtr-1", failedReply("core-rtr-1", api.KindInternal, "boom\x1b[31m\r\nfake prompt$ "))
	h.settle()
	v := h.view()
	for _, bad := range []string{"\x1b]52", "\x1b[2J", "\x9b", "\x1b[31m\r", "\r"} {
		if strings.Contains(v, bad) {
			t.Fatalf("screen contains %q from outside", bad)
		}
	}
}

func TestFilterIsFuzzyAndKeepsTheCursor(t *testing.T) {
	h := newHarness(t, newFake(), 80, 24)
	h.selectDevice("edge-rtr-2")
	h.keys("/")
	h.typeText("ed2") // e…d…2: edge-rtr-2 only
	h.mustShow("1 of 6", "Edge router 2")
	h.mustNotShow("core-rtr-1")
	if d, _ := h.m.fleet.Current(); d.ID != "edge-rtr-2" {
		t.Fatalf("cursor on %s", d.ID)
	}
	h.keys("backspace")
	h.mustShow("Edge router 2")
	h.keys("esc")
	h.mustShow("Devices · ACME Networks [1/3] · 6")
	h.keys("/")
	h.typeText("core pop") // terms are ANDed
	h.mustShow("No device matches")
}

func TestHistoryPagesOnScroll(t *testing.T) {
	f := newFake()
	var recs []api.SnapshotRecord
	for i := 0; i < 120; i++ {
		recs = append(recs, api.SnapshotRecord{SnapshotID: fmt.Sprintf("S%03d", i), TenantID: "acme", DeviceID: "core-rtr-1",
			SHA256: hashOf(fmt.Sprint(i)), CollectedAt: fixedNow.Add(-time.Duration(i) * time.Hour), Trigger: api.TriggerScheduled})
	}
	f.history["acme/core-rtr-1"] = recs
	h := newHarness(t, f, 80, 24)
	h.selectDevice("core-rtr-1")
	h.keys("enter")
	h.mustShow("50+ snapshots")
	h.keys("G")
	h.mustShow("100+ snapshots")
	h.keys("G")
	h.mustShow("120 snapshots")
	h.keys("G")
	if h.m.hist.Len() != 120 {
		t.Fatalf("%d snapshots loaded, want 120 without duplicates", h.m.hist.Len())
	}
}

func TestLiveSnapshotUpdatesTheFleetRow(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	rec := api.SnapshotRecord{SnapshotID: "01LIVE", TenantID: "acme", DeviceID: "edge-rtr-2", SHA256: hashOf("live"),
		CollectedAt: fixedNow.Add(-2 * time.Second), Changed: true, PreviousHash: hashOf("old"), RouterOSVersion: "6.49.11"}
	f.emitSnapshot(rec)
	h.settle()
	l := h.line("Edge router 2")
	for _, want := range []string{"6.49.11", "2s ago", common.ShortHash(rec.SHA256), "yes"} {
		if !strings.Contains(l, want) {
			t.Fatalf("row %q does not show %q", l, want)
		}
	}
}

func TestDroppedNotificationsReloadTheFleet(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	for i := 0; i < maxBridgeEvents+10; i++ {
		f.emitSnapshot(api.SnapshotRecord{SnapshotID: fmt.Sprint(i), TenantID: "acme", DeviceID: "nope"})
	}
	f.mu.Lock()
	f.devices["acme"] = append(f.devices["acme"], api.Device{ID: "new-7", TenantID: "acme", Name: "new-7"})
	f.mu.Unlock()
	h.settle()
	h.mustShow("new-7")
	h.keys("L")
	h.mustShow("10 notifications dropped under load; reloading")
}

func TestForgetHostKey(t *testing.T) {
	t.Run("refused in remote mode", func(t *testing.T) {
		f := newFake()
		f.errs["ForgetHostKey"] = fmt.Errorf("remote mode: run 'cfgsnap hostkey forget acme/core-rtr-1' on the service host")
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", failedReply("core-rtr-1", api.KindHostKeyMismatch, hostKeyError))
		h.settle()
		h.keys("F")
		h.mustShow("Remote mode: the key is kept by the backup service")
		h.keys("y")
		h.mustShow("could not forget the host key of core-rtr-1: remote mode: run")
		h.mustShow("Host key mismatch") // the failure still shows
	})
	t.Run("cancelled", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		h.selectDevice("core-rtr-1")
		h.keys("F", "esc")
		if len(f.forgot) != 0 {
			t.Fatal("forgot a key without confirmation")
		}
	})
	t.Run("confirmed", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		h.selectDevice("core-rtr-1")
		h.keys("F", "y")
		if len(f.forgot) != 1 || f.forgot[0] != "acme/core-rtr-1" {
			t.Fatalf("forgot %v", f.forgot)
		}
	})
}

func TestSnapshotSearch(t *testing.T) {
	h := newHarness(t, newFake(), 80, 24)
	h.selectDevice("core-rtr-1")
	h.keys("enter", "v", "/")
	h.typeText("WWW")
	h.mustShow("no match") // an upper-case letter makes the search exact
	h.keys("esc", "/")
	h.typeText("www")
	h.keys("enter")
	h.mustShow("match 1 of 1", "36 set www disabled=yes")
	h.keys("N")
	h.mustShow("match 1 of 1")
	h.keys("esc") // clears the search
	h.mustShow("/ searches")
	h.keys("esc") // back to the history
	h.mustShow("History · ACME Networks / core-rtr-1")
}

func TestDiffRequiresTwoMarksOrNone(t *testing.T) {
	h := newHarness(t, newFake(), 80, 24)
	h.selectDevice("core-rtr-1")
	h.keys("enter", "G", "d")
	h.mustShow("first snapshot of core-rtr-1: nothing before it")
	h.keys("g", "space", "space", "space", "d")
	h.mustShow("mark exactly two snapshots to compare them (3 marked)")
}

func TestSnapshotContentIsFetchedOnce(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.selectDevice("core-rtr-1")
	h.keys("enter", "v", "esc", "v", "esc", "d")
	f.mu.Lock()
	calls := append([]string(nil), f.snapCalls...)
	f.mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("Snapshot called %d times (%v); want once per hash", len(calls), calls)
	}
}

func TestTinyWindow(t *testing.T) {
	h := newHarness(t, newFake(), 30, 8)
	if got := h.view(); !strings.Contains(got, "too small") || strings.Contains(got, "\n") {
		t.Fatalf("tiny window frame = %q", got)
	}
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.checkFrame(h.view())
}

func TestEveryScreenFitsEverySize(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {99, 30}, {100, 24}, {133, 41}, {200, 50}, {60, 16}} {
		f := newFake()
		h := newHarness(t, f, sz[0], sz[1])
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", failedReply("core-rtr-1", api.KindHostKeyMismatch, hostKeyError))
		h.settle()
		h.checkFrame(h.view())
		for _, keys := range [][]string{{"?"}, {"esc", "t"}, {"esc", "L"}, {"L", "enter"}, {"d"}, {"esc", "v"}, {"/"}, {"esc", "esc", "esc", "B"}} {
			h.keys(keys...)
			h.checkFrame(h.view())
		}
	}
}

func manyDevices(tenant string, n int) []api.Device {
	devs := make([]api.Device, n)
	for i := range devs {
		id := fmt.Sprintf("dev-%05d", i)
		devs[i] = api.Device{ID: id, TenantID: tenant, Name: id, Host: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Port: 22,
			Tags: []string{"pop" + fmt.Sprint(i%40)}}
		if i%3 != 0 {
			devs[i].LastBackup = &api.SnapshotRecord{SHA256: hashOf(id), CollectedAt: fixedNow.Add(-time.Duration(i) * time.Minute),
				RouterOSVersion: "7.16", Changed: i%7 == 0}
		}
	}
	return devs
}

func TestFinishedJobsLeaveThePanelButNotTheLog(t *testing.T) {
	f := newFake()
	now := fixedNow
	h := newHarness(t, f, 80, 24, func(o *Options) { o.Now = func() time.Time { return now } })
	backupOne(h, "core-rtr-1")
	f.finish(t, "acme/core-rtr-1", successReply("core-rtr-1", true))
	h.settle()
	h.mustShow("Jobs · 1 done")
	now = now.Add(11 * time.Minute)
	h.send(tickMsg{gen: h.m.tickGen})
	h.mustNotShow("Jobs ·")
	h.keys("L")
	h.mustShow("backup of acme/core-rtr-1: changed")
}

func TestTenantPaneFocus(t *testing.T) {
	h := newHarness(t, newFake(), 120, 30)
	h.keys("tab", "down")
	if h.m.fleet.CurrentTenant() != "globex" {
		t.Fatalf("j in the tenant pane selected %s", h.m.fleet.CurrentTenant())
	}
	h.mustShow("gx-core")
	h.keys("enter")
	if h.m.fleet.FocusTenants() {
		t.Fatal("enter did not move the focus to the devices")
	}
	h.keys("tab")
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	if h.m.fleet.FocusTenants() {
		t.Fatal("the focus stayed on a tenant pane that is no longer drawn")
	}
	h.keys("down")
	if d, _ := h.m.fleet.Current(); d.ID != "gx-edge" {
		t.Fatalf("down moved to %s, want gx-edge", d.ID)
	}
}

func TestMarkAllShownAndTenantPicker(t *testing.T) {
	h := newHarness(t, newFake(), 80, 24)
	h.keys("/")
	h.typeText("rtr")
	h.keys("enter", "A")
	h.mustShow("2 marked")
	h.keys("A")
	h.mustNotShow("2 marked")
	h.keys("t")
	h.typeText("glo")
	h.mustShow("Globex Corp")
	h.mustNotShow("Initech")
	h.keys("enter")
	if h.m.fleet.CurrentTenant() != "globex" {
		t.Fatalf("picked %s", h.m.fleet.CurrentTenant())
	}
	h.mustShow("gx-core", "Globex Corp [2/3]")
}

func TestFailedReloadKeepsTheListAndSaysSo(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	f.mu.Lock()
	f.errs["Devices"] = errNoResponders
	f.mu.Unlock()
	h.keys("r")
	h.mustShow("core-rtr-1", "✗ reload failed")
	h.keys("L")
	h.mustShow("loading devices of acme: nats: no responders")
}

// p in the history pins the selected snapshot (retention never removes
// it) and shows the mark; p again unpins it; both are logged.
func TestHistoryPinTogglesAndShowsTheMark(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 120, 30)
	h.selectDevice("core-rtr-1")
	h.keys("enter", "down", "p")
	h.settle()
	f.mu.Lock()
	calls := slices.Clone(f.pinCalls)
	want := f.history["acme/core-rtr-1"][1]
	f.mu.Unlock()
	if len(calls) != 1 || calls[0] != "acme/core-rtr-1@"+want.SnapshotID+" pinned=true" {
		t.Fatalf("pin calls %q, want one pin of the second snapshot %s", calls, want.SnapshotID)
	}
	row := lineWith(t, plain(h.view()), "26h ago")
	if !strings.HasPrefix(strings.TrimLeft(row, " ▸"), "*") {
		t.Errorf("pinned row has no mark: %q", row)
	}
	if !strings.Contains(plain(h.view()), "pinned pinned in the TUI by") {
		t.Errorf("detail does not say pinned:\n%s", plain(h.view()))
	}
	h.keys("p")
	h.settle()
	f.mu.Lock()
	calls = slices.Clone(f.pinCalls)
	f.mu.Unlock()
	if len(calls) != 2 || !strings.HasSuffix(calls[1], "pinned=false") {
		t.Fatalf("unpin: calls %q", calls)
	}
	if row := lineWith(t, plain(h.view()), "26h ago"); strings.HasPrefix(strings.TrimLeft(row, " ▸"), "*") {
		t.Errorf("unpinned row still marked: %q", row)
	}
}

// p pins the selected snapshot itself, not the newest with its hash (a
// configuration rolled back has the hash of the one before the change);
// against a service that predates snapshot-ID refs it pins by hash.
func TestHistoryPinsTheSelectedSnapshotNotItsHash(t *testing.T) {
	for _, old := range []bool{false, true} {
		f := newFake()
		f.mu.Lock()
		f.oldPins = old
		recs := f.history["acme/core-rtr-1"]
		recs[2].SHA256 = recs[0].SHA256 // rolled back to the configuration of the third
		f.mu.Unlock()
		h := newHarness(t, f, 120, 30)
		h.selectDevice("core-rtr-1")
		h.keys("enter", "down", "down", "p")
		h.settle()
		f.mu.Lock()
		calls := slices.Clone(f.pinCalls)
		pinned := []bool{recs[0].Pinned, recs[2].Pinned}
		f.mu.Unlock()
		if !old {
			if len(calls) != 1 || calls[0] != "acme/core-rtr-1@"+recs[2].SnapshotID+" pinned=true" || pinned[0] || !pinned[1] {
				t.Fatalf("pin calls %q, pinned newest/third %v: want the third snapshot pinned by its ID", calls, pinned)
			}
			continue
		}
		if len(calls) != 2 || calls[1] != "acme/core-rtr-1@"+recs[0].SHA256+" pinned=true" || !pinned[0] {
			t.Fatalf("old service: pin calls %q, pinned newest/third %v: want the ID refused, then a pin by hash", calls, pinned)
		}
	}
}

func lineWith(t *testing.T, screen, text string) string {
	t.Helper()
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, text) {
			return l
		}
	}
	t.Fatalf("no line with %q in:\n%s", text, screen)
	return ""
}

// A served session (ui.Options.NoShell) never starts ssh on the server's
// host: x says so instead.
func TestServedSessionHasNoShell(t *testing.T) {
	h := newHarness(t, newFake(), 120, 30, func(o *Options) { o.NoShell = true })
	h.selectDevice("core-rtr-1")
	_, cmd := h.m.Update(common.ShellMsg{Tenant: "acme", Device: api.Device{ID: "core-rtr-1", Host: "192.0.2.1", Port: 22}})
	if cmd != nil {
		t.Fatal("a served session returned a command for ssh")
	}
	h.keys("L")
	if !strings.Contains(plain(h.view()), "ssh to acme/core-rtr-1 refused: served session") {
		t.Errorf("the refusal is not logged:\n%s", plain(h.view()))
	}
}
