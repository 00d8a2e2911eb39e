// Package metrics counts what the backup service does, for the people who
// run it: backups by trigger and outcome, failures by kind, how long backups
// take, lock conflicts, and the depth of the queues (through gauges the
// service and the scheduler register). It serves them through a Prometheus
// registry (client_golang, with the Go runtime and process collectors) and
// a health check over HTTP, and as a map for the stats of the NATS services
// API (`nats micro stats`).
package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// DurationBuckets are the upper bounds, in seconds, of the backup duration
// histogram: a small router exports in well under a second, a big one over
// a slow link takes minutes.
var DurationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Outcome labels beyond the reply statuses.
const (
	OutcomeSuccess = string(api.StatusSuccess)
	OutcomeFailed  = string(api.StatusFailed)
	OutcomeLocked  = string(api.StatusLocked)
)

// Metrics holds the counters of one process in its own Prometheus registry
// (not the global one: tests and the demo run several services in one
// process). The zero value is not usable; use New. A nil *Metrics ignores
// observations and registrations, so code that counts need not check
// whether anyone reads the counts.
type Metrics struct {
	reg       *prometheus.Registry
	backups   *prometheus.CounterVec
	failures  *prometheus.CounterVec
	conflicts prometheus.Counter
	durations *prometheus.HistogramVec
	funcs     *funcCollector

	mu     sync.Mutex
	checks []check
}

type check struct {
	name string
	fn   func(context.Context) error
}

// New returns empty metrics, with the Go runtime and process collectors.
func New() *Metrics {
	started := time.Now()
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cfgsnap_backups_total",
			Help: "Backups finished, by trigger (manual, scheduled) and outcome (success, failed, locked).",
		}, []string{"trigger", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cfgsnap_backup_failures_total",
			Help: "Failed backups by error kind (docs/protocol.md).",
		}, []string{"kind"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cfgsnap_lock_conflicts_total",
			Help: "Backups refused because another job held the device.",
		}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cfgsnap_backup_duration_seconds",
			Help:    "How long backups took, from trigger to final reply, by outcome.",
			Buckets: DurationBuckets,
		}, []string{"outcome"}),
		funcs: &funcCollector{help: map[string]string{}},
	}
	m.reg.MustRegister(m.backups, m.failures, m.conflicts, m.durations, m.funcs,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.GaugeFunc("cfgsnap_uptime_seconds", "Seconds since this process started counting.",
		func() float64 { return time.Since(started).Round(time.Second).Seconds() })
	return m
}

// ObserveBackup counts one finished backup: its trigger, its outcome (the
// reply's status), its error kind when it failed, and how long it took. A
// locked reply is also a lock conflict.
func (m *Metrics) ObserveBackup(trigger api.Trigger, r api.TriggerReply, took time.Duration) {
	if m == nil {
		return
	}
	if trigger == "" {
		trigger = api.TriggerManual
	}
	outcome := string(r.Status)
	if outcome == "" {
		outcome = OutcomeFailed
	}
	m.backups.WithLabelValues(string(trigger), outcome).Inc()
	switch r.Status {
	case api.StatusLocked:
		m.conflicts.Inc()
	case api.StatusSuccess:
	default:
		kind := r.ErrorKind
		if kind == "" {
			kind = api.KindInternal
		}
		m.failures.WithLabelValues(string(kind)).Inc()
	}
	m.durations.WithLabelValues(outcome).Observe(took.Seconds())
}

// GaugeFunc registers a gauge read when the metrics are served, such as a
// queue's depth. labels are name, value pairs.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64, labels ...string) {
	m.addFunc(prometheus.GaugeValue, name, help, fn, labels)
}

// CounterFunc registers a counter kept elsewhere (it must only grow), read
// when the metrics are served. labels are name, value pairs.
func (m *Metrics) CounterFunc(name, help string, fn func() float64, labels ...string) {
	m.addFunc(prometheus.CounterValue, name, help, fn, labels)
}

func (m *Metrics) addFunc(typ prometheus.ValueType, name, help string, fn func() float64, labels []string) {
	if m == nil {
		return
	}
	m.funcs.add(typ, name, help, fn, labels)
}

// funcCollector serves the gauges and counters read from functions. It is
// one unchecked collector rather than a prometheus.GaugeFunc each because
// the service and the scheduler register the same series name (the queue
// depth) with their own label value and help text, at different times: the
// registry would refuse the second registration.
type funcCollector struct {
	mu    sync.Mutex
	funcs []funcMetric
	help  map[string]string // the first help text registered for a name: one per family
}

type funcMetric struct {
	typ    prometheus.ValueType
	name   string
	labels [][2]string
	desc   *prometheus.Desc
	fn     func() float64
}

func (c *funcCollector) add(typ prometheus.ValueType, name, help string, fn func() float64, labels []string) {
	f := funcMetric{typ: typ, name: name, fn: fn}
	names := []string{}
	for i := 0; i+1 < len(labels); i += 2 {
		f.labels = append(f.labels, [2]string{labels[i], labels[i+1]})
		names = append(names, labels[i])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.help[name]; ok {
		help = first
	} else {
		c.help[name] = help
	}
	f.desc = prometheus.NewDesc(name, help, names, nil)
	for i, g := range c.funcs {
		if g.name == name && slices.Equal(g.labels, f.labels) {
			// The same series from a second source in this process (two
			// schedulers in one test, say) adds up, as the registry would
			// otherwise refuse to gather anything at all.
			prev := g.fn
			c.funcs[i].fn = func() float64 { return prev() + fn() }
			return
		}
	}
	c.funcs = append(c.funcs, f)
}

// Describe sends nothing: the collector is unchecked, its series are known
// only as they are registered.
func (c *funcCollector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every function outside the lock: they call into the
// service and the scheduler.
func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	funcs := slices.Clone(c.funcs)
	c.mu.Unlock()
	for _, f := range funcs {
		values := make([]string, len(f.labels))
		for i, l := range f.labels {
			values[i] = l[1]
		}
		ch <- prometheus.MustNewConstMetric(f.desc, f.typ, f.fn(), values...)
	}
}

// AddCheck registers a health check, run by the health endpoint: the NATS
// connection, the store's stream, ...
func (m *Metrics) AddCheck(name string, fn func(context.Context) error) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checks = append(m.checks, check{name, fn})
}

// WritePrometheus writes every metric in the Prometheus text exposition
// format (version 0.0.4), sorted by name, as /metrics serves it.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	families, err := m.reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

// Stats returns the counters as the data of `nats micro stats`: backups by
// outcome and by trigger, failures by kind, lock conflicts, the duration
// count and mean per outcome, and every registered gauge and counter func.
func (m *Metrics) Stats() map[string]any {
	if m == nil {
		return nil
	}
	families, _ := m.reg.Gather() // a partial gather still has the counters
	byOutcome, byTrigger := map[string]int64{}, map[string]int64{}
	failures := map[string]int64{}
	durations := map[string]map[string]float64{}
	var conflicts int64
	for _, mf := range families {
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "cfgsnap_backups_total":
				n := int64(s.GetCounter().GetValue())
				byOutcome[labels["outcome"]] += n
				byTrigger[labels["trigger"]] += n
			case "cfgsnap_backup_failures_total":
				failures[labels["kind"]] = int64(s.GetCounter().GetValue())
			case "cfgsnap_lock_conflicts_total":
				conflicts = int64(s.GetCounter().GetValue())
			case "cfgsnap_backup_duration_seconds":
				h := s.GetHistogram()
				mean := 0.0
				if h.GetSampleCount() > 0 {
					mean = h.GetSampleSum() / float64(h.GetSampleCount()) * 1000
				}
				durations[labels["outcome"]] = map[string]float64{"count": float64(h.GetSampleCount()), "mean_ms": math.Round(mean)}
			}
		}
	}
	out := map[string]any{
		"backups": byOutcome, "backups_by_trigger": byTrigger, "failures": failures,
		"lock_conflicts": conflicts, "durations": durations,
	}
	m.funcs.mu.Lock()
	funcs := slices.Clone(m.funcs.funcs)
	m.funcs.mu.Unlock()
	for _, f := range funcs {
		name := strings.TrimPrefix(f.name, "cfgsnap_")
		for _, l := range f.labels {
			name += "_" + l[1]
		}
		out[name] = f.fn()
	}
	return out
}

// checkTimeout bounds one health check.
const checkTimeout = 2 * time.Second

// Health runs every check and returns whether all passed and each one's
// result ("ok" or its error).
func (m *Metrics) Health(ctx context.Context) (bool, map[string]string) {
	m.mu.Lock()
	checks := slices.Clone(m.checks)
	m.mu.Unlock()
	results := make(map[string]string, len(checks))
	ok := true
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			res := "ok"
			if err := c.fn(cctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			if res != "ok" {
				ok = false
			}
			results[c.name] = res
		})
	}
	wg.Wait()
	return ok, results
}

// Handler serves /metrics (promhttp: text or a negotiated format) and /healthz (200 "ok" when
// every check passes, 503 and the failures otherwise, one check a line).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, results := m.Health(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		names := make([]string, 0, len(results))
		for n := range results {
			names = append(names, n)
		}
		slices.Sort(names)
		status := "ok"
		if !ok {
			status = "unhealthy"
		}
		fmt.Fprintln(w, status)
		for _, n := range names {
			fmt.Fprintf(w, "%s: %s\n", n, strings.ReplaceAll(results[n], "\n", " "))
		}
	})
	return mux
}
