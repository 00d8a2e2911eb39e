package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/retention"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Retention and pins (issue 9): the same on every store.
var retentionTests = []struct {
	name string
	f    func(*testing.T, Backend)
}{
	{"PinsShowInHistoryAndFind", testPins},
	{"PruneKeepsPinnedAndNewest", testPruneKeepsPinnedAndNewest},
	{"PruneKeepsSharedContent", testPruneKeepsSharedContent},
	{"PruneScopeAndEmptyPolicy", testPruneScopeAndEmptyPolicy},
	{"PruneDryRunRemovesNothing", testPruneDryRun},
	{"RemoveRecordsSparesLatestAndPinned", testRemoveRecordsSparesLatestAndPinned},
	{"CrashBetweenRecordsAndContent", testCrashBetweenRecordsAndContent},
}

func retainer(t *testing.T, b Backend) store.Retainer {
	t.Helper()
	r, ok := b.Open(t).(store.Retainer)
	if !ok {
		t.Fatal("the store does not implement store.Retainer")
	}
	return r
}

// recordAt stores content for tenant/device as collected at.
func recordAt(t testing.TB, s store.Store, tenant, device, content string, at time.Time) api.SnapshotRecord {
	t.Helper()
	rec, err := s.Record(context.Background(), api.SnapshotRecord{
		TenantID: tenant, DeviceID: device, Trigger: api.TriggerScheduled, RequestedBy: "scheduler", CollectedAt: at,
	}, []byte(content))
	if err != nil {
		t.Fatalf("Record %s/%s: %v", tenant, device, err)
	}
	return rec
}

// hourly records n snapshots an hour apart ending an hour ago, each with
// its own content, oldest first.
func hourly(t testing.TB, s store.Store, tenant, device string, n int) []api.SnapshotRecord {
	start := time.Now().Add(-time.Duration(n) * time.Hour)
	var out []api.SnapshotRecord
	for i := range n {
		out = append(out, recordAt(t, s, tenant, device, fmt.Sprintf("/system identity\nset name=%s-%d\n", device, i), start.Add(time.Duration(i)*time.Hour)))
	}
	return out
}

// intact checks that every record of the device has its content.
func intact(t *testing.T, s store.Store, tenant, device string) []api.SnapshotRecord {
	t.Helper()
	recs := all(t, s, tenant, device)
	for _, r := range recs {
		if _, err := s.Content(context.Background(), r.SHA256); err != nil {
			t.Fatalf("record %s of %s/%s points at missing content %s: %v", r.SnapshotID, tenant, device, r.SHA256, err)
		}
	}
	return recs
}

func ids(recs []api.SnapshotRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.SnapshotID)
	}
	return out
}

func prune(t *testing.T, r store.Retainer, opts store.PruneOptions) store.PruneStats {
	t.Helper()
	st, err := store.Prune(context.Background(), r, opts, nil)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	return st
}

func testPins(t *testing.T, b Backend) {
	ctx := context.Background()
	s := retainer(t, b)
	recs := hourly(t, s, "acme", "r1", 3)
	got, err := s.SetPin(ctx, "acme", "r1", recs[1].SnapshotID, true, "before change CHG-42")
	if err != nil || !got.Pinned || got.PinNote != "before change CHG-42" || got.SHA256 != recs[1].SHA256 {
		t.Fatalf("SetPin = %+v, %v", got, err)
	}
	h := all(t, s, "acme", "r1")
	for i, r := range h {
		if r.Pinned != (i == 1) || (i == 1) != (r.PinNote != "") {
			t.Fatalf("history[%d] pinned=%v note=%q", i, r.Pinned, r.PinNote)
		}
	}
	f, err := s.Find(ctx, "acme", "r1", recs[1].SHA256[:12])
	if err != nil || !f.Pinned || f.PinNote != "before change CHG-42" {
		t.Fatalf("Find = %+v, %v", f, err)
	}
	// Pinning again replaces the note; unpinning drops pin and note.
	if got, err = s.SetPin(ctx, "acme", "r1", recs[1].SnapshotID, true, "audit"); err != nil || got.PinNote != "audit" {
		t.Fatalf("re-pin = %+v, %v", got, err)
	}
	if got, err = s.SetPin(ctx, "acme", "r1", recs[1].SnapshotID, false, ""); err != nil || got.Pinned || got.PinNote != "" {
		t.Fatalf("unpin = %+v, %v", got, err)
	}
	for _, r := range all(t, s, "acme", "r1") {
		if r.Pinned {
			t.Fatalf("%s still pinned", r.SnapshotID)
		}
	}
	// A pin given to Record is ignored: pins are set with SetPin only.
	rec, err := s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "r1", Pinned: true, PinNote: "x"}, []byte("new"))
	if err != nil || rec.Pinned || all(t, s, "acme", "r1")[3].Pinned {
		t.Fatalf("Record with Pinned set: %+v, %v", rec, err)
	}
	for _, bad := range [][2]string{{"r1", "01J0000000000000000000000Z"}, {"nope", recs[0].SnapshotID}, {"r1", ""}} {
		if _, err := s.SetPin(ctx, "acme", bad[0], bad[1], true, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetPin(%s, %q) = %v, want ErrNotFound", bad[0], bad[1], err)
		}
	}
}

func testPruneKeepsPinnedAndNewest(t *testing.T, b Backend) {
	ctx := context.Background()
	s := retainer(t, b)
	recs := hourly(t, s, "acme", "r1", 6)
	if _, err := s.SetPin(ctx, "acme", "r1", recs[0].SnapshotID, true, "evidence"); err != nil {
		t.Fatal(err)
	}
	before := b.Contents(t, s)
	var seen []store.DevicePrune
	st, err := store.Prune(ctx, s, store.PruneOptions{Retention: retention.Config{Default: retention.Policy{Last: 2}}},
		func(dp store.DevicePrune) error { seen = append(seen, dp); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Devices != 1 || st.Kept != 3 || st.Removed != 3 || st.Content.Contents != 3 {
		t.Fatalf("Prune stats %+v, want 1 device, 3 kept, 3 removed, 3 contents", st)
	}
	if len(seen) != 1 || len(seen[0].Decisions) != 6 || seen[0].Decisions[0].SnapshotID != recs[5].SnapshotID {
		t.Fatalf("per-device outcome %+v", seen)
	}
	if d := seen[0].Decisions[5]; !d.Keep || !slices.Contains(d.Reasons, retention.ReasonPinned) {
		t.Fatalf("pinned snapshot: keep=%v reasons=%v", d.Keep, d.Reasons)
	}
	left := intact(t, s, "acme", "r1")
	if want := []string{recs[0].SnapshotID, recs[4].SnapshotID, recs[5].SnapshotID}; !slices.Equal(ids(left), want) {
		t.Fatalf("left %v, want %v", ids(left), want)
	}
	if after := b.Contents(t, s); after != before-3 {
		t.Fatalf("contents %d -> %d, want 3 fewer", before, after)
	}
	for _, r := range recs[1:4] {
		if _, err := s.Content(ctx, r.SHA256); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("content of removed %s: %v, want ErrNotFound", r.SnapshotID, err)
		}
	}
	// Pruning again changes nothing; the latest record still chains.
	if st := prune(t, s, store.PruneOptions{Retention: retention.Config{Default: retention.Policy{Last: 2}}}); st.Removed != 0 || st.Content.Contents != 0 {
		t.Fatalf("second prune %+v", st)
	}
	next := Record(t, s, "acme", "r1", "/system identity\nset name=r1-5\n")
	if next.Changed || next.PreviousHash != recs[5].SHA256 {
		t.Fatalf("record after prune: changed=%v previous=%s", next.Changed, next.PreviousHash)
	}
}

func testPruneKeepsSharedContent(t *testing.T, b Backend) {
	ctx := context.Background()
	s := retainer(t, b)
	t0 := time.Now().Add(-10 * time.Hour)
	// r1 goes A, B, A; r2 holds A too. Removing r1's first A and B leaves A
	// (used by r1's latest and by r2) and removes B alone.
	a1 := recordAt(t, s, "acme", "r1", "config A", t0)
	bb := recordAt(t, s, "acme", "r1", "config B", t0.Add(time.Hour))
	recordAt(t, s, "acme", "r1", "config A", t0.Add(2*time.Hour))
	recordAt(t, s, "other", "r2", "config A", t0)
	recordAt(t, s, "other", "r2", "config C", t0.Add(time.Hour))
	st := prune(t, s, store.PruneOptions{Retention: retention.Config{Default: retention.Policy{Last: 1}}})
	if st.Removed != 3 || st.Content.Contents != 1 {
		t.Fatalf("stats %+v, want 3 records and 1 content (B) removed", st)
	}
	if _, err := s.Content(ctx, a1.SHA256); err != nil {
		t.Fatalf("shared content A removed: %v", err)
	}
	if _, err := s.Content(ctx, bb.SHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("content B: %v, want ErrNotFound", err)
	}
	intact(t, s, "acme", "r1")
	intact(t, s, "other", "r2")
}

func testPruneScopeAndEmptyPolicy(t *testing.T, b Backend) {
	s := retainer(t, b)
	hourly(t, s, "acme", "r1", 4)
	hourly(t, s, "other", "r2", 4)
	hourly(t, s, "third", "r3", 4)
	if st := prune(t, s, store.PruneOptions{}); st.Devices != 0 || st.Removed != 0 {
		t.Fatalf("empty policy: %+v", st)
	}
	// The tenant option limits the prune.
	st := prune(t, s, store.PruneOptions{Tenant: "acme", Retention: retention.Config{Default: retention.Policy{Last: 1}}})
	if st.Devices != 1 || st.Removed != 3 || len(all(t, s, "other", "r2")) != 4 {
		t.Fatalf("tenant prune %+v", st)
	}
	// A tenant's policy replaces the default; an empty one spares it.
	cfg := retention.Config{Default: retention.Policy{Last: 3},
		Tenants: map[string]retention.Policy{"other": {Last: 2}, "third": {}}}
	prune(t, s, store.PruneOptions{Retention: cfg})
	if a, o, th := len(all(t, s, "acme", "r1")), len(all(t, s, "other", "r2")), len(all(t, s, "third", "r3")); a != 1 || o != 2 || th != 4 {
		t.Fatalf("after per-tenant prune: acme %d, other %d, third %d; want 1, 2, 4", a, o, th)
	}
}

func testPruneDryRun(t *testing.T, b Backend) {
	s := retainer(t, b)
	hourly(t, s, "acme", "r1", 5)
	before := b.Contents(t, s)
	st := prune(t, s, store.PruneOptions{DryRun: true, Retention: retention.Config{Default: retention.Policy{Last: 1}}})
	if st.Removed != 4 || st.Kept != 1 {
		t.Fatalf("dry run %+v, want 4 to remove, 1 kept", st)
	}
	if n := len(all(t, s, "acme", "r1")); n != 5 || b.Contents(t, s) != before {
		t.Fatalf("dry run removed something: %d records, %d contents", n, b.Contents(t, s))
	}
}

func testRemoveRecordsSparesLatestAndPinned(t *testing.T, b Backend) {
	ctx := context.Background()
	s := retainer(t, b)
	recs := hourly(t, s, "acme", "r1", 4)
	if _, err := s.SetPin(ctx, "acme", "r1", recs[1].SnapshotID, true, ""); err != nil {
		t.Fatal(err)
	}
	removed, err := s.RemoveRecords(ctx, "acme", "r1", append(ids(recs), "01J0000000000000000000000Z"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{recs[0].SnapshotID, recs[2].SnapshotID}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v (not the pinned, not the latest, not the unknown)", removed, want)
	}
	if l, err := s.Latest(ctx, "acme", "r1"); err != nil || l == nil || l.SnapshotID != recs[3].SnapshotID {
		t.Fatalf("Latest = %+v, %v", l, err)
	}
	if removed, err := s.RemoveRecords(ctx, "acme", "nope", ids(recs)); err != nil || len(removed) != 0 {
		t.Fatalf("RemoveRecords of an unknown device = %v, %v", removed, err)
	}
}

func testCrashBetweenRecordsAndContent(t *testing.T, b Backend) {
	ctx := context.Background()
	s := retainer(t, b)
	recs := hourly(t, s, "acme", "r1", 4)
	before := b.Contents(t, s)
	// The first step of a prune, then a "crash": the content stays behind.
	if _, err := s.RemoveRecords(ctx, "acme", "r1", ids(recs[:3])); err != nil {
		t.Fatal(err)
	}
	intact(t, s, "acme", "r1")
	if n := b.Contents(t, s); n != before {
		t.Fatalf("contents %d after removing records only, want %d", n, before)
	}
	// A new record of an orphan's content before any collection.
	again := Record(t, s, "acme", "r1", "/system identity\nset name=r1-0\n")
	// The next prune (here with nothing to remove) collects the orphans.
	st := prune(t, s, store.PruneOptions{Retention: retention.Config{Default: retention.Policy{Last: 10}}})
	if st.Removed != 0 || st.Content.Contents != 2 {
		t.Fatalf("next prune %+v, want 2 orphan contents removed", st)
	}
	intact(t, s, "acme", "r1")
	if _, err := s.Content(ctx, again.SHA256); err != nil {
		t.Fatalf("re-recorded content: %v", err)
	}
	// Content collected, then recorded again: stored anew.
	gone := recs[1].SHA256
	if _, err := s.Content(ctx, gone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("orphan %s: %v", gone, err)
	}
	back := Record(t, s, "acme", "r1", "/system identity\nset name=r1-1\n")
	if back.SHA256 != gone {
		t.Fatalf("hash %s, want %s", back.SHA256, gone)
	}
	intact(t, s, "acme", "r1")
}
