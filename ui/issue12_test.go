package ui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Secrets and long lines: a WireGuard key, a PPP password that changes
// alone between the two snapshots, an SNMP community and a firewall rule
// far wider than 80 columns.
const (
	wgKey    = "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg="
	pppOld   = "hunter2old"
	pppNew   = "hunter2new"
	snmpComm = "c0mmun1ty"
)

func secretConfig(variant int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# 2026-11-28 10:00:00 by RouterOS 7.16\n")
	fmt.Fprintf(&b, "/interface wireguard\nadd listen-port=13231 mtu=1420 name=wg0 private-key=\"%s\"\n", wgKey)
	fmt.Fprintf(&b, "/ip address\nadd address=192.0.2.6/24 interface=ether1 network=192.0.2.0\n")
	fmt.Fprintf(&b, "/ip firewall filter\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "add action=accept chain=input comment=\"rule %d: management access from the NOC jump hosts and the monitoring network\" dst-port=%d protocol=tcp src-address-list=noc-%d\n", i, 8000+i, i)
		if variant >= 2 && i == 3 {
			fmt.Fprintf(&b, "add action=drop chain=input comment=\"block the old monitoring\" src-address=198.51.100.7\n")
		}
	}
	fmt.Fprintf(&b, "/ip service\nset telnet disabled=yes\nset ftp disabled=yes\nset www disabled=yes\nset api disabled=yes\n")
	pw := pppOld
	if variant >= 2 {
		pw = pppNew
	}
	fmt.Fprintf(&b, "/ppp secret\nadd name=alice password=%s service=pppoe\nadd name=bob password=same service=pppoe\n", pw)
	fmt.Fprintf(&b, "/snmp community\nset [ find default=yes ] addresses=192.0.2.0/24 name=%s\n", snmpComm)
	fmt.Fprintf(&b, "/system identity\nset name=wan-6\n")
	return b.String()
}

// withSecrets gives wan-6 a history of two snapshots with secrets.
func withSecrets(f *fakeClient) {
	var hist []api.SnapshotRecord
	prev := ""
	for i, v := range []int{1, 2} {
		content := secretConfig(v)
		h := hashOf(content)
		f.content[h] = []byte(content)
		hist = append([]api.SnapshotRecord{{SnapshotID: fmt.Sprintf("01SNAPW%d", i), TenantID: "acme", DeviceID: "wan-6",
			SHA256: h, CollectedAt: fixedNow.Add(-time.Duration(2-i) * time.Hour), SizeBytes: int64(len(content)),
			Changed: true, PreviousHash: prev, Trigger: api.TriggerManual, RequestedBy: "ops@jump1", RouterOSVersion: "7.16",
			NormalizationVersion: 1, DurationMS: 400}}, hist...)
		prev = h
	}
	f.history["acme/wan-6"] = hist
}

func secretHarness(t *testing.T, w, h int) *harness {
	f := newFake()
	withSecrets(f)
	hh := newHarness(t, f, w, h)
	hh.selectDevice("wan-6")
	return hh
}

var secretValues = []string{wgKey, pppOld, pppNew, snmpComm}

func TestIssue12Screens(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	goldenScreens(t, secretHarness, []keyScreen{
		{name: "diff_redacted", w: 80, h: 24, keys: []string{"enter", "d"},
			show: []string{"@@ ", "/ip firewall filter", "password=<redacted:changed>", "secrets hidden"}, hide: secretValues},
		{name: "diff_sticky_heading", w: 80, h: 24, keys: []string{"enter", "d", "]", "]"}, show: []string{"▸ /ppp secret"}},
		{name: "diff_wrapped_200x50", w: 200, h: 50, keys: []string{"enter", "d", "W"}},
		{name: "reveal_confirm", w: 80, h: 24, keys: []string{"enter", "d", "R"}},
		{name: "snapshot_redacted_120x40", w: 120, h: 40, keys: []string{"enter", "v"},
			show: []string{`private-key=<redacted>`, "name=<redacted>"}, hide: secretValues},
		{name: "snapshot_wrapped", w: 80, h: 24, keys: []string{"enter", "v", "W"}, show: []string{"↪", "ess-list=noc-1"}},
		// Twenty steps right is past the end: it stops where the longest line ends.
		{name: "snapshot_scrolled_right", w: 80, h: 24, keys: []string{"enter", "v"}, then: slices.Repeat([]string{"l"}, 20),
			show: []string{"src-address-list=noc-1"}},
	})
	goldenScreens(t, stockHarness, []keyScreen{
		{name: "triage_80x24", w: 80, h: 24, keys: []string{"T"}},
		{name: "triage_200x50", w: 200, h: 50, keys: []string{"T"}},
		{name: "reason_prompt", w: 80, h: 24, device: "core-rtr-1", keys: []string{"c"}, typed: "CHG-1042 pre-change"},
	})
}

func TestSectionKeysJumpBetweenMenus(t *testing.T) {
	h := secretHarness(t, 80, 24)
	h.keys("enter", "d")
	d := h.m.diff
	var want []string
	res := d.Result()
	for _, at := range res.Sections {
		want = append(want, res.Lines[at].Menu)
	}
	if strings.Join(want, ",") != "/ip firewall filter,/ppp secret" {
		t.Fatalf("changed sections %q, want the firewall and the ppp secrets", want)
	}
	h.keys("]")
	if got := d.Heading(); got != "/ip firewall filter" {
		t.Fatalf("after ] the heading is %q", got)
	}
	h.keys("]")
	if got := d.Heading(); got != "/ppp secret" {
		t.Fatalf("after ]] the heading is %q", got)
	}
	off := d.Top()
	h.keys("]") // no further section: stays
	if d.Top() != off {
		t.Fatalf("] past the last section moved from %d to %d", off, d.Top())
	}
	h.keys("[")
	if got := d.Heading(); got != "/ip firewall filter" {
		t.Fatalf("after [ the heading is %q", got)
	}
	h.mustShow("▸ /ip firewall filter")
}

func TestRevealNeedsConfirmationIsLoggedAndEndsWithTheScreen(t *testing.T) {
	for _, viewer := range []string{"d", "v"} {
		t.Run(viewer, func(t *testing.T) {
			h := secretHarness(t, 120, 40)
			h.keys("enter", viewer, "R")
			h.mustShow("Reveal secrets of wan-6?")
			h.keys("n") // declined: still hidden
			h.mustNotShow(secretValues...)
			h.keys("R", "y")
			h.mustShow(pppNew, "SECRETS SHOWN")
			logged := false
			for _, e := range h.m.logv.Entries() {
				if strings.Contains(e.Text, "secrets revealed for acme/wan-6 by ops@jump1") {
					logged = true
				}
				for _, s := range secretValues {
					if strings.Contains(e.Text, s) {
						t.Fatalf("log entry holds a secret: %q", e.Text)
					}
				}
			}
			if !logged {
				t.Fatalf("reveal not logged: %+v", h.m.logv.Entries())
			}
			// Leaving and coming back hides them again.
			h.keys("esc", viewer)
			h.mustNotShow(secretValues...)
			// R on a revealed view hides at once, without asking.
			h.keys("R", "y", "R")
			h.mustNotShow(secretValues...)
		})
	}
}

func TestReasonIsSentAndRemembered(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	h.selectDevice("core-rtr-1")
	h.keys("c")
	h.typeText("CHG-1042")
	h.keys("enter")
	f.finish(t, "acme/core-rtr-1", successReply("core-rtr-1", true))
	h.settle()
	h.selectDevice("edge-rtr-2")
	h.keys("c")
	h.mustShow("> CHG-1042█") // the prompt starts with the last reason
	h.typeText(" post")
	h.keys("enter")
	f.finish(t, "acme/edge-rtr-2", successReply("edge-rtr-2", false))
	h.settle()
	// esc cancels: nothing is backed up.
	h.keys("c", "esc")
	h.keys("b")
	f.finish(t, "acme/edge-rtr-2", successReply("edge-rtr-2", false))
	h.settle()
	var got []string
	for _, o := range f.backupOpts {
		got = append(got, o.Reason)
	}
	if strings.Join(got, "|") != "CHG-1042|CHG-1042 post|" {
		t.Fatalf("reasons sent %q, want CHG-1042, then CHG-1042 post, then none for b", got)
	}
}

func TestDiffOfTheLastChangeIsOneKeyFromTheResult(t *testing.T) {
	f := newFake()
	h := newHarness(t, f, 80, 24)
	backupOne(h, "core-rtr-1")
	reply := successReply("core-rtr-1", true)
	f.content[reply.SHA256] = []byte(routerConfig("core-rtr-1", 4))
	f.history["acme/core-rtr-1"] = append([]api.SnapshotRecord{{TenantID: "acme", DeviceID: "core-rtr-1", SHA256: reply.SHA256,
		CollectedAt: fixedNow, Changed: true, PreviousHash: reply.PreviousHash}}, f.history["acme/core-rtr-1"]...)
	f.finish(t, "acme/core-rtr-1", reply)
	h.settle()
	h.mustShow("d shows what changed")
	h.keys("d")
	if h.m.screen() != screenDiff {
		t.Fatal("d on a changed result did not open the diff")
	}
	h.mustShow("Diff · core-rtr-1", "+2 −0", "/system ntp client")
	h.keys("esc")
	h.selectDevice("pop1-sw-3") // never backed up
	h.keys("d")
	if h.m.screen() != screenFleet {
		t.Fatal("d without a backup left the fleet")
	}
	h.mustShow("nothing to compare")
}

func TestTriageSortsByFailureThenOldestSuccess(t *testing.T) {
	f := newFake()
	f.devices["acme"] = append(f.devices["acme"], api.Device{ID: "dc-7", TenantID: "acme", Name: "dc-7", Host: "192.0.2.7",
		LastBackup: &api.SnapshotRecord{SHA256: hashOf("x"), CollectedAt: fixedNow.Add(-30 * 24 * time.Hour)},
		LastError:  &api.DeviceError{Kind: api.KindTimeout, At: fixedNow.Add(-time.Hour)}})
	h := newHarness(t, f, 120, 30, func(o *Options) { o.StaleAfter = 48 * time.Hour })
	h.keys("T")
	order := h.m.fleet.Shown()
	// auth_failed before timeout; stale (never, then 20 days, then 5
	// days but locked) ; healthy last, the oldest success first.
	want := "branch-4,dc-7,pop1-sw-3,wan-6,lab-5,edge-rtr-2,core-rtr-1"
	if got := strings.Join(order, ","); got != want {
		t.Fatalf("triage order %s, want %s", got, want)
	}
	h.mustShow("1 auth_failed · 1 timeout · 2 stale", "triage")
	h.keys("T")
	h.mustNotShow("auth_failed ·")
}

// The tables size their hash column by ShortHashLen; the helper is the
// backend's, so both must agree.
func TestShortHashIsTheBackendsAndFitsItsColumn(t *testing.T) {
	h := hashOf("x")
	if got := common.ShortHash(h); len(got) != common.ShortHashLen || got != store.Short(h) {
		t.Fatalf("ShortHash %q, want %d characters as store.Short gives", got, common.ShortHashLen)
	}
}
