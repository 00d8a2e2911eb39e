// Package jsretry retries JetStream calls through what passes by itself: a
// stream electing a new leader after a node goes away, a client moving to
// another node, a consumer that stopped delivering. The store and the lock
// on the cluster both use it, so they ride out the same failures alike.
package jsretry

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bounds of Do: one attempt may take attemptTimeout, and retrying stops
// after retryFor unless the caller's context ends first. Together they ride
// out a JetStream leader election after a node goes away (a few seconds)
// and a client reconnecting to another node.
const (
	attemptTimeout = 3 * time.Second
	retryFor       = 15 * time.Second
	firstBackoff   = 25 * time.Millisecond
	maxBackoff     = time.Second
)

// ErrStalled marks a read whose consumer stopped delivering (it lives on a
// replica that lost its leader); retrying starts a new one.
var ErrStalled = errors.New("the stream stopped delivering")

// Do runs f until it succeeds, fails for a reason retrying cannot fix,
// or the time is up. Every write it retries is revision-checked, so an
// attempt that landed but lost its answer shows up as a conflict, which the
// caller resolves by reading the key.
func Do(ctx context.Context, f func(ctx context.Context) error) error {
	return Within(ctx, attemptTimeout, f)
}

// Within is Do with attempts of up to perAttempt each.
func Within(ctx context.Context, perAttempt time.Duration, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(retryFor)
	backoff := firstBackoff
	for {
		actx, cancel := context.WithTimeout(ctx, perAttempt)
		err := f(actx)
		cancel()
		if err == nil || !Transient(err) || ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			if err != nil && ctx.Err() != nil {
				return errors.Join(err, ctx.Err())
			}
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Transient reports whether err may go away by itself: no answer in time,
// nobody listening while a stream elects a leader, the connection moving to
// another node, or the server saying it is temporarily unavailable.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, ErrStalled)
}
