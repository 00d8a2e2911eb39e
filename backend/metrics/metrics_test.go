package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

func failed(kind api.ErrorKind) api.TriggerReply {
	return api.TriggerReply{Status: api.StatusFailed, ErrorKind: kind}
}

func TestPrometheusText(t *testing.T) {
	m := New()
	m.ObserveBackup(api.TriggerManual, api.TriggerReply{Status: api.StatusSuccess}, 125*time.Millisecond)
	m.ObserveBackup(api.TriggerScheduled, api.TriggerReply{Status: api.StatusSuccess}, 500*time.Millisecond)
	m.ObserveBackup(api.TriggerScheduled, api.TriggerReply{Status: api.StatusSuccess}, time.Second) // on a bound: le is inclusive
	m.ObserveBackup(api.TriggerScheduled, failed(api.KindTimeout), 400*time.Second)
	m.ObserveBackup(api.TriggerManual, api.TriggerReply{Status: api.StatusLocked}, time.Millisecond)
	depth := 7
	m.GaugeFunc("cfgsnap_queue_depth", "Backups waiting for a worker.", func() float64 { return float64(depth) }, "queue", "service")
	m.GaugeFunc("cfgsnap_queue_depth", "Backups waiting for a worker.", func() float64 { return 2 }, "queue", "schedule")

	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# TYPE cfgsnap_backups_total counter\n",
		`cfgsnap_backups_total{outcome="locked",trigger="manual"} 1` + "\n",
		`cfgsnap_backups_total{outcome="success",trigger="manual"} 1` + "\n",
		`cfgsnap_backups_total{outcome="failed",trigger="scheduled"} 1` + "\n",
		`cfgsnap_backups_total{outcome="success",trigger="scheduled"} 2` + "\n",
		`cfgsnap_backup_failures_total{kind="timeout"} 1` + "\n",
		"cfgsnap_lock_conflicts_total 1\n",
		"# TYPE cfgsnap_backup_duration_seconds histogram\n",
		`cfgsnap_backup_duration_seconds_bucket{outcome="success",le="0.1"} 0` + "\n",
		`cfgsnap_backup_duration_seconds_bucket{outcome="success",le="0.25"} 1` + "\n",
		`cfgsnap_backup_duration_seconds_bucket{outcome="success",le="0.5"} 2` + "\n",
		`cfgsnap_backup_duration_seconds_bucket{outcome="success",le="1"} 3` + "\n",
		`cfgsnap_backup_duration_seconds_bucket{outcome="success",le="+Inf"} 3` + "\n",
		`cfgsnap_backup_duration_seconds_count{outcome="success"} 3` + "\n",
		`cfgsnap_backup_duration_seconds_sum{outcome="success"} 1.625` + "\n",
		`cfgsnap_backup_duration_seconds_bucket{outcome="failed",le="300"} 0` + "\n",
		`cfgsnap_backup_duration_seconds_bucket{outcome="failed",le="+Inf"} 1` + "\n",
		`cfgsnap_queue_depth{queue="service"} 7` + "\n",
		`cfgsnap_queue_depth{queue="schedule"} 2` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "# TYPE cfgsnap_queue_depth gauge"); n != 1 {
		t.Errorf("queue depth declared %d times, want once for both queues", n)
	}
	checkSyntax(t, out)
}

// checkSyntax checks every line against the text format's grammar, as a
// Prometheus server would parse it.
func checkSyntax(t *testing.T, out string) {
	t.Helper()
	sampleLine := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$`)
	declared := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if declared[name] {
				t.Errorf("%s declared twice", name)
			}
			declared[name] = true
			if typ != "counter" && typ != "gauge" && typ != "histogram" && typ != "summary" {
				t.Errorf("bad type line %q", line)
			}
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		if !sampleLine.MatchString(line) {
			t.Errorf("not a sample line: %q", line)
		}
	}
}

func TestLabelEscaping(t *testing.T) {
	m := New()
	m.GaugeFunc("cfgsnap_odd", "A help with a \\ and\na newline.", func() float64 { return 1 }, "v", "a\"b\\c\nd")
	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `cfgsnap_odd{v="a\"b\\c\nd"} 1`) || !strings.Contains(b.String(), `# HELP cfgsnap_odd A help with a \\ and\na newline.`) {
		t.Errorf("escaping:\n%s", b.String())
	}
	checkSyntax(t, b.String())
}

func TestNilMetricsIgnoresObservations(t *testing.T) {
	var m *Metrics
	m.ObserveBackup(api.TriggerManual, api.TriggerReply{Status: api.StatusSuccess}, time.Second)
	m.GaugeFunc("x", "y", func() float64 { return 0 })
	m.AddCheck("x", func(context.Context) error { return nil })
	if m.Stats() != nil {
		t.Error("nil metrics have stats")
	}
}

func TestStats(t *testing.T) {
	m := New()
	m.ObserveBackup(api.TriggerScheduled, api.TriggerReply{Status: api.StatusSuccess}, 200*time.Millisecond)
	m.ObserveBackup(api.TriggerManual, api.TriggerReply{Status: api.StatusSuccess}, 400*time.Millisecond)
	m.ObserveBackup(api.TriggerManual, failed(""), time.Second)
	m.ObserveBackup(api.TriggerManual, api.TriggerReply{Status: api.StatusLocked}, 0)
	m.GaugeFunc("cfgsnap_queue_depth", "q", func() float64 { return 3 }, "queue", "service")
	s := m.Stats()
	if b := s["backups"].(map[string]int64); b["success"] != 2 || b["failed"] != 1 || b["locked"] != 1 {
		t.Errorf("backups = %v", b)
	}
	if b := s["backups_by_trigger"].(map[string]int64); b["manual"] != 3 || b["scheduled"] != 1 {
		t.Errorf("by trigger = %v", b)
	}
	if f := s["failures"].(map[string]int64); f["internal"] != 1 {
		t.Errorf("a failure without a kind is not counted as internal: %v", f)
	}
	if s["lock_conflicts"] != int64(1) || s["queue_depth_service"] != 3.0 {
		t.Errorf("conflicts %v, queue %v", s["lock_conflicts"], s["queue_depth_service"])
	}
	if d := s["durations"].(map[string]map[string]float64)["success"]; d["count"] != 2 || d["mean_ms"] != 300 {
		t.Errorf("success durations = %v", d)
	}
}

func TestHandler(t *testing.T) {
	m := New()
	m.ObserveBackup(api.TriggerManual, api.TriggerReply{Status: api.StatusSuccess}, time.Second)
	var natsUp sync.Mutex
	healthy := true
	m.AddCheck("nats", func(context.Context) error {
		natsUp.Lock()
		defer natsUp.Unlock()
		if !healthy {
			return errors.New("disconnected from nats://10.0.0.1:4222")
		}
		return nil
	})
	m.AddCheck("store", func(context.Context) error { return nil })
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `cfgsnap_backups_total{outcome="success",trigger="manual"} 1`) {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\nnats: ok\nstore: ok\n" {
		t.Errorf("/healthz while healthy: %d %q", code, body)
	}
	natsUp.Lock()
	healthy = false
	natsUp.Unlock()
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "nats: disconnected from nats://10.0.0.1:4222") {
		t.Errorf("/healthz with NATS down: %d %q", code, body)
	}
	if code, _ := get("/nothing"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

// Counting from many goroutines while the metrics are served loses nothing.
func TestConcurrentObservations(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 500 {
				m.ObserveBackup(api.TriggerScheduled, api.TriggerReply{Status: api.StatusSuccess}, time.Duration(i)*time.Millisecond)
				if i%100 == 0 {
					_ = m.WritePrometheus(io.Discard)
					_ = m.Stats()
				}
			}
		})
	}
	wg.Wait()
	var b strings.Builder
	_ = m.WritePrometheus(&b)
	if want := fmt.Sprintf(`cfgsnap_backups_total{outcome="success",trigger="scheduled"} %d`, 8*500); !strings.Contains(b.String(), want) {
		t.Errorf("lost observations:\n%s", b.String())
	}
}

// A Prometheus server scraping /metrics finds the Go runtime and process
// collectors next to cfgsnap's own series, registered by the service and the
// scheduler under one name with their own label values.
func TestScrapeHasRuntimeProcessAndCfgsnapSeries(t *testing.T) {
	m := New()
	m.ObserveBackup(api.TriggerScheduled, failed(api.KindAuthFailed), 2*time.Second)
	m.GaugeFunc("cfgsnap_queue_depth", "Backups waiting for a worker.", func() float64 { return 4 }, "queue", "service")
	m.GaugeFunc("cfgsnap_queue_depth", "Backups due and waiting for a free runner or worker.", func() float64 { return 1 }, "queue", "schedule")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"\ngo_goroutines ", "\ngo_memstats_alloc_bytes ", "\nprocess_start_time_seconds ",
		`cfgsnap_backups_total{outcome="failed",trigger="scheduled"} 1`,
		`cfgsnap_backup_failures_total{kind="auth_failed"} 1`,
		`cfgsnap_backup_duration_seconds_bucket{outcome="failed",le="2.5"} 1`,
		"cfgsnap_lock_conflicts_total 0",
		`cfgsnap_queue_depth{queue="service"} 4`, `cfgsnap_queue_depth{queue="schedule"} 1`,
		"\ncfgsnap_uptime_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Count(body, "# HELP cfgsnap_queue_depth ") != 1 {
		t.Errorf("queue depth has more than one help line:\n%s", body)
	}
	checkSyntax(t, body)
}

// The same series registered twice (two schedulers in one process) is one
// series whose value is the sum, and /metrics still gathers.
func TestSameSeriesTwiceAddsUp(t *testing.T) {
	m := New()
	m.GaugeFunc("cfgsnap_queue_depth", "Backups waiting.", func() float64 { return 2 }, "queue", "schedule")
	m.GaugeFunc("cfgsnap_queue_depth", "Backups waiting.", func() float64 { return 3 }, "queue", "schedule")
	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `cfgsnap_queue_depth{queue="schedule"} 5`) {
		t.Errorf("want one series of 5:\n%s", b.String())
	}
}
