// Package lock keeps one backup at a time per device. A lock is a lease: it
// names its holder (so a colliding user sees who is backing the device up
// and at which stage), it expires unless renewed (so a crashed holder never
// blocks a device for long), and renewal and release check that the lease is
// still the caller's (so a holder whose lease expired and was taken over
// cannot disturb the new holder). SQLiteLocker keeps leases in the local
// store's database; a JetStream KV locker will implement the same
// interfaces for many workers.
package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

// Info describes a lease and its holder.
type Info struct {
	Holder  string // user@host
	PID     int
	JobID   string
	Since   time.Time
	Stage   api.Stage
	Expires time.Time
}

// HeldError is returned by Acquire when another job holds the key.
type HeldError struct {
	Key  string
	Info Info
}

func (e *HeldError) Error() string {
	since := e.Info.Since.Local()
	layout := textfmt.ClockLayout
	y, m, d := since.Date()
	if ny, nm, nd := time.Now().Date(); y != ny || m != nm || d != nd {
		layout = textfmt.TimeLayout
	}
	var who []string
	if e.Info.PID != 0 {
		who = append(who, fmt.Sprintf("pid %d", e.Info.PID))
	}
	who = append(who, "job "+e.Info.JobID)
	holder := e.Info.Holder
	if holder == "" {
		holder = "an unnamed holder"
	}
	return fmt.Sprintf("%s is being backed up by %s (%s) since %s, stage %s",
		e.Key, holder, strings.Join(who, ", "), since.Format(layout), e.Info.Stage)
}

// LockInfo returns the holder as a locked reply carries it.
func (e *HeldError) LockInfo() api.LockInfo {
	return api.LockInfo{Holder: e.Info.Holder, JobID: e.Info.JobID, Since: e.Info.Since, Stage: e.Info.Stage}
}

// ErrLost is returned by renewal and release when the lease is gone or held
// by another job: it expired and was taken over. The job should stop, as
// another may now be working on the device.
var ErrLost = errors.New("lock lost: it expired and was taken over or removed")

// Locker hands out leases on keys.
type Locker interface {
	// Acquire takes key for info.JobID for ttl, without waiting: a live
	// lease of another job yields a *HeldError; an expired one (its holder
	// crashed or stalled) is taken over. Acquiring a key the same job
	// already holds renews it.
	Acquire(ctx context.Context, key string, info Info, ttl time.Duration) (Lease, error)
	// Holder returns the live lease on key, or nil when it is free or expired.
	Holder(ctx context.Context, key string) (*Info, error)
	// Holders returns every live lease by key.
	Holders(ctx context.Context) (map[string]Info, error)
}

// Lease is an acquired lock.
type Lease interface {
	// Info returns the lease as last acquired or renewed.
	Info() Info
	// Renew extends the lease to ttl from now and records the job's stage;
	// ErrLost when the lease is no longer the caller's.
	Renew(ctx context.Context, stage api.Stage, ttl time.Duration) error
	// Release frees the key if the lease is still the caller's (ErrLost
	// when it is not). Releasing again returns nil.
	Release(ctx context.Context) error
}

// Key returns the lock key of a device, "tenant/device".
func Key(tenant, device string) string { return tenant + "/" + device }

// checkKey rejects keys that are not "tenant/device" with valid IDs.
func checkKey(key string) error {
	tenant, device, ok := strings.Cut(key, "/")
	if !ok || !api.ValidID(tenant) || !api.ValidID(device) {
		return api.Errorf(api.KindBadRequest, "lock key %q: want tenant/device", key)
	}
	return nil
}

// minRenewInterval keeps Keep's ticker valid for absurdly small ttls.
const minRenewInterval = time.Millisecond

// Keep renews l every ttl/3 until ctx ends or stop is called, recording the
// stage that stage returns (the lease's last stage when stage is nil).
// When renewal fails with ErrLost, or fails for any reason for a whole ttl
// (by then the lease has expired and may be taken), lost receives the error
// and is closed, so the job can abort rather than outlive its lock. lost
// receives nothing when the keeping just stops. stop waits until no renewal
// is in flight, so Release may follow it directly.
func Keep(ctx context.Context, l Lease, ttl time.Duration, stage func() api.Stage) (stop func(), lost <-chan error) {
	ch := make(chan error, 1)
	if ttl <= 0 {
		ch <- api.Errorf(api.KindBadRequest, "keep lock: ttl %v is not positive", ttl)
		close(ch)
		return func() {}, ch
	}
	interval := max(ttl/3, minRenewInterval)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		lastOK := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			st := l.Info().Stage
			if stage != nil {
				st = stage()
			}
			// A renewal stuck behind a busy database must not run past the
			// next one's turn.
			rctx, rcancel := context.WithTimeout(ctx, interval)
			err := l.Renew(rctx, st, ttl)
			rcancel()
			switch {
			case err == nil:
				lastOK = time.Now()
			case ctx.Err() != nil:
				return
			case errors.Is(err, ErrLost):
				ch <- err
				close(ch)
				return
			case time.Since(lastOK) >= ttl:
				ch <- fmt.Errorf("%w: renewal failing for %v: %w", ErrLost, time.Since(lastOK).Round(time.Millisecond), err)
				close(ch)
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(cancel)
		<-done
	}, ch
}
