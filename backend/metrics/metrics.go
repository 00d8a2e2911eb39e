// Package metrics counts what the backup service does, for the people who
// run it: backups by trigger and outcome, failures by kind, how long backups
// take, lock conflicts, and the depth of the queues (through gauges the
// service and the scheduler register). It serves them in the Prometheus text
// format and a health check over HTTP, and as a map for the stats of the
// NATS services API (`nats micro stats`). The exposition format is written
// by hand: it is a few lines of text, not worth a dependency.
package metrics

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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

// Metrics holds the counters of one process. The zero value is not usable;
// use New. A nil *Metrics ignores observations and registrations, so code
// that counts need not check whether anyone reads the counts.
type Metrics struct {
	started time.Time

	mu        sync.Mutex
	backups   map[backupKey]int64
	failures  map[api.ErrorKind]int64
	conflicts int64
	durations map[string]*histogram // by outcome
	gauges    []gauge
	checks    []check
}

type backupKey struct{ trigger, outcome string }

type histogram struct {
	counts []int64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  int64
}

type gauge struct {
	name, help string
	typ        string // gauge or counter
	labels     [][2]string
	fn         func() float64
}

type check struct {
	name string
	fn   func(context.Context) error
}

// New returns empty metrics.
func New() *Metrics {
	return &Metrics{
		started:   time.Now(),
		backups:   map[backupKey]int64{},
		failures:  map[api.ErrorKind]int64{},
		durations: map[string]*histogram{},
	}
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
	m.mu.Lock()
	defer m.mu.Unlock()
	m.backups[backupKey{string(trigger), outcome}]++
	switch r.Status {
	case api.StatusLocked:
		m.conflicts++
	case api.StatusSuccess:
	default:
		kind := r.ErrorKind
		if kind == "" {
			kind = api.KindInternal
		}
		m.failures[kind]++
	}
	h := m.durations[outcome]
	if h == nil {
		h = &histogram{counts: make([]int64, len(DurationBuckets)+1)}
		m.durations[outcome] = h
	}
	s := took.Seconds()
	i, _ := slices.BinarySearch(DurationBuckets, s) // first bound >= s
	h.counts[i]++
	h.sum += s
	h.count++
}

// GaugeFunc registers a gauge read when the metrics are served, such as a
// queue's depth. labels are name, value pairs.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64, labels ...string) {
	m.addFunc("gauge", name, help, fn, labels)
}

// CounterFunc registers a counter kept elsewhere (it must only grow), read
// when the metrics are served. labels are name, value pairs.
func (m *Metrics) CounterFunc(name, help string, fn func() float64, labels ...string) {
	m.addFunc("counter", name, help, fn, labels)
}

func (m *Metrics) addFunc(typ, name, help string, fn func() float64, labels []string) {
	if m == nil {
		return
	}
	g := gauge{name: name, help: help, typ: typ, fn: fn}
	for i := 0; i+1 < len(labels); i += 2 {
		g.labels = append(g.labels, [2]string{labels[i], labels[i+1]})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gauges = append(m.gauges, g)
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
// format (version 0.0.4), in a stable order.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	bw := bufio.NewWriter(w)
	m.mu.Lock()
	keys := make([]backupKey, 0, len(m.backups))
	for k := range m.backups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b backupKey) int {
		return cmp.Or(cmp.Compare(a.trigger, b.trigger), cmp.Compare(a.outcome, b.outcome))
	})
	header(bw, "cfgsnap_backups_total", "counter", "Backups finished, by trigger (manual, scheduled) and outcome (success, failed, locked).")
	for _, k := range keys {
		sample(bw, "cfgsnap_backups_total", [][2]string{{"trigger", k.trigger}, {"outcome", k.outcome}}, float64(m.backups[k]))
	}
	kinds := make([]api.ErrorKind, 0, len(m.failures))
	for k := range m.failures {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	header(bw, "cfgsnap_backup_failures_total", "counter", "Failed backups by error kind (protocol.md).")
	for _, k := range kinds {
		sample(bw, "cfgsnap_backup_failures_total", [][2]string{{"kind", string(k)}}, float64(m.failures[k]))
	}
	header(bw, "cfgsnap_lock_conflicts_total", "counter", "Backups refused because another job held the device.")
	sample(bw, "cfgsnap_lock_conflicts_total", nil, float64(m.conflicts))
	outcomes := make([]string, 0, len(m.durations))
	for o := range m.durations {
		outcomes = append(outcomes, o)
	}
	slices.Sort(outcomes)
	header(bw, "cfgsnap_backup_duration_seconds", "histogram", "How long backups took, from trigger to final reply, by outcome.")
	for _, o := range outcomes {
		h := m.durations[o]
		var cum int64
		for i, le := range DurationBuckets {
			cum += h.counts[i]
			sample(bw, "cfgsnap_backup_duration_seconds_bucket", [][2]string{{"outcome", o}, {"le", formatFloat(le)}}, float64(cum))
		}
		sample(bw, "cfgsnap_backup_duration_seconds_bucket", [][2]string{{"outcome", o}, {"le", "+Inf"}}, float64(h.count))
		sample(bw, "cfgsnap_backup_duration_seconds_sum", [][2]string{{"outcome", o}}, h.sum)
		sample(bw, "cfgsnap_backup_duration_seconds_count", [][2]string{{"outcome", o}}, float64(h.count))
	}
	gauges := slices.Clone(m.gauges)
	m.mu.Unlock()

	// Gauges and counter funcs are read outside the lock: they call into
	// the service and the scheduler.
	slices.SortStableFunc(gauges, func(a, b gauge) int { return cmp.Compare(a.name, b.name) })
	for i, g := range gauges {
		if i == 0 || gauges[i-1].name != g.name {
			header(bw, g.name, g.typ, g.help)
		}
		sample(bw, g.name, g.labels, g.fn())
	}
	header(bw, "cfgsnap_uptime_seconds", "gauge", "Seconds since this process started counting.")
	sample(bw, "cfgsnap_uptime_seconds", nil, math.Round(time.Since(m.started).Seconds()))
	return bw.Flush()
}

func header(w *bufio.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

func sample(w *bufio.Writer, name string, labels [][2]string, v float64) {
	w.WriteString(name)
	if len(labels) > 0 {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, "%s=\"%s\"", l[0], escapeLabel(l[1]))
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

// Stats returns the counters as the data of `nats micro stats`: backups by
// outcome and by trigger, failures by kind, lock conflicts, the duration
// count and mean per outcome, and every gauge.
func (m *Metrics) Stats() map[string]any {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	byOutcome, byTrigger := map[string]int64{}, map[string]int64{}
	for k, n := range m.backups {
		byOutcome[k.outcome] += n
		byTrigger[k.trigger] += n
	}
	failures := map[string]int64{}
	for k, n := range m.failures {
		failures[string(k)] = n
	}
	durations := map[string]map[string]float64{}
	for o, h := range m.durations {
		mean := 0.0
		if h.count > 0 {
			mean = h.sum / float64(h.count) * 1000
		}
		durations[o] = map[string]float64{"count": float64(h.count), "mean_ms": math.Round(mean)}
	}
	out := map[string]any{
		"backups": byOutcome, "backups_by_trigger": byTrigger, "failures": failures,
		"lock_conflicts": m.conflicts, "durations": durations,
	}
	gauges := slices.Clone(m.gauges)
	m.mu.Unlock()
	for _, g := range gauges {
		name := strings.TrimPrefix(g.name, "cfgsnap_")
		for _, l := range g.labels {
			name += "_" + l[1]
		}
		out[name] = g.fn()
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

// Handler serves /metrics (Prometheus text) and /healthz (200 "ok" when
// every check passes, 503 and the failures otherwise, one check a line).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = m.WritePrometheus(w)
	})
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
