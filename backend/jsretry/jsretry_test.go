package jsretry

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
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
