package schedule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// call is one backup a fake backuper was asked for.
type call struct {
	key    store.DeviceKey
	reason string
	at     time.Time
	req    backup.Request
}

// fake answers backups with reply (success when nil) after delay, and
// remembers every call.
type fake struct {
	delay time.Duration
	reply func(req backup.Request, n int) api.TriggerReply

	mu    sync.Mutex
	calls []call
	count map[store.DeviceKey]int
}

func (f *fake) Backup(ctx context.Context, req backup.Request, _ backup.Sink) api.TriggerReply {
	k := store.DeviceKey{Tenant: req.TenantID, Device: req.DeviceID}
	f.mu.Lock()
	if f.count == nil {
		f.count = map[store.DeviceKey]int{}
	}
	f.count[k]++
	n := f.count[k]
	f.calls = append(f.calls, call{key: k, reason: req.Reason, at: time.Now(), req: req})
	f.mu.Unlock()
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return api.FailedReply("J", req.TenantID, req.DeviceID, api.Wrap(api.KindInternal, ctx.Err(), "backup failed"))
	}
	if f.reply != nil {
		return f.reply(req, n)
	}
	return api.TriggerReply{Status: api.StatusSuccess, JobID: fmt.Sprintf("J%d", n)}
}

func (f *fake) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func fleet(n int) []store.DeviceKey {
	out := make([]store.DeviceKey, n)
	for i := range out {
		out[i] = store.DeviceKey{Tenant: "acme", Device: fmt.Sprintf("rtr-%d", i)}
	}
	return out
}

func TestSlotsAndDueTimes(t *testing.T) {
	epoch := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	s := New(Config{Interval: 6 * time.Hour, Epoch: epoch, Devices: func() []store.DeviceKey { return nil }, Backup: &fake{}, State: nopState{}})
	for _, tc := range []struct {
		at   time.Time
		slot int64
	}{
		{epoch, 0}, {epoch.Add(6*time.Hour - 1), 0}, {epoch.Add(6 * time.Hour), 1},
		{epoch.Add(-1), -1}, {epoch.Add(-6 * time.Hour), -1}, {epoch.Add(-6*time.Hour - 1), -2},
	} {
		if got := s.Slot(tc.at); got != tc.slot {
			t.Errorf("Slot(%v) = %d, want %d", tc.at, got, tc.slot)
		}
	}
	// Every worker and every restart puts a device at the same place, and
	// a fleet is spread over the whole interval.
	other := New(Config{Interval: 6 * time.Hour, Epoch: epoch, Devices: func() []store.DeviceKey { return nil }, Backup: &fake{}, State: nopState{}})
	var quarters [4]int
	for _, k := range fleet(1000) {
		due := s.Due(k, 3)
		if !due.Equal(other.Due(k, 3)) || due.Sub(s.SlotStart(3)) != s.Due(k, 4).Sub(s.SlotStart(4)) {
			t.Fatalf("%s is due at different offsets", k)
		}
		if due.Before(s.SlotStart(3)) || !due.Before(s.SlotStart(4)) {
			t.Fatalf("%s due at %v, outside its interval", k, due)
		}
		if due.Sub(s.SlotStart(3)) >= s.spread() {
			t.Fatalf("%s due %v into the interval, after the spread of %v", k, due.Sub(s.SlotStart(3)), s.spread())
		}
		quarters[due.Sub(s.SlotStart(3))*4/s.spread()]++
	}
	for q, n := range quarters {
		if n < 200 || n > 300 {
			t.Errorf("quarter %d of the spread holds %d of 1000 devices; want them spread evenly (about 250)", q, n)
		}
	}
}

type nopState struct{}

func (nopState) Get(context.Context, store.DeviceKey) (Entry, uint64, error) { return Entry{}, 0, nil }
func (nopState) Put(context.Context, store.DeviceKey, Entry, uint64) (uint64, error) {
	return 1, nil
}

func TestBackoffIsCapped(t *testing.T) {
	s := New(Config{Interval: time.Hour, RetryBase: time.Minute, MaxBackoff: 10 * time.Minute,
		Devices: func() []store.DeviceKey { return nil }, Backup: &fake{}, State: nopState{}})
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := s.backoff(i + 1); got != w {
			t.Errorf("backoff after %d failures = %v, want %v", i+1, got, w)
		}
	}
	if got := s.backoff(1000); got != 10*time.Minute {
		t.Errorf("backoff after 1000 failures = %v, want the cap", got)
	}
	d := New(Config{Interval: 6 * time.Hour, Devices: func() []store.DeviceKey { return nil }, Backup: &fake{}, State: nopState{}})
	if d.cfg.RetryBase != 5*time.Minute || d.cfg.MaxBackoff != 90*time.Minute || d.cfg.Jitter != 30*time.Second || d.cfg.StaleAfter != 10*time.Minute {
		t.Errorf("defaults for 6h: retry %v, max backoff %v, jitter %v, stale %v", d.cfg.RetryBase, d.cfg.MaxBackoff, d.cfg.Jitter, d.cfg.StaleAfter)
	}
}

func TestDecide(t *testing.T) {
	s := New(Config{Interval: time.Hour, StaleAfter: 10 * time.Minute, Devices: func() []store.DeviceKey { return nil }, Backup: &fake{}, State: nopState{}})
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    Entry
		act  action
		at   time.Time
	}{
		{"never scheduled", Entry{}, actClaim, time.Time{}},
		{"done last interval", Entry{Slot: 4, Status: StatusDone}, actClaim, time.Time{}},
		{"done this interval", Entry{Slot: 5, Status: StatusDone}, actSkip, time.Time{}},
		{"another worker's clock is ahead", Entry{Slot: 6, Status: StatusRunning, Updated: now}, actSkip, time.Time{}},
		{"claimed by another worker", Entry{Slot: 5, Status: StatusRunning, Updated: now.Add(-time.Minute)}, actWait, now.Add(9 * time.Minute)},
		{"claim gone stale", Entry{Slot: 5, Status: StatusRunning, Updated: now.Add(-11 * time.Minute)}, actClaim, time.Time{}},
		{"last interval's backup still running", Entry{Slot: 4, Status: StatusRunning, Updated: now.Add(-time.Minute)}, actWait, now.Add(9 * time.Minute)},
		{"failed, backing off", Entry{Slot: 5, Status: StatusFailed, NextAt: now.Add(time.Minute)}, actWait, now.Add(time.Minute)},
		{"failed last interval, still backing off", Entry{Slot: 4, Status: StatusFailed, Failures: 5, NextAt: now.Add(time.Minute)}, actWait, now.Add(time.Minute)},
		{"failed, backoff over", Entry{Slot: 5, Status: StatusFailed, NextAt: now}, actClaim, time.Time{}},
		{"skipped while locked", Entry{Slot: 5, Status: StatusSkipped, NextAt: now.Add(time.Second)}, actWait, now.Add(time.Second)},
	} {
		act, at := s.decide(tc.e, 5, now)
		if act != tc.act || !at.Equal(tc.at) {
			t.Errorf("%s: decide = %v %v, want %v %v", tc.name, act, at, tc.act, tc.at)
		}
	}
}

// dueIn moves s's epoch so that k is due in d, and checks that at least
// left of the interval remains after that.
func dueIn(t *testing.T, s *Scheduler, k store.DeviceKey, d, left time.Duration) {
	t.Helper()
	s.cfg.Epoch = time.Now().Add(d - s.offset(k))
	if rest := s.cfg.Interval - s.offset(k) - d; rest < left {
		t.Fatalf("test setup: %s sits %v into the interval; only %v would be left", k, s.offset(k), rest)
	}
}

// runFor runs s until d has passed and waits for it to return.
func runFor(t *testing.T, s *Scheduler, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want it to end with its context", err)
	}
}

// forEachState runs f against the SQLite and the JetStream KV state.
func forEachState(t *testing.T, f func(t *testing.T, st State)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteState(t)) })
	t.Run("kv", func(t *testing.T) { f(t, kvState(t, 0, newBucket())) })
}

func TestStateContract(t *testing.T) {
	forEachState(t, func(t *testing.T, st State) {
		ctx := context.Background()
		k := store.DeviceKey{Tenant: "acme", Device: "r1"}
		e, rev, err := st.Get(ctx, k)
		if err != nil || rev != 0 || e != (Entry{}) {
			t.Fatalf("Get of a device never scheduled = %+v, %d, %v", e, rev, err)
		}
		at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
		want := Entry{Slot: 7, Status: StatusRunning, Worker: "w1", Attempts: 1, Updated: at}
		rev1, err := st.Put(ctx, k, want, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, k, Entry{Slot: 7, Status: StatusRunning, Worker: "w2"}, 0); !errors.Is(err, ErrConflict) {
			t.Errorf("second claim from revision 0: %v, want ErrConflict", err)
		}
		got, rev, err := st.Get(ctx, k)
		if err != nil || rev != rev1 || got != want {
			t.Errorf("Get = %+v, %d, %v; want %+v, %d", got, rev, err, want, rev1)
		}
		done := want
		done.Status, done.NextAt = StatusDone, at.Add(time.Hour)
		rev2, err := st.Put(ctx, k, done, rev1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, k, want, rev1); !errors.Is(err, ErrConflict) {
			t.Errorf("write from a stale revision: %v, want ErrConflict", err)
		}
		if got, rev, _ := st.Get(ctx, k); rev != rev2 || got != done {
			t.Errorf("after the stale write: %+v, %d; want %+v, %d", got, rev, done, rev2)
		}
		// Racing writers from one revision: exactly one wins.
		var wins atomic.Int64
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				_, err := st.Put(ctx, k, Entry{Slot: 8, Status: StatusRunning, Worker: fmt.Sprint(w)}, rev2)
				if err == nil {
					wins.Add(1)
				} else if !errors.Is(err, ErrConflict) {
					t.Errorf("racing writer %d: %v", w, err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d racing writers won, want 1", wins.Load())
		}
	})
}

// TestRestartDoesNotRepeat stops a scheduler part way through an interval
// and starts another on the same state a little later: no device is backed
// up twice in the interval, every device once, and the devices due while no
// scheduler ran are caught up spread out, not all at once.
func TestRestartDoesNotRepeat(t *testing.T) {
	forEachState(t, func(t *testing.T, st State) {
		const interval = 3 * time.Second
		devices := fleet(40)
		f := &fake{delay: 10 * time.Millisecond}
		epoch := time.Now()
		cfg := Config{Interval: interval, Epoch: epoch, Devices: func() []store.DeviceKey { return devices },
			Backup: f, State: st, Concurrency: 4, Jitter: 10 * time.Millisecond, Worker: "first"}
		runFor(t, New(cfg), time.Until(epoch.Add(1200*time.Millisecond)))
		firstRun := len(f.snapshot())
		time.Sleep(time.Until(epoch.Add(2 * time.Second))) // down for 0.8 s
		cfg.Worker = "second"
		restart := time.Now()
		second := New(cfg)
		runFor(t, second, time.Until(epoch.Add(interval-50*time.Millisecond)))

		calls := f.snapshot()
		if firstRun < 5 || firstRun > 35 {
			t.Fatalf("the first scheduler backed up %d of 40 devices in 40%% of the interval; the test needs some done and some not", firstRun)
		}
		reason := fmt.Sprintf("scheduled every %s, interval from %s", interval, second.SlotStart(0).UTC().Format(time.RFC3339))
		per := map[store.DeviceKey]int{}
		var caughtUp []time.Time
		for _, c := range calls {
			per[c.key]++
			if c.reason != reason || c.req.Trigger != api.TriggerScheduled || !strings.Contains(c.req.RequestedBy, "scheduler") {
				t.Errorf("%s backed up with trigger %q, reason %q, by %q", c.key, c.req.Trigger, c.reason, c.req.RequestedBy)
			}
			if due := second.Due(c.key, 0); c.at.After(restart) && due.Before(restart) {
				caughtUp = append(caughtUp, c.at)
			}
		}
		for _, k := range devices {
			if per[k] != 1 {
				t.Errorf("%s backed up %d times in the interval, want once", k, per[k])
			}
		}
		if len(caughtUp) < 3 {
			t.Fatalf("only %d devices were due while no scheduler ran; the test needs several", len(caughtUp))
		}
		span := caughtUp[len(caughtUp)-1].Sub(caughtUp[0])
		if left := epoch.Add(interval).Sub(restart); span < left/8 || span > left/2+100*time.Millisecond {
			t.Errorf("%d missed devices caught up over %v after the restart; want them spread over about half of the %v left", len(caughtUp), span, left)
		}
		for _, k := range devices {
			e, _, err := st.Get(context.Background(), k)
			if err != nil || e.Slot != 0 || e.Status != StatusDone {
				t.Errorf("%s: state %+v, %v; want done in interval 0", k, e, err)
			}
		}
	})
}

// TestFailingDeviceBacksOff: a device that always fails is retried after
// RetryBase, then twice as long each time up to MaxBackoff; the others are
// backed up once.
func TestFailingDeviceBacksOff(t *testing.T) {
	st := sqliteState(t)
	bad := store.DeviceKey{Tenant: "acme", Device: "dead-1"}
	devices := append(fleet(5), bad)
	f := &fake{reply: func(req backup.Request, n int) api.TriggerReply {
		if req.DeviceID == bad.Device {
			return api.FailedReply("J", req.TenantID, req.DeviceID, api.Errorf(api.KindUnreachable, "connect: no route to host"))
		}
		return api.TriggerReply{Status: api.StatusSuccess}
	}}
	m := metrics.New()
	s := New(Config{Interval: 100 * time.Second, Devices: func() []store.DeviceKey { return devices },
		Backup: f, State: st, RetryBase: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Jitter: time.Millisecond, Metrics: m})
	dueIn(t, s, bad, 50*time.Millisecond, 5*time.Second)
	runFor(t, s, 1600*time.Millisecond)

	var times []time.Time
	for _, c := range f.snapshot() {
		if c.key == bad {
			times = append(times, c.at)
		}
	}
	want := []time.Duration{100, 200, 300, 300, 300}
	if len(times) < len(want)+1 {
		t.Fatalf("the dead device was tried %d times in 1.5 s, want at least %d", len(times), len(want)+1)
	}
	for i, w := range want {
		gap := times[i+1].Sub(times[i])
		if w := w * time.Millisecond; gap < w-5*time.Millisecond || gap > w+150*time.Millisecond {
			t.Errorf("retry %d came %v after the attempt before it, want about %v", i+1, gap.Round(time.Millisecond), w)
		}
	}
	e, _, err := st.Get(context.Background(), bad)
	if err != nil || e.Status != StatusFailed || e.Failures != len(times) || e.Attempts != len(times) || !strings.Contains(e.Error, "no route") {
		t.Errorf("dead device's state = %+v, %v; want failed %d times with the error", e, err, len(times))
	}
	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), fmt.Sprintf(`cfgsnap_backup_failures_total{kind="unreachable"} %d`, len(times))) {
		t.Errorf("metrics do not count the failures:\n%s", b.String())
	}
}

// A device locked by a manual backup is skipped, tried again after
// RetryBase, and its failures are not counted.
func TestLockedDeviceIsSkippedAndRetried(t *testing.T) {
	st := sqliteState(t)
	k := store.DeviceKey{Tenant: "acme", Device: "busy-1"}
	f := &fake{reply: func(req backup.Request, n int) api.TriggerReply {
		if n <= 2 {
			return api.LockedReply(req.TenantID, req.DeviceID, api.LockInfo{Holder: "ops@jump1", JobID: "M1"})
		}
		return api.TriggerReply{Status: api.StatusSuccess}
	}}
	m := metrics.New()
	s := New(Config{Interval: time.Minute, Devices: func() []store.DeviceKey { return []store.DeviceKey{k} },
		Backup: f, State: st, RetryBase: 100 * time.Millisecond, Jitter: time.Millisecond, Metrics: m})
	dueIn(t, s, k, 50*time.Millisecond, 5*time.Second)
	runFor(t, s, 800*time.Millisecond)
	calls := f.snapshot()
	if len(calls) != 3 {
		t.Fatalf("%d attempts, want 2 locked and 1 successful", len(calls))
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < 95*time.Millisecond || gap > 300*time.Millisecond {
		t.Errorf("locked device tried again after %v, want about 100ms", gap)
	}
	e, _, _ := st.Get(context.Background(), k)
	if e.Status != StatusDone || e.Failures != 0 || e.Attempts != 3 {
		t.Errorf("state = %+v, want done after 3 attempts without failures", e)
	}
	if st := m.Stats(); st["lock_conflicts"] != int64(2) {
		t.Errorf("lock conflicts counted: %v, want 2", st["lock_conflicts"])
	}
}

// A claim whose worker died is taken over once stale; a fresh claim of a
// live worker is left alone.
func TestStaleClaimIsTakenOver(t *testing.T) {
	st := sqliteState(t)
	ctx := context.Background()
	dead, live := store.DeviceKey{Tenant: "acme", Device: "r1"}, store.DeviceKey{Tenant: "acme", Device: "r2"}
	f := &fake{}
	s := New(Config{Interval: time.Hour, StaleAfter: 500 * time.Millisecond, Jitter: time.Millisecond,
		Devices: func() []store.DeviceKey { return []store.DeviceKey{dead, live} }, Backup: f, State: st})
	// Start two seconds before the interval ends: both devices' due times
	// have passed and they are caught up within a second.
	now := time.Now()
	s.cfg.Epoch = now.Add(2*time.Second - time.Hour)
	for _, k := range []store.DeviceKey{dead, live} {
		if s.offset(k) > time.Hour-3*time.Second {
			t.Fatalf("test setup: %s is due in the last seconds of the interval", k)
		}
	}
	slot := s.Slot(now)
	if _, err := st.Put(ctx, dead, Entry{Slot: slot, Status: StatusRunning, Worker: "killed", Attempts: 1, Updated: now.Add(-400 * time.Millisecond)}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, live, Entry{Slot: slot, Status: StatusRunning, Worker: "alive", Updated: now.Add(10 * time.Second)}, 0); err != nil {
		t.Fatal(err)
	}
	runFor(t, s, 1500*time.Millisecond)
	calls := f.snapshot()
	if len(calls) != 1 || calls[0].key != dead {
		t.Fatalf("calls = %v; want only the dead worker's device, once", calls)
	}
	if e, _, _ := st.Get(ctx, dead); e.Status != StatusDone || e.Worker != s.cfg.Worker || e.Attempts != 2 {
		t.Errorf("taken-over device: %+v", e)
	}
	if e, _, _ := st.Get(ctx, live); e.Status != StatusRunning || e.Worker != "alive" {
		t.Errorf("the live worker's claim was disturbed: %+v", e)
	}
}

// Stopping a scheduler hands its running backups back at once, without a
// failure against the device.
func TestShutdownHandsBack(t *testing.T) {
	st := sqliteState(t)
	k := store.DeviceKey{Tenant: "acme", Device: "slow-1"}
	f := &fake{delay: time.Minute}
	s := New(Config{Interval: time.Hour, Devices: func() []store.DeviceKey { return []store.DeviceKey{k} },
		Backup: f, State: st, Jitter: time.Millisecond})
	dueIn(t, s, k, 20*time.Millisecond, time.Minute)
	runFor(t, s, 300*time.Millisecond)
	e, _, _ := st.Get(context.Background(), k)
	if e.Status != StatusSkipped || e.Failures != 0 || time.Since(e.NextAt) < 0 || !strings.Contains(e.Error, "shut down") {
		t.Errorf("state after shutdown = %+v; want skipped, retry now, no failure", e)
	}
}

// With too few runners for the fleet, what the interval could not start is
// counted as missed, and the next interval starts afresh.
func TestMissedWhenTooFewRunners(t *testing.T) {
	st := sqliteState(t)
	devices := fleet(12)
	f := &fake{delay: 250 * time.Millisecond}
	m := metrics.New()
	s := New(Config{Interval: time.Second, Epoch: time.Now(), Devices: func() []store.DeviceKey { return devices },
		Backup: f, State: st, Concurrency: 1, Jitter: time.Millisecond, Metrics: m})
	runFor(t, s, 1900*time.Millisecond)
	if s.missed.Load() < 4 {
		t.Errorf("missed %d backups; with one runner of 4 backups a second for 12 devices a second, want several", s.missed.Load())
	}
	var b strings.Builder
	_ = m.WritePrometheus(&b)
	if !strings.Contains(b.String(), "cfgsnap_schedule_missed_total ") || !strings.Contains(b.String(), `cfgsnap_queue_depth{queue="schedule"}`) {
		t.Errorf("metrics lack the schedule's counters:\n%s", b.String())
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no interval": {Devices: func() []store.DeviceKey { return nil }, Backup: &fake{}, State: nopState{}},
		"no devices":  {Interval: time.Hour, Backup: &fake{}, State: nopState{}},
		"no backup":   {Interval: time.Hour, Devices: func() []store.DeviceKey { return nil }, State: nopState{}},
		"no state":    {Interval: time.Hour, Devices: func() []store.DeviceKey { return nil }, Backup: &fake{}},
	} {
		if err := New(cfg).Run(context.Background()); err == nil {
			t.Errorf("%s: Run = nil, want an error", name)
		}
	}
}
