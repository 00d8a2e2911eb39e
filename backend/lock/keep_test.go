package lock

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

func TestKeepRenewsAcrossSeveralTTLs(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, "")
	const ttl = 300 * time.Millisecond
	lease := acquire(t, l, key, info("J1"), ttl)
	var stage atomic.Value
	stage.Store(api.StageConnecting)
	stop, lost := Keep(ctx, lease, ttl, func() api.Stage { return stage.Load().(api.Stage) })

	deadline := time.Now().Add(4 * ttl)
	for i := 0; time.Now().Before(deadline); i++ {
		if i == 3 {
			stage.Store(api.StageExporting)
		}
		time.Sleep(ttl / 4)
		if _, err := l.Acquire(ctx, key, info("J2"), ttl); err == nil {
			t.Fatalf("after %v of a %v lease kept alive, another job acquired it", time.Since(deadline.Add(-4*ttl)), ttl)
		} else {
			heldBy(t, err, "J1")
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
	time.Sleep(time.Until(expires.Add(20 * time.Millisecond)))
	acquire(t, l, key, info("J2"), ttl) // it expired once no longer kept
	select {
	case err, ok := <-lost:
		t.Errorf("lost received %v (open %v) after a plain stop", err, ok)
	default:
	}
}

func TestKeepReportsLostLease(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, "")
	const ttl = 150 * time.Millisecond
	lease := acquire(t, l, key, info("J1"), ttl)
	stop, lost := Keep(ctx, lease, ttl, nil)
	defer stop()

	// J1's process stalls past its expiry (simulated by ageing the row) and
	// another job takes the device over.
	if _, err := l.db.Exec(`UPDATE locks SET expires_ms = 0 WHERE key = ?`, key); err != nil {
		t.Fatal(err)
	}
	acquire(t, l, key, info("J2"), time.Minute)

	select {
	case err := <-lost:
		if !errors.Is(err, ErrLost) {
			t.Errorf("lost received %v, want ErrLost", err)
		}
	case <-time.After(10 * ttl):
		t.Fatal("lost did not report the takeover")
	}
	if _, ok := <-lost; ok {
		t.Error("lost not closed after reporting")
	}
	if h, _ := l.Holder(ctx, key); h == nil || h.JobID != "J2" {
		t.Errorf("the new holder's lease was disturbed: %+v", h)
	}
}

func TestKeepEndsWithContext(t *testing.T) {
	l := newLocker(t, "")
	lease := acquire(t, l, key, info("J1"), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	stop, _ := Keep(ctx, lease, 30*time.Millisecond, nil)
	cancel()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return after the context ended")
	}
}

func TestKeepRejectsBadTTL(t *testing.T) {
	l := newLocker(t, "")
	lease := acquire(t, l, key, info("J1"), time.Minute)
	stop, lost := Keep(context.Background(), lease, 0, nil)
	defer stop()
	if err := <-lost; api.KindOf(err) != api.KindBadRequest {
		t.Errorf("Keep with ttl 0: %v, want bad_request", err)
	}
	// A ttl too small to divide must not panic the ticker.
	stop2, _ := Keep(context.Background(), lease, time.Nanosecond, nil)
	stop2()
}
