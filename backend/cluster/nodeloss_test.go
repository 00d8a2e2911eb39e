package cluster

import (
	"context"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// cpuHog keeps every CPU busy with spinning goroutines until stop is
// called or limit has passed, whichever comes first: the loaded machine of
// issue 11 §8, where elections and failovers take longer.
func cpuHog(limit time.Duration) (stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	var wg sync.WaitGroup
	for range 2 * runtime.NumCPU() {
		wg.Go(func() {
			x := uint64(1)
			for ctx.Err() == nil {
				for range 10000 {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			_ = x
		})
	}
	return func() { cancel(); wg.Wait() }
}

// TestTriggerRidesThroughNodeLoss (issue 11 §8): a node of three is
// killed 3 s before a backup is requested, while the machine is busy; each
// round kills the leader of another of the streams a backup writes to
// (history, locks, content). The trigger succeeds within its job deadline:
// store and lock steps retry through the election and the worker's move to
// another node.
func TestTriggerRidesThroughNodeLoss(t *testing.T) {
	const jobDeadline = 30 * time.Second
	_, inv := startFleet(t, []devicesim.Spec{
		{Tenant: "acme", ID: "r1", Version: "7.16.2", SizeBytes: 3 << 10},
		{Tenant: "globex", ID: "r2", Version: "6.49.13", SizeBytes: 3 << 10},
	})
	prefix := newPrefix()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	nc := cluster.Connect(t, cluster.URL())
	parts, err := Open(ctx, jetStream(t, nc), Options{Prefix: prefix, Replicas: 3, Keys: testKeys()})
	if err != nil {
		t.Fatal(err)
	}
	history, content, _, locks, _ := Names(prefix)
	for round, stream := range []string{history, "KV_" + locks, "OBJ_" + content} {
		victim := -1
		for i := range cluster.Size() {
			if cluster.Server(i) != nil && cluster.Server(i).JetStreamIsStreamLeader("$G", stream) {
				victim = i
			}
		}
		if victim < 0 {
			t.Fatalf("round %d: no node leads %s", round, stream)
		}
		other := (victim + 1) % cluster.Size()
		// The worker is connected to the victim: it must move too.
		wnc := cluster.Connect(t, cluster.NodeURL(victim)+","+cluster.URL(), nats.DontRandomize())
		logs := &natstest.LogBuffer{}
		svc, err := startServiceWith(ctx, wnc, workerSpec{Inventory: inv, DataDir: t.TempDir(),
			Name: fmt.Sprintf("worker%d@test", round), Prefix: prefix, LockTTL: 5 * time.Second},
			func(c *service.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
		if err != nil {
			t.Fatal(err)
		}
		rnc := cluster.Connect(t, cluster.NodeURL(other)+","+cluster.URL(), nats.DontRandomize())
		remote := client.NewRemote(rnc, prefix, client.RemoteOptions{StallTimeout: 10 * time.Second})

		stopHog := cpuHog(jobDeadline + 10*time.Second)
		cluster.Stop(victim)
		killed := time.Now()
		time.Sleep(3 * time.Second)
		tenant, device := "acme", "r1"
		if round%2 == 1 {
			tenant, device = "globex", "r2"
		}
		jctx, jcancel := context.WithTimeout(ctx, jobDeadline)
		start := time.Now()
		r, err := remote.Backup(jctx, tenant, device, client.BackupOptions{Reason: "node loss"}, nil)
		took := time.Since(start)
		jcancel()
		stopHog()
		if err != nil || r.Status != api.StatusSuccess {
			t.Errorf("round %d (%s leader n%d killed %v before): %+v, %v after %v; the worker's log:\n%s", round, stream, victim+1,
				start.Sub(killed).Round(time.Millisecond), r, err, took.Round(time.Millisecond), logs.String())
		} else {
			t.Logf("round %d: %s leader n%d killed; backup took %v", round, stream, victim+1, took.Round(time.Millisecond))
			if l, err := parts.Store.Latest(ctx, tenant, device); err != nil || l == nil || l.SnapshotID != r.SnapshotID {
				t.Errorf("round %d: latest is %+v, %v; want the reported %s", round, l, err, r.SnapshotID)
			}
		}
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("round %d: shutdown: %v", round, err)
		}
		if err := cluster.Restart(ctx, victim); err != nil {
			t.Fatal(err)
		}
		if err := waitHealthy(ctx, parts); err != nil {
			t.Fatalf("round %d: cluster not healthy after the restart: %v", round, err)
		}
	}
}

// waitHealthy waits until every stream of parts has a leader and a quorum
// of current replicas again.
func waitHealthy(ctx context.Context, parts *Parts) error {
	for {
		err := parts.Check(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
