package lock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

const key = "acme/core-rtr-1"

// newLocker returns a locker on a fresh store in dir ("" for a new temp dir),
// the way the service and the CLI share the store's database.
func newLocker(t testing.TB, dir string) *SQLiteLocker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err := NewSQLite(context.Background(), s.DB())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func info(job string) Info { return Info{Holder: "ops@jump1", PID: 123, JobID: job} }

func acquire(t *testing.T, l Locker, k string, i Info, ttl time.Duration) Lease {
	t.Helper()
	lease, err := l.Acquire(context.Background(), k, i, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s) for %s: %v", k, i.JobID, err)
	}
	return lease
}

func heldBy(t *testing.T, err error, job string) *HeldError {
	t.Helper()
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("err = %v, want a *HeldError", err)
	}
	if held.Info.JobID != job {
		t.Errorf("held by job %s, want %s", held.Info.JobID, job)
	}
	return held
}

func TestAcquireHeldRelease(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, "")
	before := time.Now().Truncate(time.Millisecond)
	first := acquire(t, l, key, info("J1"), time.Minute)
	if got := first.Info(); got.JobID != "J1" || got.Stage != api.StageLockAcquired || got.Since.Before(before) ||
		got.Expires.Before(before.Add(time.Minute)) {
		t.Errorf("lease info = %+v", got)
	}

	_, err := l.Acquire(ctx, key, Info{Holder: "eve@jump2", PID: 9, JobID: "J2"}, time.Minute)
	held := heldBy(t, err, "J1")
	if held.Key != key || held.Info.Holder != "ops@jump1" || held.Info.PID != 123 || !held.Info.Since.Equal(first.Info().Since) {
		t.Errorf("held error = %+v, want the first holder's info", held)
	}
	want := "acme/core-rtr-1 is being backed up by ops@jump1 (pid 123, job J1) since " +
		first.Info().Since.Local().Format("15:04:05") + ", stage lock_acquired"
	if err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err.Error(), want)
	}
	if li := held.LockInfo(); li.Holder != "ops@jump1" || li.JobID != "J1" || li.Stage != api.StageLockAcquired || !li.Since.Equal(held.Info.Since) {
		t.Errorf("LockInfo = %+v", li)
	}

	h, err := l.Holder(ctx, key)
	if err != nil || h == nil || *h != first.Info() {
		t.Errorf("Holder = %+v, %v; want %+v", h, err, first.Info())
	}
	all, err := l.Holders(ctx)
	if err != nil || len(all) != 1 || all[key] != first.Info() {
		t.Errorf("Holders = %+v, %v", all, err)
	}
	if other := acquire(t, l, "acme/other", info("J3"), time.Minute); other == nil {
		t.Fatal("another key is not free")
	}

	// The same job acquiring again keeps its lease and its start time.
	again := acquire(t, l, key, info("J1"), 2*time.Minute)
	if !again.Info().Since.Equal(first.Info().Since) {
		t.Errorf("re-acquire by the same job moved since from %v to %v", first.Info().Since, again.Info().Since)
	}

	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(ctx); err != nil {
		t.Errorf("second release: %v, want nil", err)
	}
	if h, err := l.Holder(ctx, key); h != nil || err != nil {
		t.Errorf("after release Holder = %+v, %v; want nil", h, err)
	}
	if err := first.Renew(ctx, api.StageExporting, time.Minute); !errors.Is(err, ErrLost) {
		t.Errorf("renew after release: %v, want ErrLost", err)
	}
	second := acquire(t, l, key, Info{Holder: "eve@jump2", JobID: "J2"}, time.Minute)
	if h, _ := l.Holder(ctx, key); h == nil || h.JobID != "J2" || *h != second.Info() {
		t.Errorf("after re-acquire Holder = %+v", h)
	}
}

func TestHeldErrorMessage(t *testing.T) {
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	e := &HeldError{Key: key, Info: Info{Holder: "svc@backup-1", JobID: "01JDQ", Since: old, Stage: api.StageExporting}}
	want := "acme/core-rtr-1 is being backed up by svc@backup-1 (job 01JDQ) since 2026-01-02 03:04:05, stage exporting"
	if e.Error() != want {
		t.Errorf("message of a lease from another day without pid:\n got %q\nwant %q", e.Error(), want)
	}
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, "")
	crashed := acquire(t, l, key, info("J1"), 30*time.Millisecond)
	time.Sleep(60 * time.Millisecond) // J1's process "crashed": no renewal

	if h, err := l.Holder(ctx, key); h != nil || err != nil {
		t.Errorf("Holder of an expired lease = %+v, %v; want nil", h, err)
	}
	if all, _ := l.Holders(ctx); len(all) != 0 {
		t.Errorf("Holders lists an expired lease: %+v", all)
	}
	taker := acquire(t, l, key, Info{Holder: "eve@jump2", JobID: "J2"}, time.Minute)
	if !taker.Info().Since.After(crashed.Info().Since) {
		t.Errorf("taken-over lease kept the old since %v", taker.Info().Since)
	}

	if err := crashed.Renew(ctx, api.StageExporting, time.Minute); !errors.Is(err, ErrLost) {
		t.Errorf("renew after takeover: %v, want ErrLost", err)
	}
	if err := crashed.Release(ctx); !errors.Is(err, ErrLost) {
		t.Errorf("release after takeover: %v, want ErrLost", err)
	}
	if err := crashed.Release(ctx); err != nil {
		t.Errorf("second release after takeover: %v, want nil", err)
	}
	if h, _ := l.Holder(ctx, key); h == nil || h.JobID != "J2" || h.Stage != api.StageLockAcquired {
		t.Errorf("the old holder's release or renew disturbed the new one: Holder = %+v", h)
	}
	_, err := l.Acquire(ctx, key, info("J3"), time.Minute)
	heldBy(t, err, "J2")
}

func TestRenewExtendsAndRecordsStage(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, "")
	lease := acquire(t, l, key, info("J1"), time.Minute)
	firstExpiry := lease.Info().Expires
	if err := lease.Renew(ctx, api.StageExporting, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	h, err := l.Holder(ctx, key)
	if err != nil || h == nil {
		t.Fatalf("Holder = %v, %v", h, err)
	}
	if h.Stage != api.StageExporting || !h.Expires.After(firstExpiry) || *h != lease.Info() {
		t.Errorf("after renew: holder %+v, lease %+v; want stage exporting and expiry after %v", h, lease.Info(), firstExpiry)
	}
	_, err = l.Acquire(ctx, key, info("J2"), time.Minute)
	if held := heldBy(t, err, "J1"); !strings.HasSuffix(held.Error(), "stage exporting") {
		t.Errorf("held error does not show the renewed stage: %v", held)
	}

	// An expired lease nobody took is still the holder's to renew.
	short := acquire(t, l, "acme/r2", info("J5"), 20*time.Millisecond)
	time.Sleep(40 * time.Millisecond)
	if err := short.Renew(ctx, api.StageStoring, time.Minute); err != nil {
		t.Errorf("renew of an expired but untaken lease: %v", err)
	}
	if h, _ := l.Holder(ctx, "acme/r2"); h == nil || h.JobID != "J5" || h.Stage != api.StageStoring {
		t.Errorf("Holder after late renew = %+v", h)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, "")
	for _, k := range []string{"", "acme", "acme/", "/r1", "acme/r1/x", "ac.me/r1", "acme/r*"} {
		if _, err := l.Acquire(ctx, k, info("J1"), time.Minute); api.KindOf(err) != api.KindBadRequest {
			t.Errorf("Acquire(%q): %v, want bad_request", k, err)
		}
	}
	if _, err := l.Acquire(ctx, key, info("J1"), 0); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("zero ttl: %v, want bad_request", err)
	}
	if _, err := l.Acquire(ctx, key, Info{Holder: "ops@jump1"}, time.Minute); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("no job id: %v, want bad_request", err)
	}
	lease := acquire(t, l, key, info("J1"), time.Minute)
	if err := lease.Renew(ctx, api.StageExporting, -time.Second); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("negative renew ttl: %v, want bad_request", err)
	}
	if h, _ := l.Holders(ctx); len(h) != 1 {
		t.Errorf("bad input left leases: %+v", h)
	}
}
