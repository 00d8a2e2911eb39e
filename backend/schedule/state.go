package schedule

import (
	"context"
	"errors"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Status is where a device stands in an interval.
type Status string

const (
	// StatusRunning: a worker claimed the device for the interval and is
	// backing it up.
	StatusRunning Status = "running"
	// StatusDone: the interval's backup succeeded; nobody runs another
	// until the next interval.
	StatusDone Status = "done"
	// StatusFailed: the backup failed; it is retried from NextAt.
	StatusFailed Status = "failed"
	// StatusSkipped: the device was locked by another job (a manual
	// backup); it is tried again from NextAt.
	StatusSkipped Status = "skipped"
)

// Entry is a device's schedule state, shared by every scheduler of a fleet.
type Entry struct {
	// Slot is the interval the entry is about (see Scheduler.Slot).
	Slot     int64  `json:"slot"`
	Status   Status `json:"status"`
	Worker   string `json:"worker"`
	Attempts int    `json:"attempts"` // in this slot
	// Failures counts failed attempts since the last success, across
	// intervals: it sets the backoff.
	Failures int       `json:"failures"`
	Updated  time.Time `json:"updated"`
	// NextAt is the earliest time of the next attempt after a failure or
	// a skip.
	NextAt time.Time `json:"next_at,omitzero"`
	// JobID and Error describe the last attempt.
	JobID string `json:"job_id,omitempty"`
	Error string `json:"error,omitempty"`
}

// ErrConflict is returned by State.Put when the entry changed since it was
// read: another scheduler claimed or finished the device first.
var ErrConflict = errors.New("schedule state changed since it was read")

// State keeps one Entry per device. Every write is checked against the
// revision it was computed from, which is what makes a claim exclusive
// across any number of schedulers.
type State interface {
	// Get returns the device's entry and its revision; revision 0 and a
	// zero Entry when the device has none.
	Get(ctx context.Context, key store.DeviceKey) (Entry, uint64, error)
	// Put writes e if the device's revision is still rev (0: no entry yet)
	// and returns the new revision, or ErrConflict.
	Put(ctx context.Context, key store.DeviceKey, e Entry, rev uint64) (uint64, error)
}
