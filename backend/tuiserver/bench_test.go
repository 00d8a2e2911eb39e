package tuiserver

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"
)

// TestBenchSessions measures what scripts/bench-tui-ssh.sh reports: N
// concurrent sessions (default 50) on a simulated fleet (default 1,000
// devices), keystroke-to-frame latency (send j, time until output comes
// back) and the memory each session adds. Set CFGSNAP_BENCH_TUI=1 to run;
// it fails if p99 exceeds CFGSNAP_BENCH_P99_MS (default 50).
func TestBenchSessions(t *testing.T) {
	if os.Getenv("CFGSNAP_BENCH_TUI") != "1" {
		t.Skip("set CFGSNAP_BENCH_TUI=1 (scripts/bench-tui-ssh.sh)")
	}
	sessions, devices, presses := envInt("CFGSNAP_BENCH_SESSIONS", 50), envInt("CFGSNAP_BENCH_DEVICES", 1000), envInt("CFGSNAP_BENCH_KEYS", 40)
	limitMS := envInt("CFGSNAP_BENCH_P99_MS", 50)
	e := startEnv(t, envOptions{devices: devices, maxSessions: sessions + 1})
	heap0, rss0 := memNow()
	g0 := runtime.NumGoroutine()
	type sess struct {
		conn   *gossh.Client
		s      *gossh.Session
		in     interface{ Write([]byte) (int, error) }
		change chan time.Time
		mu     sync.Mutex
		seen   bool
		shown  string
	}
	var all []*sess
	var writes atomic.Int64 // output reads on the client side, all sessions
	for i := range sessions {
		conn, err := e.dial(e.keys["root"])
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		s, err := conn.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RequestPty("xterm-256color", 40, 140, gossh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
		out, _ := s.StdoutPipe()
		in, _ := s.StdinPipe()
		if err := s.Shell(); err != nil {
			t.Fatal(err)
		}
		x := &sess{conn: conn, s: s, in: in, change: make(chan time.Time, 64)}
		go func() {
			// Output is read and dropped: the client's buffers must not
			// count as the server's memory.
			buf := make([]byte, 64<<10)
			acc := ""
			for {
				n, err := out.Read(buf)
				if n > 0 {
					x.mu.Lock()
					if !x.seen {
						acc += string(buf[:n])
						x.seen = strings.Contains(ansi.Strip(acc), "never") // device rows are loaded
						x.shown = acc
						if x.seen {
							acc = ""
						}
					}
					x.mu.Unlock()
					writes.Add(1)
					select {
					case x.change <- time.Now():
					default:
					}
				}
				if err != nil {
					return
				}
			}
		}()
		all = append(all, x)
	}
	deadline := time.Now().Add(time.Duration(envInt("CFGSNAP_BENCH_WAIT_S", 120)) * time.Second)
	for _, x := range all {
		for {
			x.mu.Lock()
			ok := x.seen
			x.mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				x.mu.Lock()
				shown := x.shown
				x.mu.Unlock()
				t.Fatalf("a session never showed the fleet; it shows:\n%s", tail(ansi.Strip(shown)))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // first loads and background-colour queries settle
	heap1, rss1 := memNow()
	g1 := runtime.NumGoroutine()
	if path := os.Getenv("CFGSNAP_BENCH_HEAPPROFILE"); path != "" {
		// What the open sessions hold (go tool pprof -sample_index=inuse_space).
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	// CPU spent while nobody types: ticks, renderer wakeups, idle timers.
	const idleFor = 3 * time.Second
	idle0, w0 := cpuNow(), writes.Load()
	time.Sleep(idleFor)
	idleCPU, idleWrites := cpuNow()-idle0, writes.Load()-w0
	cpu0, t0, wt0 := cpuNow(), time.Now(), writes.Load()

	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for _, x := range all {
		wg.Go(func() {
			for i := range presses {
				for len(x.change) > 0 {
					<-x.change
				}
				k := "j"
				if i%10 >= 5 {
					k = "k"
				}
				start := time.Now()
				if _, err := x.in.Write([]byte(k)); err != nil {
					t.Error(err)
					return
				}
				select {
				case at := <-x.change:
					mu.Lock()
					lat = append(lat, at.Sub(start))
					mu.Unlock()
				case <-time.After(5 * time.Second):
					t.Error("no frame within 5s of a keystroke")
					return
				}
				time.Sleep(time.Duration(50+i%7*10) * time.Millisecond) // a person's pace, desynchronised
			}
		})
	}
	wg.Wait()
	// CPU per keystroke is less sensitive to other load on the machine than
	// latency is; it includes the SSH client side (same process) and the
	// idle cost over the typing period, which is subtracted.
	typing := cpuNow() - cpu0 - time.Duration(float64(idleCPU)*time.Since(t0).Seconds()/idleFor.Seconds())
	typedWrites := writes.Load() - wt0
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	perHeap := float64(heap1-heap0) / float64(sessions) / 1024
	perRSS := float64(rss1-rss0) / float64(sessions) / 1024
	fmt.Printf("tui-ssh bench: %d sessions, %d devices, %d keystrokes on %d CPUs\n", sessions, devices, len(lat), runtime.NumCPU())
	fmt.Printf("keystroke-to-frame: p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50).Round(10*time.Microsecond),
		pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	fmt.Printf("cpu: %s per keystroke (client side included; %.2f outputs per keystroke), idle %.1f ms/s and %.1f outputs/s per session\n",
		(typing / time.Duration(max(len(lat), 1))).Round(10*time.Microsecond), float64(typedWrites)/float64(max(len(lat), 1)),
		float64(idleCPU.Microseconds())/1000/idleFor.Seconds()/float64(sessions),
		float64(idleWrites)/idleFor.Seconds()/float64(sessions))
	fmt.Printf("memory per session: heap %.0f KiB, RSS %.0f KiB (client side of the SSH connections included); goroutines per session %.1f\n",
		perHeap, perRSS, float64(g1-g0)/float64(sessions))
	for _, x := range all {
		x.s.Close()
		x.conn.Close()
	}
	if p99 := pct(0.99); p99 > time.Duration(limitMS)*time.Millisecond {
		t.Errorf("p99 %s over %d ms", p99, limitMS)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cpuNow is the user and system CPU time the process has used.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memNow is the live heap after a GC and the process's resident set.
func memNow() (heap, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			rss = kb * 1024
		}
	}
	return ms.HeapAlloc, rss
}
