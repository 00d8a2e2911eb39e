// Package jsretry retries JetStream calls through what passes by itself: a
// stream electing a new leader after a node goes away, a client moving to
// another node, a consumer that stopped delivering. The store and the lock
// on the cluster both use it, so they ride out the same failures alike.
package jsretry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Policy bounds a retry loop.
type Policy struct {
	// Attempt bounds one attempt.
	Attempt time.Duration
	// For is how long retrying goes on at least. When the caller's context
	// has a later deadline (a backup's job deadline), retrying goes on
	// until shortly before it: on a loaded machine an election after a
	// node loss can outlast For, and the job still has the time to wait it
	// out.
	For time.Duration
	// FirstBackoff and MaxBackoff bound the wait between attempts, which
	// doubles after each and is jittered, so that the workers that lost the
	// same leader do not all knock again at the same instant.
	FirstBackoff, MaxBackoff time.Duration
}

// Default is the policy of Do: one attempt may take 3 s, and retrying goes
// on for 15 s or up to the caller's deadline. Together they ride out a
// JetStream leader election after a node goes away (a few seconds, more on
// a busy machine) and a client reconnecting to another node.
var Default = Policy{Attempt: 3 * time.Second, For: 15 * time.Second, FirstBackoff: 25 * time.Millisecond, MaxBackoff: time.Second}

// deadlineMargin is left of the caller's deadline for it to act on the
// error (record it, reply) rather than fail with its own context.
const deadlineMargin = 500 * time.Millisecond

// ErrStalled marks a read whose consumer stopped delivering (it lives on a
// replica that lost its leader); retrying starts a new one.
var ErrStalled = errors.New("the stream stopped delivering")

// Do runs f under the Default policy until it succeeds, fails for a reason
// retrying cannot fix, or the time is up. Every write it retries is
// revision-checked, so an attempt that landed but lost its answer shows up
// as a conflict, which the caller resolves by reading the key.
func Do(ctx context.Context, f func(ctx context.Context) error) error {
	return Default.Do(ctx, f)
}

// Within is Do with attempts of up to perAttempt each.
func Within(ctx context.Context, perAttempt time.Duration, f func(ctx context.Context) error) error {
	p := Default
	p.Attempt = perAttempt
	return p.Do(ctx, f)
}

// Do runs f under p; see the package's Do.
func (p Policy) Do(ctx context.Context, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(p.For)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-deadlineMargin).After(deadline) {
		deadline = dl.Add(-deadlineMargin)
	}
	backoff := p.FirstBackoff
	for {
		actx, cancel := context.WithTimeout(ctx, p.Attempt)
		err := f(actx)
		cancel()
		wait := jitter(backoff)
		if err == nil || !Transient(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			if err != nil && ctx.Err() != nil {
				return errors.Join(err, ctx.Err())
			}
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(2*backoff, p.MaxBackoff)
	}
}

// jitter spreads d over [d/2, 3d/2).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}

// Transient reports whether err may go away by itself: no answer in time,
// nobody listening while a stream elects a leader ("no responders"), the
// server saying the stream or JetStream is temporarily unavailable (leader
// not available, cluster not available: 5xx), or the connection moving to
// another node.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrNoServers) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, ErrStalled)
}
