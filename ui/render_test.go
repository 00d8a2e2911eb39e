package ui

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/detail"
	"github.com/cfgsnap/cfgsnap/ui/fleet"
	"github.com/cfgsnap/cfgsnap/ui/history"
)

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-5 * time.Second: "now", 0: "now", 59 * time.Second: "59s ago", 3 * time.Minute: "3m ago",
		47 * time.Hour: "47h ago", 3 * 24 * time.Hour: "3d ago", 20 * 24 * time.Hour: "2w ago",
		400 * 24 * time.Hour: "1y ago",
	} {
		if got := common.Ago(fixedNow, fixedNow.Add(-d)); got != want || len([]rune(got)) > 7 {
			t.Errorf("ago(%v) = %q, want %q in at most 7 cells", d, got, want)
		}
	}
	if got := common.Ago(fixedNow, time.Time{}); got != "never" {
		t.Errorf("ago(zero) = %q", got)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 18642: "18 KiB", 5 << 20: "5.0 MiB", -1: "?"} {
		if got := common.HumanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFingerprints(t *testing.T) {
	const a, b = "SHA256:pR0bEn3wK3yF1ng3rPr1ntAAAAAAAAAAAAAAAAAAAAA", "SHA256:Hq3wN0tR3aLkEyBuTwElLf0rMeD4nD0nLyT3sTsAAAA"
	for name, tc := range map[string]struct {
		msg       string
		presented string
		recorded  []string
	}{
		"known_hosts": {hostKeyError, a, []string{b}},
		"inventory pin": {"host key mismatch for r1 (h:22): the device presented ssh-ed25519 " + a +
			", but the inventory pins host_key " + b + ". Either…", a, []string{b}},
		"recorded first": {"recorded " + b + " but the device presented " + a, a, []string{b}},
		"no labels":      {"mismatch: " + a + " vs " + b, a, []string{b}},
		"none":           {"host key changed", "", nil},
	} {
		t.Run(name, func(t *testing.T) {
			p, r := detail.Fingerprints(tc.msg)
			if p != tc.presented || fmt.Sprint(r) != fmt.Sprint(tc.recorded) {
				t.Fatalf("fingerprints = %q, %q; want %q, %q", p, r, tc.presented, tc.recorded)
			}
		})
	}
}

func TestCleanRemovesControls(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"a\x1b[2Jb":            "a\uFFFD[2Jb",
		"tab\there":            "tab here",
		"c1\u009b31m":          "c1\uFFFD31m",
		"bad\xffutf8":          "bad\uFFFDutf8",
		"ünïcode ok":           "ünïcode ok",
		"bell\x07 and del\x7f": "bell\uFFFD and del\uFFFD",
	} {
		if got := common.Clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := common.CleanLine("\tadd x"); got != "    add x" {
		t.Errorf("cleanLine kept no indentation: %q", got)
	}
}

func TestTablesFitTheirWidth(t *testing.T) {
	st := common.NewStyles(false, true)
	rec := api.SnapshotRecord{SHA256: strings.Repeat("f", 64), CollectedAt: fixedNow, SizeBytes: 123456,
		Trigger: api.TriggerScheduled, RequestedBy: strings.Repeat("u", 50), Reason: strings.Repeat("r", 90)}
	for w := 50; w <= 260; w++ {
		hc := history.Columns(w)
		if got := ansi.StringWidth(history.RenderRow(rec, fixedNow, time.UTC, hc, true, true, false, &st)); got > w {
			t.Fatalf("history row is %d cells at width %d", got, w)
		}
	}
}

func TestBridgeCoalescesProgressPerJob(t *testing.T) {
	b := newBridge()
	for i := 0; i < 1000; i++ {
		b.PushProgress(1, api.ProgressEvent{ElapsedMS: int64(i)})
		if i%100 == 0 {
			b.PushProgress(2, api.ProgressEvent{ElapsedMS: int64(i)})
		}
	}
	b.Push(fleet.SnapshotMsg{Tenant: "acme"})
	m, ok := b.take()
	if !ok || len(m.progress) != 2 || len(m.events) != 1 {
		t.Fatalf("take = %d progress, %d events; want 2 and 1", len(m.progress), len(m.events))
	}
	if m.progress[0].job != 1 || m.progress[0].ev.ElapsedMS != 999 || m.progress[1].ev.ElapsedMS != 900 {
		t.Fatalf("not the latest event per job: %+v", m.progress)
	}
	// Stages that were coalesced away still say when they began.
	b.PushProgress(3, api.ProgressEvent{Stage: api.StageQueued, ElapsedMS: 1})
	b.PushProgress(3, api.ProgressEvent{Stage: api.StageConnecting, ElapsedMS: 20})
	b.PushProgress(3, api.ProgressEvent{Stage: api.StageConnecting, ElapsedMS: 25})
	b.PushProgress(3, api.ProgressEvent{Stage: api.StageExporting, ElapsedMS: 90})
	m, _ = b.take()
	p := m.progress[0]
	if p.ev.Stage != api.StageExporting || p.reached[api.StageQueued] != 1 || p.reached[api.StageConnecting] != 20 || p.reached[api.StageExporting] != 90 {
		t.Fatalf("latest %s, stages began %v", p.ev.Stage, p.reached)
	}
	if _, ok := b.take(); ok {
		t.Fatal("take returned the same events twice")
	}
}

func TestBridgeCallbacksNeverBlock(t *testing.T) {
	// Nobody reads the bridge: a client pushing progress and snapshots from
	// many goroutines must still return at once.
	b := newBridge()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5000; i++ {
					b.PushProgress(g, api.ProgressEvent{ElapsedMS: int64(i)})
					b.Push(fleet.SnapshotMsg{})
				}
			}()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("callbacks blocked on a bridge nobody reads")
	}
	m, _ := b.take()
	if len(m.events) != maxBridgeEvents || m.dropped != 8*5000-maxBridgeEvents || len(m.progress) != 8 {
		t.Fatalf("kept %d events, dropped %d, %d jobs", len(m.events), m.dropped, len(m.progress))
	}
}
