package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// TestWorkerKilledMidBackup: two workers serve the cluster; the one running
// a slow backup is killed with SIGKILL while it exports. The requester gets
// a failure within its stall timeout, the device stays locked (by the dead
// worker, as a colliding user is told) until the lock's TTL ends it, no
// half snapshot is visible, and the next trigger succeeds on the other
// worker.
func TestWorkerKilledMidBackup(t *testing.T) {
	const (
		lockTTL = 2 * time.Second
		stall   = 2 * time.Second
		slack   = 1500 * time.Millisecond // the server's expiry sweep on a replicated bucket
	)
	fleet, inv := startFleet(t, []devicesim.Spec{
		{Tenant: "acme", ID: "slow-1", Version: "7.16.2", SizeBytes: 40 << 10, Fault: devicesim.FaultSlowOutput, BytesPerSecond: 2048},
	})
	prefix := newPrefix()
	var procs []*workerProc
	for i := range 2 {
		procs = append(procs, startWorkerProc(t, workerSpec{URL: cluster.NodeURL(i) + "," + cluster.URL(), Inventory: inv,
			DataDir: t.TempDir(), Name: fmt.Sprintf("worker%d@test", i), Prefix: prefix, LockTTL: lockTTL}))
	}
	nc := cluster.Connect(t, cluster.NodeURL(2))
	parts, err := Open(context.Background(), jetStream(t, nc), Options{Prefix: prefix, Replicas: 3, Keys: testKeys()})
	if err != nil {
		t.Fatal(err)
	}
	remote := client.NewRemote(nc, prefix, client.RemoteOptions{StallTimeout: stall})
	key := lock.Key("acme", "slow-1")

	type result struct {
		reply api.TriggerReply
		at    time.Time
	}
	done := make(chan result, 1)
	go func() {
		r, _ := remote.Backup(context.Background(), "acme", "slow-1", client.BackupOptions{RequestedBy: "ops@jump1"}, nil)
		done <- result{r, time.Now()}
	}()

	// Wait for the export to be under way, then kill whoever runs it.
	var holder *lock.Info
	deadline := time.Now().Add(20 * time.Second)
	for holder == nil || holder.Stage != api.StageExporting {
		if time.Now().After(deadline) {
			t.Fatalf("the backup did not reach the export stage: holder %+v", holder)
		}
		time.Sleep(50 * time.Millisecond)
		if holder, err = parts.Locker.Holder(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	var victim *workerProc
	for _, p := range procs {
		if p.name == holder.Holder {
			victim = p
		}
	}
	if victim == nil {
		t.Fatalf("the lock is held by %q, not by a worker of this test", holder.Holder)
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	// A colliding user meanwhile is told who holds the device. Give the
	// cluster a moment to drop the dead worker's queue subscription first:
	// until its interest leaves the other nodes a request can still be routed
	// to it, and only the stall timeout would answer that one.
	time.Sleep(300 * time.Millisecond)
	r, err := remote.Backup(context.Background(), "acme", "slow-1", client.BackupOptions{}, nil)
	if err != nil || r.Status != api.StatusLocked || r.Lock == nil || r.Lock.Holder != victim.name {
		t.Errorf("trigger while the dead worker's lock lives: %+v, %v; want locked by %s", r, err, victim.name)
	}

	res := <-done
	if res.reply.Status != api.StatusFailed || res.reply.ErrorKind != api.KindTimeout {
		t.Errorf("requester of the killed backup got %+v; want failed with kind timeout", res.reply)
	}
	if waited := res.at.Sub(killed); waited > stall+time.Second {
		t.Errorf("requester learned of the dead worker %v after the kill; want within its %v stall timeout", waited.Round(time.Millisecond), stall)
	}

	for {
		h, err := parts.Locker.Holder(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		if time.Since(killed) > lockTTL+slack {
			t.Fatalf("the dead worker's lock still held %v after the kill (TTL %v)", time.Since(killed).Round(time.Millisecond), lockTTL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("requester failed %v after the kill; lock expired %v after it",
		res.at.Sub(killed).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))

	if l, err := parts.Store.Latest(context.Background(), "acme", "slow-1"); err != nil || l != nil {
		t.Errorf("after the killed backup the device has snapshot %+v, %v; want none", l, err)
	}

	if err := fleet.SetFault("acme", "slow-1", devicesim.FaultNone); err != nil {
		t.Fatal(err)
	}
	next, err := remote.Backup(context.Background(), "acme", "slow-1", client.BackupOptions{}, nil)
	if err != nil || next.Status != api.StatusSuccess {
		t.Fatalf("next trigger: %+v, %v; want success on the surviving worker", next, err)
	}
	recs, _, err := parts.Store.History(context.Background(), "acme", "slow-1", 10, "")
	if err != nil || len(recs) != 1 || recs[0].SnapshotID != next.SnapshotID {
		t.Errorf("history = %v, %v; want only the next trigger's snapshot", recs, err)
	}
	if c, err := parts.Store.Content(context.Background(), next.SHA256); err != nil || store.Sum(c) != next.SHA256 {
		t.Errorf("content of the next snapshot: %v", err)
	}
}

// TestNodeStopsDuringFleetBackup: two workers, one on the node that is
// stopped, back up a fleet in rounds while the node goes away. Triggers,
// history and locks keep working: every trigger succeeds, and every device's
// history holds each reported snapshot exactly once, with its content, and
// nothing else.
func TestNodeStopsDuringFleetBackup(t *testing.T) {
	const devices, rounds, inFlight = 45, 3, 16
	specs := smallFleet(devices)
	_, inv := startFleet(t, specs)
	prefix := newPrefix()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The node to stop is the one leading the history stream, the worst
	// case: worker A prefers it; B and the requesters use another node.
	nc := cluster.Connect(t, cluster.URL())
	parts, err := Open(ctx, jetStream(t, nc), Options{Prefix: prefix, Replicas: 3, Keys: testKeys()})
	if err != nil {
		t.Fatal(err)
	}
	history, _, _, _, _ := Names(prefix)
	victim := -1
	for i := range cluster.Size() {
		if cluster.Server(i).JetStreamIsStreamLeader("$G", history) {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatal("no node leads the history stream")
	}
	other := (victim + 1) % cluster.Size()
	for i, node := range []int{victim, other} {
		wnc := cluster.Connect(t, cluster.NodeURL(node)+","+cluster.URL(), nats.DontRandomize())
		svc, err := startService(ctx, wnc, workerSpec{Inventory: inv, DataDir: t.TempDir(),
			Name: fmt.Sprintf("worker%d@test", i), Prefix: prefix, LockTTL: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	}
	nc = cluster.Connect(t, cluster.NodeURL(other)+","+cluster.URL(), nats.DontRandomize())
	remote := client.NewRemote(nc, prefix, client.RemoteOptions{StallTimeout: 5 * time.Second})

	var mu sync.Mutex
	reported := map[store.DeviceKey][]string{} // snapshot IDs of successful replies
	type failure struct {
		key  store.DeviceKey
		sent time.Time
		msg  string
	}
	var failures []failure
	var stopAt time.Time
	var replies int
	half := make(chan struct{})
	nodeStopped := false
	for round := range rounds {
		sem := make(chan struct{}, inFlight)
		var wg sync.WaitGroup
		for _, s := range specs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				sent := time.Now()
				r, err := remote.Backup(ctx, s.Tenant, s.ID, client.BackupOptions{Reason: fmt.Sprintf("round %d", round)}, nil)
				mu.Lock()
				defer mu.Unlock()
				replies++
				if replies == devices/2 {
					close(half) // half way through the first round
				}
				k := store.DeviceKey{Tenant: s.Tenant, Device: s.ID}
				if err != nil || r.Status != api.StatusSuccess {
					failures = append(failures, failure{k, sent, fmt.Sprintf("round %d %s: %s %s %s", round, k, r.Status, r.ErrorKind, r.Error)})
					return
				}
				reported[k] = append(reported[k], r.SnapshotID)
			})
			if !nodeStopped {
				select {
				case <-half:
					nodeStopped = true
					cluster.Stop(victim)
					mu.Lock()
					stopAt = time.Now()
					mu.Unlock()
					t.Logf("node n%d (history stream leader) stopped after %d replies", victim+1, devices/2)
				default:
				}
			}
		}
		wg.Wait()
	}
	// A trigger on its way to the stopped node's worker while the node went
	// down can be lost with its reply (NATS delivers at most once); its
	// requester sees a failure, and its backup may or may not have been
	// stored. Every trigger sent once the node is down must succeed.
	lost := map[store.DeviceKey]int{}
	for _, f := range failures {
		if f.sent.After(stopAt) {
			t.Errorf("sent %v after the node stopped: %s", f.sent.Sub(stopAt).Round(time.Millisecond), f.msg)
		} else {
			t.Logf("in flight when the node stopped: %s", f.msg)
			lost[f.key]++
		}
	}

	for _, s := range specs {
		k := store.DeviceKey{Tenant: s.Tenant, Device: s.ID}
		recs, _, err := parts.Store.History(ctx, s.Tenant, s.ID, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i, r := range recs {
			ids = append(ids, r.SnapshotID)
			if i+1 < len(recs) && r.PreviousHash != recs[i+1].SHA256 {
				t.Errorf("%s: record %s does not follow %s", k, r.SnapshotID, recs[i+1].SnapshotID)
			}
		}
		slices.Sort(ids)
		if len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("%s: a snapshot is stored twice: %v", k, ids)
		}
		for _, id := range reported[k] {
			if _, found := slices.BinarySearch(ids, id); !found {
				t.Errorf("%s: reported snapshot %s is not in the history", k, id)
			}
		}
		if extra := len(ids) - len(reported[k]); extra > lost[k] {
			t.Errorf("%s: history holds %d snapshots nobody was told of (%d triggers lost): %v, reported %v",
				k, extra, lost[k], ids, reported[k])
		}
		if len(recs) > 0 {
			if _, err := parts.Store.Content(ctx, recs[0].SHA256); err != nil {
				t.Errorf("%s: content: %v", k, err)
			}
		}
	}
	if h, err := parts.Locker.Holders(ctx); err != nil || len(h) != 0 {
		t.Errorf("locks left after the fleet backup: %v, %v", h, err)
	}
	if err := cluster.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := parts.Check(ctx); err != nil {
		t.Errorf("health check after the node came back: %v", err)
	}
}
