package schedule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/collect"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	lockkv "github.com/cfgsnap/cfgsnap/backend/lock/kv"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"github.com/cfgsnap/cfgsnap/backend/store"
	jsstore "github.com/cfgsnap/cfgsnap/backend/store/jetstream"
)

// cluster is the three-node cluster the package's tests share.
var cluster *natstest.Cluster

// keyFile is the content key every worker shares, as --content-key-file.
var keyFile string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cfgsnap-schedule-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keyFile = filepath.Join(dir, "content.key")
	cluster, err = natstest.New(3, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buckets atomic.Int64

func newBucket() string { return "sched_" + strconv.FormatInt(buckets.Add(1), 10) }

func jetStream(t testing.TB, node int) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(cluster.Connect(t, cluster.NodeURL(node)))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func kvState(t testing.TB, node int, bucket string) *KVState {
	t.Helper()
	st, err := OpenKV(context.Background(), jetStream(t, node), KVOptions{Bucket: bucket, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sqliteState(t testing.TB) *SQLiteState {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st, err := OpenSQLite(context.Background(), s.DB())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// worker is one `cfgsnap serve --store jetstream --schedule` worker's
// backup machinery: its own connection to its own node, the JetStream store
// and KV lock on R3, its own known_hosts, the real pipeline.
type worker struct {
	store *jsstore.Store
	pipe  *backup.Pipeline
	state *KVState
}

func newWorker(t *testing.T, node int, prefix string, inv *inventory.Inventory) *worker {
	t.Helper()
	ctx := context.Background()
	js := jetStream(t, node)
	st, err := jsstore.Open(ctx, js, jsstore.Options{Prefix: prefix, Replicas: 3, Keys: store.NewKeys(keyFile)})
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lockkv.New(ctx, js, lockkv.Options{Bucket: prefix + "_locks", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pipe := backup.New(backup.Config{
		Inventory: func() backup.Inventory { return inv },
		Store:     st, Locker: lk,
		Dialer:  &collect.Dialer{HostKeys: &collect.HostKeys{File: filepath.Join(dir, "known_hosts")}},
		Holder:  "worker" + strconv.Itoa(node) + "@test",
		LockTTL: 5 * time.Second,
	})
	return &worker{store: st, pipe: pipe, state: kvState(t, node, prefix+"_schedule")}
}

// startFleet serves n small simulated devices over SSH and returns them
// with an inventory that points at them.
func startFleet(t *testing.T, n int) (*devicesim.Fleet, *inventory.Inventory) {
	t.Helper()
	specs := make([]devicesim.Spec, n)
	versions := []string{"6.49.13", "7.12.1", "7.16.2"}
	for i := range specs {
		specs[i] = devicesim.Spec{Tenant: []string{"acme", "globex", "initech"}[i%3], ID: fmt.Sprintf("rtr-%d", i),
			Version: versions[i%len(versions)], SizeBytes: 3 << 10}
	}
	f, err := devicesim.Start(context.Background(), devicesim.Config{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := f.WriteInventory(path); err != nil {
		t.Fatal(err)
	}
	inv, _, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f, inv
}

func keys(inv *inventory.Inventory) []store.DeviceKey {
	var out []store.DeviceKey
	for _, d := range inv.Devices() {
		out = append(out, store.DeviceKey{Tenant: d.TenantID, Device: d.ID})
	}
	return out
}

// clusterInterval is the interval of the fleet test: long enough for 300
// real SSH backups on two cores with the race detector, with room to spare:
// at 8 s, a few dozen backups missed the interval on a busy machine once the
// history stream allowed direct gets (a capacity margin, not a scheduling
// fault: every device was claimed exactly once).
const clusterInterval = 12 * time.Second

// TestThreeWorkersBackUpEachDeviceOnce runs the scheduler on three workers,
// each on its own node of the cluster, over 300 simulated devices for one
// interval: every device is backed up exactly once (not once per worker),
// by the real pipeline, recorded with trigger "scheduled", and the work is
// shared between the workers.
func TestThreeWorkersBackUpEachDeviceOnce(t *testing.T) {
	const devices = 300
	_, inv := startFleet(t, devices)
	prefix := "fleet" + strconv.FormatInt(buckets.Add(1), 10)
	fleetKeys := keys(inv)
	var workers []*worker
	var scheds []*Scheduler
	m := metrics.New()
	for node := range 3 {
		w := newWorker(t, node, prefix, inv)
		workers = append(workers, w)
		scheds = append(scheds, New(Config{
			Interval: clusterInterval, Devices: func() []store.DeviceKey { return fleetKeys },
			Backup: w.pipe, State: w.state, Worker: "w" + strconv.Itoa(node), Concurrency: 6,
			Jitter: 200 * time.Millisecond, StaleAfter: time.Minute, Metrics: m,
		}))
	}
	// Interval 0 starts now. Run through it and a little into the next:
	// what the next one starts is told apart by its reason.
	epoch := time.Now()
	for _, s := range scheds {
		s.cfg.Epoch = epoch
	}
	ctx, cancel := context.WithDeadline(context.Background(), epoch.Add(clusterInterval+time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range scheds {
		wg.Go(func() { _ = s.Run(ctx) })
	}
	wg.Wait()

	reason := fmt.Sprintf("scheduled every %s, interval from %s", clusterInterval, scheds[0].SlotStart(0).UTC().Format(time.RFC3339))
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	byWorker := map[string]int{}
	for _, k := range fleetKeys {
		recs, _, err := workers[0].store.History(rctx, k.Tenant, k.Device, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Reason == reason {
				n++
				byWorker[r.RequestedBy]++
				if r.Trigger != api.TriggerScheduled {
					t.Errorf("%s: a scheduled backup recorded with trigger %q", k, r.Trigger)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s backed up %d times in the interval, want exactly once", k, n)
		}
		e, _, err := workers[1].state.Get(rctx, k)
		if err != nil || e.Slot == 0 && e.Status != StatusDone || e.Slot > 1 || e.Failures > 0 {
			t.Errorf("%s: schedule state %+v, %v; want done in interval 0 (or in the next, begun meanwhile)", k, e, err)
		}
	}
	var missed, lost int64
	for _, s := range scheds {
		missed += s.missed.Load()
		lost += s.lost.Load()
	}
	t.Logf("backups per worker: %v; claims lost to another worker: %d", byWorker, lost)
	if missed != 0 {
		t.Errorf("%d backups missed their interval", missed)
	}
	for w, n := range byWorker {
		if n < devices/10 {
			t.Errorf("%s did only %d of %d backups: the work is not shared", w, n, devices)
		}
	}
	if len(byWorker) != 3 {
		t.Errorf("backups came from %d workers, want all 3: %v", len(byWorker), byWorker)
	}
	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatalf("metrics: %v", err)
	}
	var counted int
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, `cfgsnap_backups_total{outcome="success",trigger="scheduled"} `); ok {
			counted, _ = strconv.Atoi(v)
		}
	}
	if counted < devices { // the next interval may have begun
		t.Errorf("metrics count %d scheduled successes, want at least %d:\n%s", counted, devices, b.String())
	}
}
