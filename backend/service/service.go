// Package service is the backup service: it answers the NATS subjects of
// docs/protocol.md with the same pipeline, store and lock that the
// CLI's direct mode uses on one data directory. Every worker subscribes in
// one queue group, so each request gets exactly one answer however many
// `cfgsnap serve` processes share the NATS server; a trigger's handler only
// takes the device's lock and hands the job to a bounded pool, so the
// endpoint never waits for a device.
//
// Beyond protocol.md, as extensions old clients can ignore:
//   - Heartbeats: while a job is queued or runs, its current stage is
//     re-sent as a progress event every Config.Heartbeat (2 s by default)
//     when nothing else was sent, so a requester can tell a slow device
//     from a dead worker (client.RemoteOptions.StallTimeout, 15 s).
//   - The observers' subject cfgsnap.backup.progress.<tenant>.<device>
//     carries each job's final reply too, with header Cfgsnap-Event: final,
//     so a watcher knows when the job ended and how.
//   - Replies larger than the server's max_payload (snapshot.get of a big
//     export, long lists) come in chunks: see api.HeaderChunk.
//   - snapshot.get's sha256_hash may also be "latest" or a unique prefix of
//     at least 7 hex digits, as on the command line.
//   - Refused queries (inventory.*, snapshot.*) answer
//     {"error", "error_kind"} with the micro error headers
//     (Nats-Service-Error, Nats-Service-Error-Code), so `nats micro stats`
//     counts them; the trigger endpoints add their job outcomes and the
//     pool's load to the stats data.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
)

// Name is the service's name in the NATS services API (`nats micro ls`).
const Name = "cfgsnap"

// Defaults for Config fields left zero.
const (
	DefaultQueueDepth = 256
	DefaultHeartbeat  = 2 * time.Second
	DefaultGrace      = 30 * time.Second
)

// DefaultWorkers is twice the CPUs, at least 4: a worker mostly waits for a
// device, so more workers than CPUs keep the machine busy.
func DefaultWorkers() int { return max(4, 2*runtime.NumCPU()) }

// Config is what a Service needs. Conn and Stack are required.
type Config struct {
	Conn  *nats.Conn
	Stack *local.Stack
	// Prefix is the first token of the subjects; "" is api.DefaultPrefix.
	Prefix string
	// Workers is how many backups run at once.
	Workers int
	// QueueDepth bounds the jobs waiting for a worker; past it a trigger
	// fails at once with a "busy" error instead of waiting unseen.
	QueueDepth int
	// Compat answers the seed-compatible config.backup.trigger too.
	Compat bool
	Logger *slog.Logger
	// Heartbeat is how often a job's current stage is re-sent while it runs,
	// so a requester can tell a slow device from a dead worker.
	Heartbeat time.Duration
	// Grace is how long Shutdown lets running jobs finish before it fails
	// them.
	Grace time.Duration
	// Metrics, when set, counts every trigger's outcome and duration and
	// exposes the pool's queue depth (serve's --metrics-listen).
	Metrics *metrics.Metrics
	// Version is shown by `nats micro info`; a non-semver build ("dev") is
	// reported as 0.0.0 with the build string in the metadata.
	Version string
	// InboxPrefixes are reply subject prefixes allowed besides _INBOX.
	// ("_INBOX_x" and "_INBOX_x." are the same); a request on tenant T's
	// subjects may also be answered on _INBOX_T. (the convention of
	// examples/nats-tenants.conf). The service replies,
	// streams progress and sends chunks only under an allowed prefix; a
	// request whose reply subject is elsewhere (another tenant's inbox, the
	// service's own subjects, the JetStream API) is dropped unanswered and
	// undone, logged once per requester and counted
	// (cfgsnap_replies_refused_total).
	InboxPrefixes []string
	// TenantInboxPrefixes are a tenant's own inbox prefixes: requests on
	// that tenant's subjects may be answered only there.
	TenantInboxPrefixes map[string][]string
	// TriggerLimit, when set, bounds each tenant's triggers (serve
	// --tenant-rate-limit); refused ones are answered rate_limited.
	TriggerLimit *ratelimit.Limiter
}

// Service answers the protocol's subjects on one NATS connection.
type Service struct {
	cfg  Config
	subj api.Subjects
	log  *slog.Logger
	svc  micro.Service
	// inbox decides where replies may go.
	inbox *inboxGuard

	queue chan *task
	// runCtx is every job's context; Shutdown cancels it after the grace
	// period.
	runCtx    context.Context
	cancelRun context.CancelFunc

	mu      sync.Mutex
	closing bool
	active  map[*task]struct{} // queued or running
	jobs    sync.WaitGroup     // one per active task
	workers sync.WaitGroup
	stopped chan struct{} // closed by Shutdown: workers and the heartbeat end

	// Outcomes per trigger endpoint and the pool's load, for the stats
	// data of `nats micro stats`.
	triggerStats, compatStats counters
	running                   atomic.Int64

	fleet fleetEngine // search and changes (search.go)
}

// counters count a trigger endpoint's outcomes. The micro counters cannot:
// a job is answered after its handler has returned.
type counters struct {
	success, failed, locked, busy atomic.Int64
}

// count records a final reply in the endpoint's counters and the metrics.
func (s *Service) count(c *counters, r api.TriggerReply) {
	c.count(r)
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.ObserveBackup(api.TriggerManual, r, time.Duration(r.DurationMS)*time.Millisecond)
	}
}

func (c *counters) count(r api.TriggerReply) {
	switch r.Status {
	case api.StatusSuccess:
		c.success.Add(1)
	case api.StatusLocked:
		c.locked.Add(1)
	default:
		c.failed.Add(1)
	}
}

// New returns a service with cfg's zero fields defaulted. Start it with
// Start.
func New(cfg Config) *Service {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers()
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = DefaultQueueDepth
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, subj: api.Subjects{Prefix: cfg.Prefix}, log: cfg.Logger,
		inbox:  newInboxGuard(cfg.Prefix, cfg.InboxPrefixes, cfg.TenantInboxPrefixes),
		queue:  make(chan *task, cfg.QueueDepth),
		runCtx: runCtx, cancelRun: cancel,
		active:  map[*task]struct{}{},
		stopped: make(chan struct{}),
	}
}

type endpoint struct {
	name, subject string
	h             micro.HandlerFunc
}

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// Start registers the service and its endpoints and starts the workers.
// When it returns, the server knows every subscription.
func (s *Service) Start(ctx context.Context) error {
	if m := s.cfg.Metrics; m != nil {
		m.GaugeFunc("cfgsnap_queue_depth", "Backups waiting for a worker.", func() float64 { return float64(len(s.queue)) }, "queue", "service")
		m.GaugeFunc("cfgsnap_jobs_running", "Backups running now.", func() float64 { return float64(s.running.Load()) })
		for _, reason := range []string{refusedNotInbox, refusedTenantInbox, refusedBadSubject} {
			c := s.inbox.counts[reason]
			m.CounterFunc("cfgsnap_replies_refused_total", "Requests dropped because their reply subject is not an allowed inbox.",
				func() float64 { return float64(c.Load()) }, "reason", reason)
		}
	}
	version, meta := s.cfg.Version, map[string]string{}
	if !semver.MatchString(version) {
		meta["build"] = version
		version = "0.0.0"
	}
	svc, err := micro.AddService(s.cfg.Conn, micro.Config{
		Name: Name, Version: version, Metadata: meta,
		Description:  "cfgsnap: verified RouterOS configuration backups (protocol.md)",
		QueueGroup:   api.QueueGroup,
		StatsHandler: s.endpointStats,
	})
	if err != nil {
		return fmt.Errorf("register service: %w", err)
	}
	s.svc = svc
	p := s.subj.Prefix
	if p == "" {
		p = api.DefaultPrefix
	}
	endpoints := []endpoint{
		{"trigger", p + ".backup.trigger.*", s.handleTrigger},
		{"tenants", p + ".inventory.tenants", s.handleTenants},
		{"devices", p + ".inventory.devices.*", s.handleDevices},
		{"list", p + ".snapshot.list.*", s.handleList},
		{"get", p + ".snapshot.get.*", s.handleGet},
		{"search", p + ".search.*", s.handleSearch},
		{"changes", p + ".changes.*", s.handleChanges},
		{"pin", p + ".snapshot.pin.*", s.handlePin},
	}
	if s.cfg.Compat {
		endpoints = append(endpoints, endpoint{"compat_trigger", api.CompatTriggerSubject, s.handleCompat})
	}
	for _, e := range endpoints {
		if err := svc.AddEndpoint(e.name, e.h, micro.WithEndpointSubject(e.subject)); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("add endpoint %s (%s): %w", e.name, e.subject, err)
		}
	}
	s.cfg.Stack.OnStored(s.snapshotStored)
	for range s.cfg.Workers {
		s.workers.Add(1)
		go s.work()
	}
	go s.heartbeat()
	s.workers.Add(1)
	go s.warmSearch()
	if err := flush(ctx, s.cfg.Conn); err != nil {
		return fmt.Errorf("register service: flush: %w", err)
	}
	s.log.Info("service started", "prefix", p, "workers", s.cfg.Workers, "queue", s.cfg.QueueDepth,
		"compat_subject", s.cfg.Compat, "queue_group", api.QueueGroup)
	return nil
}

// Shutdown stops taking triggers, fails the jobs still waiting for a
// worker, lets running jobs finish for up to the grace period and then
// cancels them; every job ends with a final reply and its lock released.
// The connection stays open (its owner drains it); Shutdown flushes it.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	var errs []error
	if s.svc != nil {
		if err := s.svc.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop endpoints: %w", err))
		}
	}
	s.abortQueued()

	done := make(chan struct{})
	go func() { s.jobs.Wait(); close(done) }()
	grace := time.NewTimer(s.cfg.Grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		s.log.Warn("grace period over: cancelling running backups", "grace", s.cfg.Grace)
		s.cancelRun()
	case <-ctx.Done():
		s.cancelRun()
	}
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("backups still running at shutdown: %w", ctx.Err()))
	}
	s.cancelRun()
	close(s.stopped)
	s.workers.Wait()
	if err := flush(ctx, s.cfg.Conn); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		errs = append(errs, fmt.Errorf("flush final replies: %w", err))
	}
	s.log.Info("service stopped")
	return errors.Join(errs...)
}

// flush waits until the server has processed everything sent so far, for
// at most 10 s when ctx has no deadline.
func flush(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); ok {
		return nc.FlushWithContext(ctx)
	}
	return nc.FlushTimeout(10 * time.Second)
}

// abortQueued fails the jobs no worker has started.
func (s *Service) abortQueued() {
	for {
		select {
		case t := <-s.queue:
			t.abort(errShuttingDown)
		default:
			return
		}
	}
}

var errShuttingDown = api.Errorf(api.KindInternal, "the backup service is shutting down: the backup did not start; try again")

func (s *Service) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// work runs queued jobs until Shutdown.
func (s *Service) work() {
	defer s.workers.Done()
	for {
		select {
		case <-s.stopped:
			return
		case t := <-s.queue:
			if s.isClosing() {
				t.abort(errShuttingDown)
				continue
			}
			s.running.Add(1)
			t.run(s.runCtx)
			s.running.Add(-1)
		}
	}
}

// heartbeat re-sends each active job's current stage every Heartbeat.
func (s *Service) heartbeat() {
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case now := <-tick.C:
			s.mu.Lock()
			tasks := make([]*task, 0, len(s.active))
			for t := range s.active {
				tasks = append(tasks, t)
			}
			s.mu.Unlock()
			for _, t := range tasks {
				t.heartbeat(now)
			}
		}
	}
}

// endpointStats is the data of `nats micro stats` for the trigger
// endpoints: the endpoint's job outcomes and the shared pool's load.
func (s *Service) endpointStats(e *micro.Endpoint) any {
	var c *counters
	switch e.Name {
	case "trigger":
		c = &s.triggerStats
	case "compat_trigger":
		c = &s.compatStats
	default:
		return nil
	}
	return map[string]int64{
		"success": c.success.Load(), "failed": c.failed.Load(),
		"locked": c.locked.Load(), "rejected_busy": c.busy.Load(),
		"pool_running": s.running.Load(), "pool_queued": int64(len(s.queue)),
		"pool_workers": int64(s.cfg.Workers), "pool_queue_depth": int64(s.cfg.QueueDepth),
	}
}
