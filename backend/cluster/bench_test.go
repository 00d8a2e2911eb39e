package cluster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
)

// benchDevices is the fleet of BenchmarkFleetBackup; CFGSNAP_BENCH_DEVICES
// overrides it.
const benchDevices = 1000

// benchInFlight is how many triggers the requester keeps outstanding, as
// `cfgsnap backup --all` and scripts/bench-service.sh do.
const benchInFlight = 64

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleetBackup backs up a fleet of simulated devices (the default
// fleet of `cfgsnap sim`: 5-60 KB exports, one of 1.5 MB and one of 4 MB)
// through 1, 2 and 4 workers on the three-node cluster, with snapshots and
// locks in JetStream on R3. Each worker is a backup service with the default
// pool of a two-core machine (4 backups at once) on its own connection to
// its own node; triggers go through the queue group from a requester
// keeping 64 outstanding. One iteration is one whole fleet backup. Reported:
// backups/s, CPU per backup, and how busy the machine's cores were; the
// simulator, the NATS nodes and the workers share this process, so the CPU
// use shows when the machine, not cfgsnap, is the limit.
func BenchmarkFleetBackup(b *testing.B) {
	n := benchDevices
	if v := os.Getenv("CFGSNAP_BENCH_DEVICES"); v != "" {
		fmt.Sscan(v, &n)
	}
	specs := devicesim.DefaultFleet(n, false)
	_, inv := startFleet(b, specs)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			prefix := newPrefix()
			ctx := context.Background()
			for i := range workers {
				nc := cluster.Connect(b, cluster.NodeURL(i%3)+","+cluster.URL(), nats.DontRandomize())
				svc, err := startService(ctx, nc, workerSpec{Inventory: inv, DataDir: b.TempDir(),
					Name: fmt.Sprintf("worker%d@bench", i), Prefix: prefix, LockTTL: 30 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
			}
			nc := cluster.Connect(b, cluster.NodeURL(2), nats.DontRandomize())
			remote := client.NewRemote(nc, prefix, client.RemoteOptions{})
			var wall, cpu time.Duration
			var done int
			b.ResetTimer()
			for b.Loop() {
				start, cpu0 := time.Now(), cpuTime()
				ok := fleetBackup(b, remote, specs)
				wall += time.Since(start)
				cpu += cpuTime() - cpu0
				done += ok
			}
			b.StopTimer()
			b.ReportMetric(float64(done)/wall.Seconds(), "backups/s")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(done), "cpu-ms/backup")
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores-busy")
		})
	}
}

// fleetBackup triggers every device once, benchInFlight at a time, and
// returns how many succeeded; any failure fails the benchmark.
func fleetBackup(b *testing.B, remote *client.Remote, specs []devicesim.Spec) int {
	sem := make(chan struct{}, benchInFlight)
	var wg sync.WaitGroup
	var ok atomic.Int64
	var mu sync.Mutex
	var failed []string
	for _, s := range specs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := remote.Backup(context.Background(), s.Tenant, s.ID, client.BackupOptions{RequestedBy: "bench"}, nil)
			if err != nil || r.Status != api.StatusSuccess {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s/%s: %s %s %v", s.Tenant, s.ID, r.Status, r.Error, err))
				mu.Unlock()
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		b.Fatalf("%d of %d backups failed, first: %s", len(failed), len(specs), failed[0])
	}
	return int(ok.Load())
}
