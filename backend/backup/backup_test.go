package backup_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
)

func newStack(t *testing.T, specs []devicesim.Spec, opts local.Options) (*local.Stack, *devicesim.Fleet) {
	t.Helper()
	dir := t.TempDir()
	fleet, err := devicesim.Start(context.Background(), devicesim.Config{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	invPath := filepath.Join(dir, "inv.yaml")
	if err := fleet.WriteInventory(invPath); err != nil {
		t.Fatal(err)
	}
	inv, _, err := inventory.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	opts.DataDir, opts.Inventory = filepath.Join(dir, "data"), inv
	s, err := local.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, fleet
}

func TestStagesInOrderThenStoredOnce(t *testing.T) {
	s, _ := newStack(t, []devicesim.Spec{{Tenant: "acme", ID: "r1", Version: "7.16.2", SizeBytes: 200 << 10, Seed: 1}}, local.Options{})
	var stored []api.SnapshotRecord
	s.OnStored(func(r api.SnapshotRecord) { stored = append(stored, r) })
	var stages []api.Stage
	reply := s.Pipeline.Backup(context.Background(), backup.Request{TenantID: "acme", DeviceID: "r1", RequestedBy: "ops@jump1", Reason: "test"},
		func(ev api.ProgressEvent) {
			if n := len(stages); n == 0 || stages[n-1] != ev.Stage {
				stages = append(stages, ev.Stage)
			}
		})
	if reply.Status != api.StatusSuccess {
		t.Fatalf("reply %+v", reply)
	}
	want := []api.Stage{api.StageQueued, api.StageLockAcquired, api.StageConnecting, api.StageAuthenticating, api.StageExporting, api.StageStoring}
	if len(stages) != len(want) {
		t.Fatalf("stages %v, want %v", stages, want)
	}
	for i := range want {
		if stages[i] != want[i] {
			t.Fatalf("stages %v, want %v", stages, want)
		}
	}
	if len(stored) != 1 || stored[0].SHA256 != reply.SHA256 || stored[0].Trigger != api.TriggerManual || stored[0].RequestedBy != "ops@jump1" {
		t.Errorf("OnStored got %+v", stored)
	}
	if h, _ := s.Locker.Holder(context.Background(), backup.Key("acme", "r1")); h != nil {
		t.Errorf("lock still held after the job: %+v", h)
	}
}

func TestPrepareAnswersLockedAtOnceAndAbortReleases(t *testing.T) {
	s, _ := newStack(t, []devicesim.Spec{{Tenant: "acme", ID: "r1", Version: "7.16.2", Seed: 1}}, local.Options{Holder: "ops@jump1"})
	ctx := context.Background()
	job, reply := s.Pipeline.Prepare(ctx, backup.Request{TenantID: "acme", DeviceID: "r1"}, nil)
	if reply != nil {
		t.Fatalf("first Prepare: %+v", reply)
	}
	start := time.Now()
	_, second := s.Pipeline.Prepare(ctx, backup.Request{TenantID: "acme", DeviceID: "r1"}, nil)
	if second == nil || second.Status != api.StatusLocked || second.Lock == nil {
		t.Fatalf("second Prepare: %+v", second)
	}
	if time.Since(start) > time.Second || second.Lock.Holder != "ops@jump1" || second.Lock.JobID != job.ID() || second.Lock.Stage != api.StageQueued {
		t.Errorf("locked reply %+v (after %s)", second.Lock, time.Since(start))
	}
	aborted := job.Abort(ctx, api.Errorf(api.KindInternal, "service shutting down"))
	if aborted.Status != api.StatusFailed || aborted.ErrorKind != api.KindInternal {
		t.Errorf("abort reply %+v", aborted)
	}
	if r := s.Pipeline.Backup(ctx, backup.Request{TenantID: "acme", DeviceID: "r1"}, nil); r.Status != api.StatusSuccess {
		t.Errorf("after abort the device is still held: %+v", r)
	}
}

func TestUnknownDeviceAndOtherTenantLookAlike(t *testing.T) {
	s, _ := newStack(t, []devicesim.Spec{{Tenant: "acme", ID: "r1", Version: "7.16.2", Seed: 1},
		{Tenant: "globex", ID: "g1", Version: "7.16.2", Seed: 2}}, local.Options{})
	ctx := context.Background()
	other := s.Pipeline.Backup(ctx, backup.Request{TenantID: "acme", DeviceID: "g1"}, nil)
	missing := s.Pipeline.Backup(ctx, backup.Request{TenantID: "acme", DeviceID: "zz"}, nil)
	if other.ErrorKind != api.KindNotFound || missing.ErrorKind != api.KindNotFound {
		t.Fatalf("kinds %s %s", other.ErrorKind, missing.ErrorKind)
	}
	if other.Error != "device g1 not found in tenant acme" {
		t.Errorf("message reveals more than not found: %q", other.Error)
	}
	bad := s.Pipeline.Backup(ctx, backup.Request{TenantID: "acme", DeviceID: "a.>"}, nil)
	if bad.ErrorKind != api.KindBadRequest {
		t.Errorf("bad ID: %+v", bad)
	}
}

func TestOversizedExportRefused(t *testing.T) {
	s, _ := newStack(t, []devicesim.Spec{{Tenant: "acme", ID: "big", Version: "7.16.2", SizeBytes: 2 << 20, Seed: 1}}, local.Options{})
	p := backup.New(backup.Config{
		Inventory: func() backup.Inventory { return s.Inventory() },
		Store:     s.Store, Locker: s.Locker, Dialer: s.Pipeline.Dialer(), MaxOutput: 1 << 20,
	})
	r := p.Backup(context.Background(), backup.Request{TenantID: "acme", DeviceID: "big"}, nil)
	if r.Status != api.StatusFailed || r.ErrorKind != api.KindInvalidOutput {
		t.Fatalf("reply %+v", r)
	}
	if rec, err := s.Store.Latest(context.Background(), "acme", "big"); err != nil || rec != nil {
		t.Errorf("something was stored: %+v %v", rec, err)
	}
}
