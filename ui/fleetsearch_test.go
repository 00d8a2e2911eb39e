package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/changes"
	"github.com/cfgsnap/cfgsnap/ui/search"
)

// withFleetConfigs gives every device that has a last backup (and globex's
// gx-core) a latest snapshot with content, wan-6 the one with secrets, and
// the fleet a list of changes that match the histories.
func withFleetConfigs(f *fakeClient) {
	for _, d := range f.devices["acme"] {
		k := "acme/" + d.ID
		if d.LastBackup == nil || len(f.history[k]) > 0 {
			continue
		}
		for v := 1; v <= 4; v++ {
			if c := routerConfig(d.ID, v); hashOf(c) == d.LastBackup.SHA256 {
				f.content[d.LastBackup.SHA256] = []byte(c)
				f.history[k] = []api.SnapshotRecord{*d.LastBackup}
			}
		}
	}
	gx := routerConfig("gx-core", 2)
	gxRec := api.SnapshotRecord{SnapshotID: "01SNAPGX", TenantID: "globex", DeviceID: "gx-core", SHA256: hashOf(gx),
		CollectedAt: fixedNow.Add(-30 * time.Minute), SizeBytes: int64(len(gx)), Changed: true, Trigger: api.TriggerScheduled,
		RequestedBy: "scheduler", RouterOSVersion: "7.16", NormalizationVersion: 1}
	f.content[gxRec.SHA256] = []byte(gx)
	f.history["globex/gx-core"] = []api.SnapshotRecord{gxRec}
	withSecrets(f)

	core := f.history["acme/core-rtr-1"] // newest first: v3, v2, v2, v1
	wan := f.history["acme/wan-6"]
	lab := f.history["acme/lab-5"][0]
	change := func(r api.SnapshotRecord, kind api.ChangeKind, added, removed int) api.Change {
		return api.Change{TenantID: r.TenantID, DeviceID: r.DeviceID, Kind: kind, SnapshotID: r.SnapshotID, SHA256: r.SHA256,
			PreviousHash: r.PreviousHash, CollectedAt: r.CollectedAt, Added: added, Removed: removed,
			Trigger: r.Trigger, RequestedBy: r.RequestedBy, Reason: r.Reason}
	}
	f.changes = []api.Change{
		change(core[0], api.ChangeChanged, 1, 1),
		change(wan[0], api.ChangeChanged, 2, 1),
		change(gxRec, api.ChangeNew, 0, 0),
		change(core[2], api.ChangeChanged, 1, 0),
		change(lab, api.ChangeNew, 0, 0),
		change(wan[1], api.ChangeNew, 0, 0),
	}
	f.changes[5].CollectedAt = fixedNow.Add(-10 * 24 * time.Hour) // wan-6 first seen outside a week
}

func fleetHarness(t *testing.T, w, h int) (*harness, *fakeClient) {
	f := newFake()
	withFleetConfigs(f)
	// A short pause: each typed key then runs its search, as when typing
	// slowly; TestSearchDebouncesFastTyping uses the real pause.
	return newHarness(t, f, w, h, func(o *Options) { o.SearchDebounce = time.Millisecond }), f
}

func TestFleetSearchScreens(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	fleet := func(t *testing.T, w, h int) *harness { hh, _ := fleetHarness(t, w, h); return hh }
	goldenScreens(t, fleet, []keyScreen{
		{name: "search_empty", w: 80, h: 24, keys: []string{"f"}, show: []string{"Fleet search", "Type a regular expression"}},
		{name: "search_results_120x30", w: 120, h: 30, keys: []string{"f"}, typed: "address=19",
			show: []string{"acme/core-rtr-1:", "globex/gx-core:", "/ip address"}},
		{name: "search_no_match", w: 120, h: 30, keys: []string{"f"}, typed: "vlan-id=4094",
			show: []string{"no match in 6 devices", "No line matches vlan-id=4094"}},
		{name: "search_80x24", w: 80, h: 24, keys: []string{"f"}, typed: "disabled=", then: []string{"tab", "j", "j"}},
		{name: "changes_120x30", w: 120, h: 30, keys: []string{"C"}},
		{name: "changes_80x24_week", w: 80, h: 24, keys: []string{"C", "+", "j"}},
		{name: "snapshot_at_line", w: 80, h: 24, keys: []string{"f"}, typed: "set name=", then: []string{"enter"}},
	})

	t.Run("search_bad_pattern", func(t *testing.T) {
		h, _ := fleetHarness(t, 80, 24)
		h.keys("f")
		h.typeText("add[")
		h.mustShow("The search failed.", "bad pattern", "regular expression (RE2)")
	})

	t.Run("changes_empty", func(t *testing.T) {
		h, f := fleetHarness(t, 120, 30)
		f.changes = nil
		h.keys("C")
		h.mustShow("No configuration changed in the last 24h.")
		h.golden()
	})
}

// matchesOf is the patterns' results shown, as TENANT/DEVICE:LINE.
func matchesOf(h *harness) []string {
	var out []string
	for _, mt := range h.m.srch.Matches() {
		out = append(out, search.Location(mt))
	}
	return out
}

func TestSearchAppliesOnlyTheLatestReply(t *testing.T) {
	h, f := fleetHarness(t, 120, 30)
	// The search of "ntp" is slow and its reply comes last: it must not
	// replace the results of "ntp c" typed after it.
	f.searchGates["ntp"] = newGate()
	h.keys("f")
	h.typeText("ntp")
	h.mustShow("searching")
	h.typeText(" c")
	latest := strings.Join(matchesOf(h), ",")
	if !strings.Contains(latest, "core-rtr-1") {
		t.Fatalf("results of %q not shown: %s", "ntp c", latest)
	}
	f.searchGates["ntp"].release()
	h.settle()
	if got := strings.Join(matchesOf(h), ","); got != latest {
		t.Fatalf("the late reply to %q replaced the results of %q:\n got %s\nwant %s", "ntp", "ntp c", got, latest)
	}
	h.mustShow(`/ntp c█`)
	h.mustNotShow("searching")
	// The superseded request was cancelled, not just ignored.
	f.mu.Lock()
	ctxErr := f.searchCtx["ntp"]
	f.mu.Unlock()
	if !errors.Is(ctxErr, context.Canceled) {
		t.Fatalf("the superseded search's context: %v, want cancelled", ctxErr)
	}
	// Every "ntp c" line is the NTP menu's (pattern and case kept).
	for _, mt := range h.m.srch.Matches() {
		if !strings.Contains(strings.ToLower(mt.Text+mt.Menu), "ntp c") {
			t.Fatalf("match %+v does not match %q", mt, "ntp c")
		}
	}
}

func TestSearchDebouncesFastTyping(t *testing.T) {
	f := newFake()
	withFleetConfigs(f)
	h := newHarness(t, f, 120, 30) // the real pause
	h.keys("f")
	start := time.Now()
	for _, r := range "servers" {
		h.deliver(keyPress(string(r))) // faster than the pause
	}
	h.settle()
	if time.Since(start) < search.Debounce {
		t.Fatalf("the search ran before the %v pause", search.Debounce)
	}
	f.mu.Lock()
	var pats []string
	for _, r := range f.searchReqs {
		pats = append(pats, r.Pattern)
		if r.Secrets || r.Max != search.Max || !r.IgnoreCase {
			t.Errorf("request %+v: want no secrets, max %d, ignoring case by default", r, search.Max)
		}
	}
	f.mu.Unlock()
	if strings.Join(pats, ",") != "servers" {
		t.Fatalf("fast typing sent %q, want one search of the whole pattern", pats)
	}
	if n := len(h.m.srch.Matches()); n != 5 {
		t.Fatalf("%d matches of servers, want one per device with DNS servers (5)", n)
	}
	// ctrl+t searches again at once, with case.
	h.keys("ctrl+t")
	h.mustShow("case-sensitive")
	f.mu.Lock()
	last := f.searchReqs[len(f.searchReqs)-1]
	f.mu.Unlock()
	if last.IgnoreCase || last.Pattern != "servers" {
		t.Fatalf("after ctrl+t the search was %+v", last)
	}
}

func TestSearchNeverShowsOrMatchesSecrets(t *testing.T) {
	h, _ := fleetHarness(t, 120, 30)
	h.keys("f")
	h.typeText("alice")
	h.mustShow("acme/wan-6:", "password=<redacted>")
	h.mustNotShow(secretValues...)
	h.keys("ctrl+u")
	h.typeText(pppNew)
	h.mustShow("No line matches")
}

func TestSearchEnterOpensTheSnapshotAtTheLine(t *testing.T) {
	h, f := fleetHarness(t, 120, 30)
	h.keys("f")
	h.typeText("servers=")
	ms := h.m.srch.Matches()
	if len(ms) < 3 {
		t.Fatalf("want matches on several devices, got %+v", ms)
	}
	h.keys("down", "down", "enter") // the third: acme/edge-rtr-2
	want := ms[2]
	if h.m.screen() != screenSnapshot {
		t.Fatal("enter did not open the snapshot")
	}
	if at, top := h.m.snap.At(); at != want.Line || top > want.Line {
		t.Fatalf("opened at line %d (top %d), want line %d in view", at, top, want.Line)
	}
	h.mustShow("Snapshot · "+want.DeviceID, fmt.Sprintf("▸%d set servers=192.0.2.53", want.Line))
	f.mu.Lock()
	got := f.snapCalls[len(f.snapCalls)-1]
	f.mu.Unlock()
	if got != want.SHA256 {
		t.Fatalf("fetched snapshot %s, want the one searched (%s)", got, want.SHA256)
	}
	// Back in the search, the results and the cursor are kept and the
	// list has the keyboard: j moves, / edits again.
	h.keys("esc")
	if h.m.screen() != screenSearch || h.m.srch.Editing() {
		t.Fatal("esc did not return to the search's list")
	}
	h.keys("k", "enter")
	if at, _ := h.m.snap.At(); at != ms[1].Line || !h.m.snap.Shows(ms[1].TenantID, ms[1].DeviceID) {
		t.Fatalf("k then enter opened %d, want %s", at, search.Location(ms[1]))
	}
	// Leaving keeps the pattern for the next time.
	h.keys("esc", "esc")
	if h.m.screen() != screenFleet {
		t.Fatal("esc esc did not return to the fleet")
	}
	h.keys("f")
	h.mustShow("/servers=█")
	if len(h.m.srch.Matches()) != len(ms) {
		t.Fatal("reopening did not search the kept pattern again")
	}
}

func TestChangesEnterOpensTheDiffOrTheNewDevice(t *testing.T) {
	h, f := fleetHarness(t, 120, 30)
	h.keys("C")
	cs := h.m.chg.Changes()
	var order []string
	for _, c := range cs {
		order = append(order, c.DeviceID+":"+changes.ChangeText(c))
	}
	if got := strings.Join(order, ","); got != "core-rtr-1:+1 −1,gx-core:new device,wan-6:+2 −1" {
		t.Fatalf("24h changes %s, want newest first", got)
	}
	f.mu.Lock()
	since := f.changesReqs[0].Since
	f.mu.Unlock()
	if !since.Equal(fixedNow.Add(-24 * time.Hour)) {
		t.Fatalf("asked since %v, want 24h before now", since)
	}
	h.keys("enter")
	if h.m.screen() != screenDiff {
		t.Fatal("enter on a change did not open the diff")
	}
	h.mustShow("Diff · core-rtr-1", "+1 −1", "set www disabled=yes")
	h.keys("esc", "down", "enter") // gx-core is new: its snapshot
	if h.m.screen() != screenSnapshot || !h.m.snap.Shows("globex", "gx-core") {
		t.Fatal("enter on a new device did not open its snapshot")
	}
	h.mustShow("Snapshot · gx-core")
	h.keys("esc", "down", "enter") // wan-6's secret-only change: redacted diff
	h.mustShow("Diff · wan-6", "password=<redacted:changed>")
	h.mustNotShow(secretValues...)
	// + widens to a week; - back to a day; the screen reopens with the last.
	h.keys("esc", "+")
	h.mustShow("last 7d", "3 changes · 2 new devices")
	h.keys("+", "+") // 30d, then stays
	h.mustShow("last 30d", "3 new devices")
	h.keys("-", "-", "-", "-")
	h.mustShow("last 1h", "2 changes · 1 new device")
	h.keys("esc", "C")
	h.mustShow("last 1h")
}

func TestSearchBeforeAnySnapshotSaysSo(t *testing.T) {
	f := newFake()
	f.history = map[string][]api.SnapshotRecord{}
	h := newHarness(t, f, 80, 24, func(o *Options) { o.SearchDebounce = time.Millisecond })
	h.keys("f")
	h.typeText("address")
	h.mustShow("No device has a snapshot to search yet.")
}

func TestFleetQueriesFailVisibly(t *testing.T) {
	h, f := fleetHarness(t, 80, 24)
	f.errs["Changes"] = errNoResponders
	f.errs["Search"] = errNoResponders
	h.keys("C")
	h.mustShow("Could not list the changes.", "no responders")
	h.keys("esc", "f")
	h.typeText("x")
	h.mustShow("The search failed.", "no responders")
}
