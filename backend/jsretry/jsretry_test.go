package jsretry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestDoRetriesWhatPassesAndStopsOnTheRest(t *testing.T) {
	calls := 0
	err := Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("publish: %w", nats.ErrNoResponders) // a leader election
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("transient errors: %v after %d calls, want success on the third", err, calls)
	}
	permanent := errors.New("wrong last sequence")
	calls = 0
	if err := Do(context.Background(), func(context.Context) error { calls++; return permanent }); !errors.Is(err, permanent) || calls != 1 {
		t.Fatalf("a permanent error was retried: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Do(ctx, func(context.Context) error { return ErrStalled }); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled caller: %v", err)
	}
}

// A caller with a later deadline (a backup's job deadline) is retried past
// For, up to shortly before its deadline, and no further.
func TestRetryFollowsTheCallersDeadline(t *testing.T) {
	p := Policy{Attempt: 50 * time.Millisecond, For: 200 * time.Millisecond, FirstBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	start := time.Now()
	err := p.Do(context.Background(), func(context.Context) error { return nats.ErrNoResponders })
	if took := time.Since(start); !errors.Is(err, nats.ErrNoResponders) || took > 400*time.Millisecond {
		t.Fatalf("no deadline: %v after %v, want no responders within For", err, took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start = time.Now()
	calls := 0
	err = p.Do(ctx, func(context.Context) error {
		calls++
		if time.Since(start) < 700*time.Millisecond {
			return &jetstream.APIError{Code: 503, Description: "stream leader not available"} // still electing
		}
		return nil
	})
	if err != nil {
		t.Fatalf("an election longer than For, within the caller's deadline: %v after %d calls", err, calls)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	start = time.Now()
	err = p.Do(ctx2, func(context.Context) error { return nats.ErrNoResponders })
	if took := time.Since(start); ctx2.Err() != nil || took < 300*time.Millisecond || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("an election outlasting the deadline: %v after %v; want its error before the deadline, ctx %v", err, took, ctx2.Err())
	}
}

func TestJitterStaysInRange(t *testing.T) {
	for range 1000 {
		if j := jitter(100 * time.Millisecond); j < 50*time.Millisecond || j >= 150*time.Millisecond {
			t.Fatalf("jitter(100ms) = %v", j)
		}
	}
	if jitter(0) != 0 {
		t.Fatal("jitter(0) != 0")
	}
}
