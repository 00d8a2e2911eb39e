package lock

import (
	"context"
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

func TestHeldErrorMessage(t *testing.T) {
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	e := &HeldError{Key: key, Info: Info{Holder: "svc@backup-1", JobID: "01JDQ", Since: old, Stage: api.StageExporting}}
	want := "acme/core-rtr-1 is being backed up by svc@backup-1 (job 01JDQ) since 2026-01-02 03:04:05, stage exporting"
	if e.Error() != want {
		t.Errorf("message of a lease from another day without pid:\n got %q\nwant %q", e.Error(), want)
	}
}

// An expired lease nobody took is still the holder's to renew: its row
// still names the job, which proves nobody held the device in between. (The
// KV locker cannot prove that and reports such a lease lost.)
func TestRenewExpiredUntakenLease(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, "")
	short := acquire(t, l, "acme/r2", info("J5"), 20*time.Millisecond)
	time.Sleep(40 * time.Millisecond)
	if err := short.Renew(ctx, api.StageStoring, time.Minute); err != nil {
		t.Errorf("renew of an expired but untaken lease: %v", err)
	}
	if h, _ := l.Holder(ctx, "acme/r2"); h == nil || h.JobID != "J5" || h.Stage != api.StageStoring {
		t.Errorf("Holder after late renew = %+v", h)
	}
}
