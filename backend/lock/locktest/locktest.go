// Package locktest is the contract of lock.Locker as a test suite: every
// locker (SQLite on one machine, JetStream KV on a cluster) runs the same
// tests, so the pipeline can rely on the same behaviour from both.
package locktest

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
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

// Backend is the locker under test and what the suite needs to know about it.
type Backend struct {
	// Open returns a locker with no leases, cleaned up when t ends. Lockers
	// opened by one test share their leases only when Open says so: Race
	// opens several and needs them to share (several processes or workers
	// on one store).
	Open func(t *testing.T) lock.Locker
	// MinTTL is the shortest lease the backend honours exactly; the suite's
	// short leases are MinTTL long. JetStream keeps TTLs in whole seconds.
	MinTTL time.Duration
	// ExpirySlack is how late after its expiry a lease may still be
	// reported held: 0 for a locker that compares times, the server's
	// expiry sweep for one that deletes expired keys.
	ExpirySlack time.Duration
	// Shared, when set, opens another locker on the same leases as l (another
	// process, another worker on another node). When nil, Race uses l alone.
	Shared func(t *testing.T, l lock.Locker) lock.Locker
}

const key = "acme/core-rtr-1"

// Run runs the contract suite against b.
func Run(t *testing.T, b Backend) {
	if b.MinTTL <= 0 {
		b.MinTTL = 30 * time.Millisecond
	}
	tests := []struct {
		name string
		f    func(*testing.T, Backend)
	}{
		{"AcquireHeldRelease", testAcquireHeldRelease},
		{"ExpiredLeaseIsTakenOver", testExpiredLeaseIsTakenOver},
		{"RenewExtendsAndRecordsStage", testRenewExtendsAndRecordsStage},
		{"BadInput", testBadInput},
		{"Race", testRace},
		{"KeepRenewsAcrossSeveralTTLs", testKeepRenewsAcrossSeveralTTLs},
		{"KeepReportsLostLease", testKeepReportsLostLease},
		{"KeepEndsWithContext", testKeepEndsWithContext},
		{"KeepRejectsBadTTL", testKeepRejectsBadTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, b) })
	}
}

func info(job string) lock.Info { return lock.Info{Holder: "ops@jump1", PID: 123, JobID: job} }

func acquire(t *testing.T, l lock.Locker, k string, i lock.Info, ttl time.Duration) lock.Lease {
	t.Helper()
	lease, err := l.Acquire(context.Background(), k, i, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s) for %s: %v", k, i.JobID, err)
	}
	return lease
}

// HeldBy fails t unless err is a *lock.HeldError naming job as the holder.
func HeldBy(t *testing.T, err error, job string) *lock.HeldError {
	t.Helper()
	var held *lock.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("err = %v, want a *lock.HeldError", err)
	}
	if held.Info.JobID != job {
		t.Errorf("held by job %s, want %s", held.Info.JobID, job)
	}
	return held
}

// waitExpired waits until the lease on k has expired as the backend sees
// it: its expiry plus the backend's slack.
func waitExpired(t *testing.T, b Backend, l lock.Locker, k string, expires time.Time) {
	t.Helper()
	time.Sleep(time.Until(expires))
	deadline := time.Now().Add(b.ExpirySlack + 50*time.Millisecond)
	for {
		h, err := l.Holder(context.Background(), k)
		if err != nil {
			t.Fatalf("Holder(%s): %v", k, err)
		}
		if h == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease on %s still held by %s %v after its expiry (%v), more than the slack of %v",
				k, h.JobID, time.Since(expires).Round(time.Millisecond), expires.Format("15:04:05.000"), b.ExpirySlack)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testAcquireHeldRelease(t *testing.T, b Backend) {
	ctx := context.Background()
	l := b.Open(t)
	before := time.Now().Truncate(time.Millisecond)
	first := acquire(t, l, key, info("J1"), time.Minute)
	if got := first.Info(); got.JobID != "J1" || got.Stage != api.StageLockAcquired || got.Since.Before(before) ||
		got.Expires.Before(before.Add(time.Minute)) {
		t.Errorf("lease info = %+v", got)
	}

	_, err := l.Acquire(ctx, key, lock.Info{Holder: "eve@jump2", PID: 9, JobID: "J2"}, time.Minute)
	held := HeldBy(t, err, "J1")
	if held.Key != key || held.Info.Holder != "ops@jump1" || held.Info.PID != 123 || !held.Info.Since.Equal(first.Info().Since) {
		t.Errorf("held error = %+v, want the first holder's info", held)
	}
	want := "acme/core-rtr-1 is being backed up by ops@jump1 (pid 123, job J1) since " +
		first.Info().Since.Local().Format(textfmt.ClockLayout) + ", stage lock_acquired"
	if err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err.Error(), want)
	}
	if li := held.LockInfo(); li.Holder != "ops@jump1" || li.JobID != "J1" || li.Stage != api.StageLockAcquired || !li.Since.Equal(held.Info.Since) {
		t.Errorf("LockInfo = %+v", li)
	}

	h, err := l.Holder(ctx, key)
	if err != nil || h == nil || *h != first.Info() {
		t.Errorf("Holder = %+v, %v; want %+v", h, err, first.Info())
	}
	all, err := l.Holders(ctx)
	if err != nil || len(all) != 1 || all[key] != first.Info() {
		t.Errorf("Holders = %+v, %v", all, err)
	}
	if other := acquire(t, l, "acme/other", info("J3"), time.Minute); other == nil {
		t.Fatal("another key is not free")
	}
	if all, err := l.Holders(ctx); err != nil || len(all) != 2 || all["acme/other"].JobID != "J3" {
		t.Errorf("Holders with two leases = %+v, %v", all, err)
	}

	// The same job acquiring again keeps its lease and its start time.
	again := acquire(t, l, key, info("J1"), 2*time.Minute)
	if !again.Info().Since.Equal(first.Info().Since) {
		t.Errorf("re-acquire by the same job moved since from %v to %v", first.Info().Since, again.Info().Since)
	}

	if err := again.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.Release(ctx); err != nil {
		t.Errorf("second release: %v, want nil", err)
	}
	if h, err := l.Holder(ctx, key); h != nil || err != nil {
		t.Errorf("after release Holder = %+v, %v; want nil", h, err)
	}
	if err := again.Renew(ctx, api.StageExporting, time.Minute); !errors.Is(err, lock.ErrLost) {
		t.Errorf("renew after release: %v, want ErrLost", err)
	}
	second := acquire(t, l, key, lock.Info{Holder: "eve@jump2", JobID: "J2"}, time.Minute)
	if h, _ := l.Holder(ctx, key); h == nil || h.JobID != "J2" || *h != second.Info() {
		t.Errorf("after re-acquire Holder = %+v", h)
	}
	// The first lease object of J1 is stale now: it must not free J2's key.
	if err := first.Release(ctx); err != nil && !errors.Is(err, lock.ErrLost) {
		t.Errorf("release of a stale lease: %v, want nil or ErrLost", err)
	}
	if h, _ := l.Holder(ctx, key); h == nil || h.JobID != "J2" {
		t.Errorf("a stale lease's release freed another job's key: Holder = %+v", h)
	}
}

func testExpiredLeaseIsTakenOver(t *testing.T, b Backend) {
	ctx := context.Background()
	l := b.Open(t)
	crashed := acquire(t, l, key, info("J1"), b.MinTTL) // J1's process "crashes": no renewal
	waitExpired(t, b, l, key, crashed.Info().Expires)

	if all, _ := l.Holders(ctx); len(all) != 0 {
		t.Errorf("Holders lists an expired lease: %+v", all)
	}
	taker := acquire(t, l, key, lock.Info{Holder: "eve@jump2", JobID: "J2"}, time.Minute)
	if !taker.Info().Since.After(crashed.Info().Since) {
		t.Errorf("taken-over lease kept the old since %v", taker.Info().Since)
	}

	if err := crashed.Renew(ctx, api.StageExporting, time.Minute); !errors.Is(err, lock.ErrLost) {
		t.Errorf("renew after takeover: %v, want ErrLost", err)
	}
	if err := crashed.Release(ctx); !errors.Is(err, lock.ErrLost) {
		t.Errorf("release after takeover: %v, want ErrLost", err)
	}
	if err := crashed.Release(ctx); err != nil {
		t.Errorf("second release after takeover: %v, want nil", err)
	}
	if h, _ := l.Holder(ctx, key); h == nil || h.JobID != "J2" || h.Stage != api.StageLockAcquired {
		t.Errorf("the old holder's release or renew disturbed the new one: Holder = %+v", h)
	}
	_, err := l.Acquire(ctx, key, info("J3"), time.Minute)
	HeldBy(t, err, "J2")
}

func testRenewExtendsAndRecordsStage(t *testing.T, b Backend) {
	ctx := context.Background()
	l := b.Open(t)
	lease := acquire(t, l, key, info("J1"), time.Minute)
	firstExpiry := lease.Info().Expires
	time.Sleep(5 * time.Millisecond) // so that the renewed expiry is later to the millisecond
	if err := lease.Renew(ctx, api.StageExporting, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	h, err := l.Holder(ctx, key)
	if err != nil || h == nil {
		t.Fatalf("Holder = %v, %v", h, err)
	}
	if h.Stage != api.StageExporting || !h.Expires.After(firstExpiry) || *h != lease.Info() {
		t.Errorf("after renew: holder %+v, lease %+v; want stage exporting and expiry after %v", h, lease.Info(), firstExpiry)
	}
	_, err = l.Acquire(ctx, key, info("J2"), time.Minute)
	if held := HeldBy(t, err, "J1"); !strings.HasSuffix(held.Error(), "stage exporting") {
		t.Errorf("held error does not show the renewed stage: %v", held)
	}
	if err := lease.Renew(ctx, "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if h, _ := l.Holder(ctx, key); h == nil || h.Stage != api.StageExporting {
		t.Errorf("renew without a stage changed the stage: %+v", h)
	}
}

func testBadInput(t *testing.T, b Backend) {
	ctx := context.Background()
	l := b.Open(t)
	for _, k := range []string{"", "acme", "acme/", "/r1", "acme/r1/x", "ac.me/r1", "acme/r*", "acme/r>", "acme/r 1"} {
		if _, err := l.Acquire(ctx, k, info("J1"), time.Minute); api.KindOf(err) != api.KindBadRequest {
			t.Errorf("Acquire(%q): %v, want bad_request", k, err)
		}
	}
	if _, err := l.Acquire(ctx, key, info("J1"), 0); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("zero ttl: %v, want bad_request", err)
	}
	if _, err := l.Acquire(ctx, key, lock.Info{Holder: "ops@jump1"}, time.Minute); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("no job id: %v, want bad_request", err)
	}
	lease := acquire(t, l, key, info("J1"), time.Minute)
	if err := lease.Renew(ctx, api.StageExporting, -time.Second); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("negative renew ttl: %v, want bad_request", err)
	}
	if h, _ := l.Holders(ctx); len(h) != 1 {
		t.Errorf("bad input left leases: %+v", h)
	}
}

// raceContenders acquire each key at the same moment.
const (
	raceContenders = 6
	raceKeys       = 20
)

// testRace has several contenders (on shared lockers when the backend has
// them: other connections, other nodes) acquire the same keys at once: for
// every key exactly one wins and every other is told who holds it.
func testRace(t *testing.T, b Backend) {
	ctx := context.Background()
	first := b.Open(t)
	lockers := []lock.Locker{first}
	for len(lockers) < raceContenders {
		if b.Shared == nil {
			lockers = append(lockers, first)
		} else {
			lockers = append(lockers, b.Shared(t, first))
		}
	}
	type result struct {
		job  string
		err  error
		held string
	}
	results := make([][]result, raceKeys)
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	for c, l := range lockers {
		wg.Go(func() {
			<-start
			for k := range raceKeys {
				job := fmt.Sprintf("J%d", c)
				_, err := l.Acquire(ctx, fmt.Sprintf("acme/r%d", k), info(job), time.Minute)
				r := result{job: job, err: err}
				var held *lock.HeldError
				if errors.As(err, &held) {
					r.err, r.held = nil, held.Info.JobID
				}
				mu.Lock()
				results[k] = append(results[k], r)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	for k, rs := range results {
		var winners []string
		for _, r := range rs {
			if r.err != nil {
				t.Errorf("acme/r%d: %s got %v, want the lease or a HeldError", k, r.job, r.err)
			} else if r.held == "" {
				winners = append(winners, r.job)
			}
		}
		if len(winners) != 1 {
			t.Errorf("acme/r%d: winners %v, want exactly one", k, winners)
			continue
		}
		for _, r := range rs {
			if r.held != "" && r.held != winners[0] {
				t.Errorf("acme/r%d: %s was told %s holds it, but %s won", k, r.job, r.held, winners[0])
			}
		}
		h, err := first.Holder(ctx, fmt.Sprintf("acme/r%d", k))
		if err != nil || h == nil || h.JobID != winners[0] {
			t.Errorf("acme/r%d: Holder = %+v, %v; want %s", k, h, err, winners[0])
		}
	}
}

func testKeepRenewsAcrossSeveralTTLs(t *testing.T, b Backend) {
	ctx := context.Background()
	l := b.Open(t)
	// A second, not less: on a loaded 2-core CI machine under -race a
	// renewal can be late by a few hundred milliseconds (seen), which says
	// nothing about the locker.
	ttl := max(b.MinTTL, time.Second)
	lease := acquire(t, l, key, info("J1"), ttl)
	var stage atomic.Value
	stage.Store(api.StageConnecting)
	stop, lost := lock.Keep(ctx, lease, ttl, func() api.Stage { return stage.Load().(api.Stage) })

	kept := 4*ttl + b.ExpirySlack
	deadline := time.Now().Add(kept)
	for i := 0; time.Now().Before(deadline); i++ {
		if i == 3 {
			stage.Store(api.StageExporting)
		}
		time.Sleep(ttl / 4)
		if _, err := l.Acquire(ctx, key, info("J2"), ttl); err == nil {
			t.Fatalf("after %v of a %v lease kept alive, another job acquired it", time.Since(deadline.Add(-kept)), ttl)
		} else {
			HeldBy(t, err, "J1")
		}
	}
	select {
	case err := <-lost:
		t.Fatalf("lost reported while the lease was ours: %v", err)
	default:
	}
	if h, _ := l.Holder(ctx, key); h == nil || h.Stage != api.StageExporting {
		t.Errorf("Holder = %+v, want the stage the job reported last (exporting)", h)
	}

	stop()
	stop() // idempotent
	expires := lease.Info().Expires
	time.Sleep(ttl / 2)
	if h, _ := l.Holder(ctx, key); h != nil && h.Expires.After(expires) {
		t.Errorf("renewed after stop: expiry %v, was %v", h.Expires, expires)
	}
	waitExpired(t, b, l, key, expires) // it expires once no longer kept
	acquire(t, l, key, info("J2"), ttl)
	select {
	case err, ok := <-lost:
		t.Errorf("lost received %v (open %v) after a plain stop", err, ok)
	default:
	}
}

// testKeepReportsLostLease: J1's process stalls past its expiry and another
// job takes the device; when J1 wakes up and keeps renewing, Keep must tell
// it that the lease is lost.
func testKeepReportsLostLease(t *testing.T, b Backend) {
	ctx := context.Background()
	l := b.Open(t)
	lease := acquire(t, l, key, info("J1"), b.MinTTL)
	waitExpired(t, b, l, key, lease.Info().Expires)
	acquire(t, l, key, info("J2"), time.Minute)

	stop, lost := lock.Keep(ctx, lease, b.MinTTL, nil)
	defer stop()
	select {
	case err := <-lost:
		if !errors.Is(err, lock.ErrLost) {
			t.Errorf("lost received %v, want ErrLost", err)
		}
	case <-time.After(10 * b.MinTTL):
		t.Fatal("lost did not report the takeover")
	}
	if _, ok := <-lost; ok {
		t.Error("lost not closed after reporting")
	}
	if h, _ := l.Holder(ctx, key); h == nil || h.JobID != "J2" {
		t.Errorf("the new holder's lease was disturbed: %+v", h)
	}
}

func testKeepEndsWithContext(t *testing.T, b Backend) {
	l := b.Open(t)
	lease := acquire(t, l, key, info("J1"), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	stop, _ := lock.Keep(ctx, lease, b.MinTTL, nil)
	cancel()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return after the context ended")
	}
}

func testKeepRejectsBadTTL(t *testing.T, b Backend) {
	l := b.Open(t)
	lease := acquire(t, l, key, info("J1"), time.Minute)
	stop, lost := lock.Keep(context.Background(), lease, 0, nil)
	defer stop()
	if err := <-lost; api.KindOf(err) != api.KindBadRequest {
		t.Errorf("Keep with ttl 0: %v, want bad_request", err)
	}
	// A ttl too small to divide must not panic the ticker.
	stop2, _ := lock.Keep(context.Background(), lease, time.Nanosecond, nil)
	stop2()
}
