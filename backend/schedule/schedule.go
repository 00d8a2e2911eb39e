// Package schedule runs scheduled backups ("--schedule 6h"): every device is
// backed up once per interval, at a time of its own within the interval so
// that the fleet is spread out, by whichever worker of a fleet of workers
// claims it first.
//
// Time is cut into intervals (slots) counted from an epoch. A device's due
// time in a slot is the slot's start plus an offset derived from a hash of
// its tenant and ID, within the first 90% of the interval: the same on every
// worker and after every restart. Every
// worker runs the same plan; at a device's due time (plus a little random
// jitter, so workers do not all ask at once) a worker with a free runner
// claims the device for the slot by a revision-checked write of its state
// (JetStream KV or SQLite, see State) and backs it up through the pipeline
// with trigger "scheduled". The other workers find the claim and skip it.
//
//   - A locked device (a manual backup is running) is skipped and tried
//     again after RetryBase.
//   - A failed backup is retried after a backoff that doubles with every
//     consecutive failure up to MaxBackoff; failures count across intervals,
//     so a dead device is not hammered.
//   - A claim whose worker died is taken over once it is StaleAfter old.
//   - The state is persistent: a restarted worker skips the devices done in
//     the current interval, and spreads the ones it missed over the rest of
//     the interval instead of starting them all at once.
package schedule

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Backuper runs one backup; *backup.Pipeline is one.
type Backuper interface {
	Backup(ctx context.Context, req backup.Request, sink backup.Sink) api.TriggerReply
}

// DefaultConcurrency is how many scheduled backups one worker runs at once
// unless told otherwise.
const DefaultConcurrency = 4

// Config is what a Scheduler needs. Interval, Devices, Backup and State are
// required.
type Config struct {
	// Interval is how often each device is backed up.
	Interval time.Duration
	// Devices returns the fleet; it is read at the start of every interval,
	// so inventory changes take effect at the next one.
	Devices func() []store.DeviceKey
	Backup  Backuper
	State   State
	// Worker names this scheduler in claims and in the records' requested_by;
	// "" is hostname:pid.
	Worker string
	// Concurrency bounds the backups this scheduler runs at once.
	Concurrency int
	// Jitter is the most a worker delays a due device at random, so that
	// the workers do not all claim at the same instant. 0 is Interval/50, at
	// most 30 s.
	Jitter time.Duration
	// RetryBase is the wait before the first retry after a failure, and
	// before trying a locked device again. 0 is Interval/64, between 1 s and
	// 5 min.
	RetryBase time.Duration
	// MaxBackoff caps the doubling wait between retries of a failing
	// device. 0 is Interval/4.
	MaxBackoff time.Duration
	// StaleAfter is how long a claim may stay running before another worker
	// takes it over; it must exceed the longest backup. 0 is 10 min (or the
	// interval, if shorter).
	StaleAfter time.Duration
	// Epoch is where interval 0 starts; zero is the Unix epoch, so workers
	// agree on the intervals without talking to each other.
	Epoch   time.Time
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// AfterRound, if set, runs when an interval ends (serve --retention
	// prunes there), in its own goroutine, never two at once: a slow one
	// makes the next round skip it rather than pile up.
	AfterRound func(ctx context.Context)
}

// Scheduler runs the scheduled backups of one worker.
type Scheduler struct {
	cfg Config
	err error // a configuration error, reported by Run

	queued  atomic.Int64 // due items waiting for a runner
	running atomic.Int64
	missed  atomic.Int64 // items whose interval ended before a runner was free
	claims  atomic.Int64 // claims won
	lost    atomic.Int64 // claims lost to another worker

	afterBusy atomic.Bool // AfterRound is running
}

// New returns a scheduler with cfg's zero fields defaulted. A Config
// missing a required field makes Run fail.
func New(cfg Config) *Scheduler {
	s := &Scheduler{}
	switch {
	case cfg.Interval <= 0:
		s.err = fmt.Errorf("schedule: interval %v is not positive", cfg.Interval)
	case cfg.Devices == nil || cfg.Backup == nil || cfg.State == nil:
		s.err = errors.New("schedule: Devices, Backup and State are required")
	}
	if cfg.Worker == "" {
		host, _ := os.Hostname()
		cfg.Worker = host + ":" + strconv.Itoa(os.Getpid())
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Jitter <= 0 {
		cfg.Jitter = min(cfg.Interval/50, 30*time.Second)
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = min(max(cfg.Interval/64, time.Second), 5*time.Minute)
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = cfg.Interval / 4
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.RetryBase)
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = min(10*time.Minute, cfg.Interval)
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Unix(0, 0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s.cfg = cfg
	m := cfg.Metrics
	m.GaugeFunc("cfgsnap_queue_depth", "Backups due and waiting for a free runner or worker.",
		func() float64 { return float64(s.queued.Load()) }, "queue", "schedule")
	m.GaugeFunc("cfgsnap_schedule_running", "Scheduled backups running on this worker.",
		func() float64 { return float64(s.running.Load()) })
	m.CounterFunc("cfgsnap_schedule_missed_total", "Scheduled backups not started before their interval ended (too few runners for the fleet).",
		func() float64 { return float64(s.missed.Load()) })
	m.CounterFunc("cfgsnap_schedule_claims_total", "Devices this worker claimed for an interval.",
		func() float64 { return float64(s.claims.Load()) }, "result", "won")
	m.CounterFunc("cfgsnap_schedule_claims_total", "Devices this worker claimed for an interval.",
		func() float64 { return float64(s.lost.Load()) }, "result", "lost")
	return s
}

// Slot returns the interval t falls in.
func (s *Scheduler) Slot(t time.Time) int64 {
	d := t.Sub(s.cfg.Epoch)
	if d < 0 {
		return -1 - int64((-d-1)/s.cfg.Interval)
	}
	return int64(d / s.cfg.Interval)
}

// SlotStart returns when interval slot begins.
func (s *Scheduler) SlotStart(slot int64) time.Time {
	return s.cfg.Epoch.Add(time.Duration(slot) * s.cfg.Interval)
}

// spread is the part of each interval that due times are spread over: the
// first 90%, less the jitter, so that a device due last still starts, and
// can be retried, before the interval ends.
func (s *Scheduler) spread() time.Duration {
	return max(s.cfg.Interval*9/10-s.cfg.Jitter, 1)
}

// offset is a device's place within every interval.
func (s *Scheduler) offset(k store.DeviceKey) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(k.String()))
	return time.Duration(h.Sum64() % uint64(s.spread()))
}

// Due returns when device k is due in interval slot.
func (s *Scheduler) Due(k store.DeviceKey, slot int64) time.Time {
	return s.SlotStart(slot).Add(s.offset(k))
}

// QueueDepth is the number of due backups waiting for a runner.
func (s *Scheduler) QueueDepth() int { return int(s.queued.Load()) }

// backoff is the wait after the n-th consecutive failure.
func (s *Scheduler) backoff(n int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// item is one device to look at, at a time, for an interval.
type item struct {
	at      time.Time
	key     store.DeviceKey
	slot    int64
	recheck bool // a second look (after a failure, a skip, another's claim), not the device's due time
}

type itemHeap []item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h itemHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)        { *h = append(*h, x.(item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// plan returns the items of interval slot. Devices whose due time passed
// before now (the worker started late in the interval) are spread over the
// first half of what is left of it rather than all started at once.
func (s *Scheduler) plan(slot int64, now time.Time) []item {
	start, end := s.SlotStart(slot), s.SlotStart(slot+1)
	devices := s.cfg.Devices()
	items := make([]item, 0, len(devices))
	for _, k := range devices {
		at := s.Due(k, slot)
		if at.Before(now) {
			// The missed devices' offsets fill [0, now-start): scaled from
			// there, they spread evenly over the catch-up window.
			frac := float64(s.offset(k)) / float64(now.Sub(start))
			at = now.Add(time.Duration(frac * float64(end.Sub(now)) / 2))
		}
		at = at.Add(rand.N(s.cfg.Jitter + 1))
		if !at.Before(end) {
			at = end.Add(-time.Millisecond)
		}
		items = append(items, item{at: at, key: k, slot: slot})
	}
	return items
}

// Run schedules backups until ctx ends, then stops the running ones (their
// devices are handed back at once for another worker) and returns ctx's
// error. It returns early only for a configuration error.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	work := make(chan item)
	requeue := make(chan item)
	var wg sync.WaitGroup
	for range s.cfg.Concurrency {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case it := <-work:
					next, again := s.process(ctx, it)
					if !again {
						continue
					}
					select {
					case requeue <- item{at: next, key: it.key, slot: it.slot, recheck: true}:
					case <-ctx.Done():
						return
					}
				}
			}
		})
	}
	s.dispatch(ctx, work, requeue)
	wg.Wait()
	s.queued.Store(0)
	return ctx.Err()
}

// dispatch hands due items to the runners in due order until ctx ends.
func (s *Scheduler) dispatch(ctx context.Context, work chan<- item, requeue <-chan item) {
	now := time.Now()
	slot := s.Slot(now)
	h := itemHeap(s.plan(slot, now))
	heap.Init(&h)
	var ready []item
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now = time.Now()
		for h.Len() > 0 && !h[0].at.After(now) {
			ready = append(ready, heap.Pop(&h).(item))
		}
		if end := s.SlotStart(slot + 1); !now.Before(end) {
			// A new interval. The devices the last one did not get to are
			// missed (the new plan covers them again); second looks at
			// devices other workers handle are simply dropped.
			for _, it := range ready {
				if !it.recheck {
					s.missed.Add(1)
					s.cfg.Logger.Warn("scheduled backup missed its interval: too few runners for the fleet", "device", it.key.String())
				}
			}
			ready = ready[:0]
			s.afterRound(ctx)
			slot = s.Slot(now)
			h = itemHeap(s.plan(slot, now))
			heap.Init(&h)
			continue
		}
		s.queued.Store(int64(len(ready)))
		wake := s.SlotStart(slot + 1)
		if h.Len() > 0 && h[0].at.Before(wake) {
			wake = h[0].at
		}
		timer.Reset(time.Until(wake))
		var out chan<- item
		var first item
		if len(ready) > 0 {
			out, first = work, ready[0]
		}
		select {
		case <-ctx.Done():
			return
		case out <- first:
			ready = ready[1:]
		case it := <-requeue:
			if it.slot == slot {
				heap.Push(&h, it)
			}
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// action is what a worker does with a due device.
type action int

const (
	actSkip  action = iota // done for the interval, or beyond it
	actWait                // look again at the returned time
	actClaim               // claim it and back it up
)

// decide reads a device's entry for interval slot at now.
func (s *Scheduler) decide(e Entry, slot int64, now time.Time) (action, time.Time) {
	stale := e.Updated.Add(s.cfg.StaleAfter)
	switch {
	case e.Slot > slot:
		return actSkip, time.Time{} // another worker's clock is in a later interval
	case e.Status == StatusRunning && now.Before(stale):
		// Another worker is on it (or still on the last interval's backup
		// of a slow device): look again when its claim would be stale.
		return actWait, stale
	case e.Slot == slot && e.Status == StatusDone:
		return actSkip, time.Time{}
	case (e.Status == StatusFailed || e.Status == StatusSkipped) && now.Before(e.NextAt):
		return actWait, e.NextAt // backing off, across intervals too
	}
	return actClaim, time.Time{}
}

// claimAttempts bounds how often a worker re-reads a device whose claim it
// lost to a write it did not see, before it leaves it to others.
const claimAttempts = 3

// process handles one due device. It returns when to look at it again in
// the same interval, if at all.
func (s *Scheduler) process(ctx context.Context, it item) (time.Time, bool) {
	end := s.SlotStart(it.slot + 1)
	now := time.Now()
	if !now.Before(end) {
		if !it.recheck {
			s.missed.Add(1)
		}
		return time.Time{}, false
	}
	log := s.cfg.Logger.With("device", it.key.String(), "interval", s.SlotStart(it.slot).UTC().Format(time.RFC3339))
	retry := func(at time.Time) (time.Time, bool) { return at, at.Before(end) }
	for range claimAttempts {
		e, rev, err := s.cfg.State.Get(ctx, it.key)
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, false
			}
			log.Warn("read schedule state", "err", err)
			return retry(now.Add(s.cfg.RetryBase))
		}
		act, at := s.decide(e, it.slot, now)
		switch act {
		case actSkip:
			return time.Time{}, false
		case actWait:
			return retry(at)
		}
		attempts := 1
		if e.Slot == it.slot {
			attempts = e.Attempts + 1
		}
		claim := Entry{Slot: it.slot, Status: StatusRunning, Worker: s.cfg.Worker, Attempts: attempts,
			Failures: e.Failures, Updated: now.UTC()}
		rev, err = s.cfg.State.Put(ctx, it.key, claim, rev)
		if errors.Is(err, ErrConflict) {
			s.lost.Add(1)
			now = time.Now()
			continue // someone else wrote first: see what they did
		}
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, false
			}
			log.Warn("claim scheduled backup", "err", err)
			return retry(now.Add(s.cfg.RetryBase))
		}
		s.claims.Add(1)
		return s.run(ctx, it, claim, rev, log)
	}
	return time.Time{}, false
}

// run backs up a claimed device and records the outcome in its entry.
func (s *Scheduler) run(ctx context.Context, it item, claim Entry, rev uint64, log *slog.Logger) (time.Time, bool) {
	s.running.Add(1)
	start := time.Now()
	reply := s.cfg.Backup.Backup(ctx, backup.Request{
		TenantID: it.key.Tenant, DeviceID: it.key.Device, Trigger: api.TriggerScheduled,
		RequestedBy: "cfgsnap scheduler (" + s.cfg.Worker + ")",
		Reason:      fmt.Sprintf("scheduled every %s, interval from %s", s.cfg.Interval, s.SlotStart(it.slot).UTC().Format(time.RFC3339)),
	}, nil)
	took := time.Since(start)
	s.running.Add(-1)
	now := time.Now()
	e := claim
	e.Updated, e.JobID = now.UTC(), reply.JobID
	switch {
	case ctx.Err() != nil && reply.Status != api.StatusSuccess:
		// Shutting down: hand the device back at once, without counting a
		// failure that is not the device's.
		e.Status, e.NextAt, e.Error = StatusSkipped, now.UTC(), "interrupted: the worker shut down"
	case reply.Status == api.StatusSuccess:
		e.Status, e.Failures, e.NextAt, e.Error = StatusDone, 0, time.Time{}, ""
		s.cfg.Metrics.ObserveBackup(api.TriggerScheduled, reply, took)
	case reply.Status == api.StatusLocked:
		e.Status, e.NextAt = StatusSkipped, now.Add(s.cfg.RetryBase).UTC()
		e.Error = api.MessageLocked
		if reply.Lock != nil {
			e.Error += " by " + reply.Lock.Holder
		}
		s.cfg.Metrics.ObserveBackup(api.TriggerScheduled, reply, took)
		log.Info("scheduled backup skipped: device locked", "retry_at", e.NextAt)
	default:
		e.Failures++
		e.Status, e.NextAt, e.Error = StatusFailed, now.Add(s.backoff(e.Failures)).UTC(), reply.Error
		s.cfg.Metrics.ObserveBackup(api.TriggerScheduled, reply, took)
		log.Warn("scheduled backup failed", "kind", reply.ErrorKind, "err", reply.Error,
			"failures", e.Failures, "retry_at", e.NextAt)
	}
	// Written even when shutting down, so the hand-back is seen at once.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.cfg.State.Put(wctx, it.key, e, rev); err != nil {
		// ErrConflict: the claim went stale and another worker took the
		// device over; its entry stands.
		log.Warn("record scheduled backup outcome", "status", e.Status, "err", err)
	}
	if e.Status == StatusDone || ctx.Err() != nil {
		return time.Time{}, false
	}
	return e.NextAt, e.NextAt.Before(s.SlotStart(it.slot + 1))
}

// afterRound starts Config.AfterRound unless it is still running.
func (s *Scheduler) afterRound(ctx context.Context) {
	if s.cfg.AfterRound == nil || !s.afterBusy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.afterBusy.Store(false)
		s.cfg.AfterRound(ctx)
	}()
}
