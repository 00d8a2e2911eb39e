package search

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// fillFleet records n simulated devices (devicesim's export generator,
// show-sensitive, normalised) of about size bytes in 20 tenants through
// the store API: every device two days ago, and a tenth of them changed
// (a drifted generation, with a reason) an hour ago.
func fillFleet(b *testing.B, dir string, n, size int) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	const batch = 500 // listeners the simulator opens at once
	for lo := 0; lo < n; lo += batch {
		var specs []devicesim.Spec
		for i := lo; i < min(n, lo+batch); i++ {
			specs = append(specs, devicesim.Spec{Tenant: fmt.Sprintf("tenant%02d", i%20), ID: fmt.Sprintf("rtr-%05d", i), SizeBytes: size})
		}
		f, err := devicesim.Start(ctx, devicesim.Config{}, specs)
		if err != nil {
			b.Fatal(err)
		}
		for j, s := range specs {
			raw, err := f.Export(s.Tenant, s.ID, true)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Record(ctx, api.SnapshotRecord{TenantID: s.Tenant, DeviceID: s.ID, Trigger: api.TriggerScheduled,
				CollectedAt: now.Add(-48 * time.Hour)}, routeros.Normalize(raw)); err != nil {
				b.Fatal(err)
			}
			if (lo+j)%10 == 0 {
				if err := f.Drift(s.Tenant, s.ID); err != nil {
					b.Fatal(err)
				}
				raw, err := f.Export(s.Tenant, s.ID, true)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := st.Record(ctx, api.SnapshotRecord{TenantID: s.Tenant, DeviceID: s.ID, Trigger: api.TriggerManual,
					RequestedBy: "bench", Reason: "CHG-1", CollectedAt: now.Add(-time.Hour)}, routeros.Normalize(raw)); err != nil {
					b.Fatal(err)
				}
			}
		}
		f.Close()
	}
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// cpuTime is the CPU time (user and system) the process has used: less
// sensitive than wall time to other work on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapMB() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkFleet fills a store with CFGSNAP_BENCH_DEVICES devices (default
// 1000; scripts/bench-search.sh runs 10,000) of CFGSNAP_BENCH_SIZE bytes
// (default 50 KiB), then measures a cold search (a new engine reading and
// indexing every latest configuration from the store), warm searches
// (literal, case-insensitive, no usable literal), changes over 24 h and
// the heap the engine holds. CFGSNAP_BENCH_DIR reuses a filled store.
func BenchmarkFleet(b *testing.B) {
	n := envInt("CFGSNAP_BENCH_DEVICES", 1000)
	size := envInt("CFGSNAP_BENCH_SIZE", 50<<10)
	dir := os.Getenv("CFGSNAP_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	if _, err := os.Stat(dir + "/" + store.DBFile); err != nil {
		start := time.Now()
		fillFleet(b, dir, n, size)
		fmt.Printf("filled %d devices of %d bytes in %s\n", n, size, time.Since(start).Round(time.Millisecond))
	}
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	heap0, rss0 := heapMB(), rssMB()

	e := New(st)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	run := func(req api.SearchRequest) (time.Duration, api.SearchReply) {
		start := time.Now()
		rep, err := e.Search(ctx, Scope{}, req)
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start), rep
	}
	cpu0 := cpuTime()
	cold, rep := run(api.SearchRequest{Pattern: `198\.51\.100\.77 `})
	coldCPU := cpuTime() - cpu0
	devices := rep.Devices
	stats := e.Stats()
	fmt.Printf("cold search: %.0f ms, CPU %.0f ms (%d matches; index: %d configurations, %d distinct lines, %.1f MB of text)\n",
		ms(cold), ms(coldCPU), len(rep.Matches), stats.Configs, stats.Lines, float64(stats.ArenaBytes)/(1<<20))
	warmReqs := []api.SearchRequest{
		{Pattern: `198\.51\.100\.77 `},
		{Pattern: `CUST-1001[0-9] `, IgnoreCase: true},
		{Pattern: `list=change-window`},
		{Pattern: `(?i)wg-MGMT`},
		{Pattern: `password=`, Secrets: true},
	}
	var warm time.Duration
	b.ResetTimer()
	for range b.N {
		for _, req := range warmReqs {
			d, rep := run(req)
			warm = max(warm, d)
			if b.N == 1 || d == warm {
				fmt.Printf("warm search %q (-i %v, secrets %v): %.0f ms, %d matches, more %v\n", req.Pattern, req.IgnoreCase, req.Secrets, ms(d), len(rep.Matches), rep.More)
			}
		}
	}
	b.StopTimer()
	noLit, rep := run(api.SearchRequest{Pattern: `\d+\.\d+\.7\.\d+/32`})
	fmt.Printf("warm search without a literal to scan for: %.0f ms, %d matches, more %v\n", ms(noLit), len(rep.Matches), rep.More)

	start := time.Now()
	ch, err := e.Changes(ctx, Scope{}, api.ChangesRequest{Since: time.Now().Add(-24 * time.Hour), Max: api.MaxSearchMax})
	if err != nil {
		b.Fatal(err)
	}
	changes := time.Since(start)
	start = time.Now()
	if _, err := e.Changes(ctx, Scope{}, api.ChangesRequest{Since: time.Now().Add(-24 * time.Hour), Max: api.MaxSearchMax}); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("changes 24h: %.0f ms (%d changes, more %v), again %.0f ms\n", ms(changes), len(ch.Changes), ch.More, ms(time.Since(start)))
	heap1, rss1 := heapMB(), rssMB()
	runtime.KeepAlive(e)
	b.ReportMetric(ms(cold), "cold-ms")
	b.ReportMetric(ms(coldCPU), "cold-cpu-ms")
	b.ReportMetric(ms(warm), "warm-ms")
	b.ReportMetric(ms(changes), "changes-ms")
	b.ReportMetric(heap1-heap0, "extra-heap-MB")
	fmt.Printf("extra RSS %.0f MB\n", rss1-rss0)
	fmt.Printf("search: %d devices: cold %.0f ms (CPU %.0f ms), warm %.0f ms, changes %.0f ms, extra heap %.0f MB\n", devices, ms(cold), ms(coldCPU), ms(warm), ms(changes), heap1-heap0)
}
