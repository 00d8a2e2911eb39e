package ui

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/fleet"
)

// Performance with 10,000 devices in one tenant. Run with
//   go test ./ui -run '^$' -bench . -benchtime 20x
// and TestBytesPerProgressUpdate -v for the bytes on the wire.

const bigTenant = 10_000

func bigFake() *fakeClient {
	f := newFake()
	f.devices["acme"] = manyDevices("acme", bigTenant)
	f.tenants[0].DeviceCount = bigTenant
	return f
}

// loadedModel is a model that has its tenants but not yet the devices.
func loadedModel(tb testing.TB, f *fakeClient) *Model {
	m := New(Options{Client: f, User: "ops@jump1", Now: func() time.Time { return fixedNow }})
	m.syncMode = true
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(m.fleet.LoadTenants()()) // selects acme and asks for its devices
	if tenant, _ := m.fleet.Request(); tenant != "acme" {
		tb.Fatalf("tenant %q selected, want acme", tenant)
	}
	return m
}

// devicesReply is the reply to m's outstanding devices request.
func devicesReply(m *Model, devs []api.Device) tea.Msg {
	tenant, req := m.fleet.Request()
	return fleet.DevicesReply(req, tenant, devs)
}

// BenchmarkFirstFrame10k is the time from the devices reply arriving to
// the first full frame: applying the reply (index, sort, filter) and
// rendering.
func BenchmarkFirstFrame10k(b *testing.B) {
	f := bigFake()
	devs := f.devices["acme"]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var keep *Model
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := loadedModel(b, f)
		msg := devicesReply(m, slices.Clone(devs))
		b.StartTimer()
		m.Update(msg)
		if v := m.View(); !strings.Contains(v.Content, "dev-00000") {
			b.Fatal("first frame does not show the devices")
		}
		keep = m
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse-min(before.HeapInuse, after.HeapInuse))/(1<<20), "heap-MiB")
	runtime.KeepAlive(keep)
}

// BenchmarkFilterKeystroke10k types filters into a 10,000-device tenant
// and reports the keystroke-to-frame latency (Update and View) per key.
func BenchmarkFilterKeystroke10k(b *testing.B) {
	f := bigFake()
	m := loadedModel(b, f)
	m.Update(devicesReply(m, f.devices["acme"]))
	m.Update(keyPress("/"))
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, k := range []string{"d", "e", "v", "0", "1", "2", "backspace", "backspace", " ", "p", "o", "p", "7", "ctrl+u"} {
			start := time.Now()
			m.Update(keyPress(k))
			_ = m.View()
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms") // ns/op is for 14 keys
}

// BenchmarkProgressUpdate is the cost in the event loop of one progress
// update with three jobs running: the bridge delivery and a frame.
func BenchmarkProgressUpdate(b *testing.B) {
	f := bigFake()
	m := loadedModel(b, f)
	m.Update(devicesReply(m, f.devices["acme"]))
	m.Update(keyPress("space"))
	m.Update(keyPress("space"))
	m.Update(keyPress("space"))
	m.Update(keyPress("B")) // three jobs; their commands are not run here
	ids := m.jobs.IDs()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.bridge.PushProgress(ids[i%3], api.ProgressEvent{Stage: api.StageExporting, ElapsedMS: int64(i), Bytes: int64(i) * 100})
		msg, _ := m.bridge.take()
		m.Update(msg)
		_ = m.View()
	}
}

// syncBuffer is the program's terminal: written by the renderer, read by
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitQuiet waits until the output has not grown for a few frames.
func (s *syncBuffer) waitQuiet(tb testing.TB) int {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	last, since := s.Len(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		if n := s.Len(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 60*time.Millisecond {
			return n
		}
	}
	tb.Fatal("the terminal output never settled")
	return 0
}

// waitGrow waits until the output is longer than n.
func (s *syncBuffer) waitGrow(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() <= n {
		if time.Now().After(deadline) {
			tb.Fatal("a progress update wrote nothing within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *syncBuffer) waitFor(tb testing.TB, sub string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(s.String(), sub) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	tb.Fatalf("the terminal never showed %q", sub)
}

// measureProgressBytes runs the real program (renderer, bridge listener,
// ticks) on a 120×40 terminal with three backups running and returns the
// bytes written for each of n progress updates.
func measureProgressBytes(tb testing.TB, n int) []int {
	f := bigFake()
	m := New(Options{Client: f, User: "ops@jump1", Now: func() time.Time { return fixedNow }})
	m.stillSpinner = true // count what progress changes, not the animation
	var out syncBuffer
	p := tea.NewProgram(m, tea.WithInput(nil), tea.WithOutput(&out), tea.WithWindowSize(120, 40),
		tea.WithoutSignals(), tea.WithColorProfile(colorprofile.ANSI256),
		tea.WithEnvironment([]string{"TERM=xterm-256color"}))
	done := make(chan error, 1)
	go func() { _, err := p.Run(); done <- err }()
	defer func() {
		p.Quit()
		if err := <-done; err != nil {
			tb.Errorf("program: %v", err)
		}
		m.shutdown()
	}()
	out.waitFor(tb, "dev-00002")
	for _, k := range []string{"space", "space", "space", "B"} {
		p.Send(keyPress(k))
	}
	for _, d := range []string{"dev-00000", "dev-00001", "dev-00002"} {
		f.waitBackup(tb, "acme/"+d)
	}
	out.waitQuiet(tb)
	sizes := make([]int, 0, n)
	for i := 0; i < n; i++ {
		before := out.Len()
		dev := fmt.Sprintf("dev-%05d", i%3)
		stage := api.Stages[min(2+i/3, len(api.Stages)-1)]
		f.progress(tb, "acme/"+dev, stage, int64(100+i*37), int64(i*2048))
		// Every update changes the screen: wait for its first bytes before
		// waiting for quiet, or a loaded machine's slow frame reads as 0.
		out.waitGrow(tb, before)
		sizes = append(sizes, out.waitQuiet(tb)-before)
	}
	return sizes
}

func TestBytesPerProgressUpdate(t *testing.T) {
	sizes := measureProgressBytes(t, 24)
	slices.Sort(sizes)
	total := 0
	for _, s := range sizes {
		total += s
	}
	t.Logf("bytes per progress update, 3 jobs on 120×40: median %d, max %d, mean %d", sizes[len(sizes)/2], sizes[len(sizes)-1], total/len(sizes))
	if sizes[0] == 0 {
		t.Fatal("a progress update wrote nothing: the measurement missed the frames")
	}
	// A full repaint of 120×40 is well over 5 KB; an update must only
	// touch the cells that changed.
	if med := sizes[len(sizes)/2]; med > 1500 {
		t.Fatalf("median %d bytes per progress update: the renderer is repainting too much", med)
	}
}
