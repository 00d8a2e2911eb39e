package service_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

type outcome struct {
	rep api.TriggerReply
	err error
}

func backupAsync(r *client.Remote, tenant, device string) chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		rep, err := r.Backup(context.Background(), tenant, device, client.BackupOptions{}, nil)
		ch <- outcome{rep, err}
	}()
	return ch
}

func TestShutdownLetsRunningJobsFinish(t *testing.T) {
	h := newHarness(t, devices(1, slow("acme", "slow-1")))
	st := h.stack()
	svc := h.service(service.Config{Stack: st, Grace: 20 * time.Second})
	r := h.remote(client.RemoteOptions{})
	running := backupAsync(r, "acme", "slow-1")
	waitHeld(t, h, "acme/slow-1")
	if err := svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := <-running; o.err != nil || o.rep.Status != api.StatusSuccess {
		t.Fatalf("a job running at shutdown within the grace period: %+v %v", o.rep, o.err)
	}
	// No longer taking triggers.
	_, err := r.Backup(context.Background(), "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if api.KindOf(err) != api.KindUnreachable {
		t.Fatalf("trigger after shutdown: %v, want unreachable (no responders)", err)
	}
}

func TestShutdownFailsJobsPastGrace(t *testing.T) {
	h := newHarness(t, devices(1, slow("acme", "slow-1"), slow("acme", "slow-2")))
	st := h.stack()
	svc := h.service(service.Config{Stack: st, Workers: 1, Grace: 300 * time.Millisecond})
	r := h.remote(client.RemoteOptions{})
	running := backupAsync(r, "acme", "slow-1")
	waitHeld(t, h, "acme/slow-1")
	time.Sleep(100 * time.Millisecond) // slow-1 has left the queue
	queued := backupAsync(r, "acme", "slow-2")
	waitHeld(t, h, "acme/slow-2")

	start := time.Now()
	if err := svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s with a 300ms grace period", d)
	}
	o := <-running
	if o.err != nil || o.rep.Status != api.StatusFailed || !strings.Contains(o.rep.Error, "shut down before the backup finished") {
		t.Errorf("running job past the grace period: %+v %v", o.rep, o.err)
	}
	o = <-queued
	if o.err != nil || o.rep.Status != api.StatusFailed || !strings.Contains(o.rep.Error, "shutting down") {
		t.Errorf("queued job at shutdown: %+v %v", o.rep, o.err)
	}
	for _, key := range []string{"acme/slow-1", "acme/slow-2"} {
		if info, err := st.Locker.Holder(context.Background(), key); err != nil || info != nil {
			t.Errorf("%s still locked after shutdown: %+v %v", key, info, err)
		}
	}
}

// TestWorkerKilledMidJob runs the service in a child process and SIGKILLs
// it while it exports: the requester sees the stall within its stall
// timeout, the lock expires by itself, and another instance then succeeds.
func TestWorkerKilledMidJob(t *testing.T) {
	h := newHarness(t, devices(1, devicesim.Spec{Tenant: "acme", ID: "slow-1", SizeBytes: 40 << 10,
		Fault: devicesim.FaultSlowOutput, BytesPerSecond: 4 << 10}))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+h.ns.URL()+"|"+h.dataDir+"|"+h.invPath)
	var stderr strings.Builder
	var mu sync.Mutex
	errPipe, _ := cmd.StderrPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go drain(errPipe, &stderr, &mu)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("child service did not start: %s", stderr.String())
	}

	const stall = time.Second
	r := h.remote(client.RemoteOptions{StallTimeout: stall})
	exporting := make(chan struct{})
	var once sync.Once
	done := make(chan outcome, 1)
	go func() {
		rep, err := r.Backup(ctx, "acme", "slow-1", client.BackupOptions{}, func(ev api.ProgressEvent) {
			if ev.Stage == api.StageExporting {
				once.Do(func() { close(exporting) })
			}
		})
		done <- outcome{rep, err}
	}()
	select {
	case <-exporting:
	case o := <-done:
		t.Fatalf("the job ended before it exported: %+v %v", o.rep, o.err)
	case <-ctx.Done():
		t.Fatal("no exporting stage")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	o := <-done
	waited := time.Since(killed)
	if api.KindOf(o.err) != api.KindTimeout || o.rep.Status != api.StatusFailed || o.rep.ErrorKind != api.KindTimeout ||
		!strings.Contains(o.rep.Error, "stopped answering") {
		t.Fatalf("after the worker died: %+v %v, want a failed reply of kind timeout", o.rep, o.err)
	}
	if waited > stall+time.Second {
		t.Errorf("the requester noticed the dead worker after %s (stall timeout %s)", waited, stall)
	}

	if err := h.fleet.SetFault("acme", "slow-1", devicesim.FaultNone); err != nil {
		t.Fatal(err)
	}
	h.service(service.Config{Stack: h.stack(func(o *local.Options) { o.LockTTL = childLockTTL; o.Holder = "svc-2" })})
	r2 := h.remote(client.RemoteOptions{})
	var sawDeadHolder bool
	for {
		rep, err := r2.Backup(ctx, "acme", "slow-1", client.BackupOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status == api.StatusSuccess {
			break
		}
		if rep.Status != api.StatusLocked || rep.Lock.Holder != "child@test" {
			t.Fatalf("next trigger: %+v", rep)
		}
		sawDeadHolder = true
		if time.Since(killed) > childLockTTL+3*time.Second {
			t.Fatalf("the dead worker's lock did not expire within %s", childLockTTL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("succeeded %s after the kill (lock seen held by the dead worker: %v)", time.Since(killed).Round(time.Millisecond), sawDeadHolder)
}

// TestDirectAndServiceShareTheLock: a direct-mode backup and a service
// backup of one device on one data dir exclude each other.
func TestDirectAndServiceShareTheLock(t *testing.T) {
	h := newHarness(t, devices(1, slow("acme", "slow-1")))
	h.service(service.Config{Stack: h.stack(func(o *local.Options) { o.Holder = "service@backup1" })})
	direct := client.NewDirect(h.stack(func(o *local.Options) { o.Holder = "ops@jump1" }))
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()

	directDone := make(chan outcome, 1)
	go func() {
		rep, err := direct.Backup(ctx, "acme", "slow-1", client.BackupOptions{}, nil)
		directDone <- outcome{rep, err}
	}()
	waitHeld(t, h, "acme/slow-1")
	rep, err := r.Backup(ctx, "acme", "slow-1", client.BackupOptions{}, nil)
	if err != nil || rep.Status != api.StatusLocked || rep.Lock.Holder != "ops@jump1" {
		t.Fatalf("service trigger during a direct backup: %+v %v", rep, err)
	}
	if o := <-directDone; o.rep.Status != api.StatusSuccess {
		t.Fatalf("direct backup: %+v", o.rep)
	}

	remoteDone := backupAsync(r, "acme", "slow-1")
	waitHeld(t, h, "acme/slow-1")
	rep, err = direct.Backup(ctx, "acme", "slow-1", client.BackupOptions{}, nil)
	if err != nil || rep.Status != api.StatusLocked || rep.Lock.Holder != "service@backup1" {
		t.Fatalf("direct backup during a service backup: %+v %v", rep, err)
	}
	if o := <-remoteDone; o.err != nil || o.rep.Status != api.StatusSuccess {
		t.Fatalf("service backup: %+v %v", o.rep, o.err)
	}
}

// TestReloadKeepsRunningJobs: an inventory reload (SIGHUP in serve) while a
// job runs lets it finish; later triggers see the new inventory.
func TestReloadKeepsRunningJobs(t *testing.T) {
	h := newHarness(t, devices(1, slow("acme", "slow-1")))
	st := h.stack()
	h.service(service.Config{Stack: st})
	r := h.remote(client.RemoteOptions{})
	running := backupAsync(r, "acme", "slow-1")
	waitHeld(t, h, "acme/slow-1")

	b, err := os.ReadFile(h.invPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc inventory.FileDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for i, tn := range doc.Tenants {
		var keep []inventory.FileDevice
		for _, d := range tn.Devices {
			if d.ID != "slow-1" {
				keep = append(keep, d)
			}
		}
		doc.Tenants[i].Devices = keep
	}
	if err := inventory.WriteFile(h.invPath, doc); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	if o := <-running; o.err != nil || o.rep.Status != api.StatusSuccess {
		t.Fatalf("job running across the reload: %+v %v", o.rep, o.err)
	}
	rep, err := r.Backup(context.Background(), "acme", "slow-1", client.BackupOptions{}, nil)
	if err != nil || rep.ErrorKind != api.KindNotFound {
		t.Fatalf("removed device after the reload: %+v %v", rep, err)
	}
}
