package api

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// idSource makes the IDs of this process. ulid's monotonic entropy is not
// safe for concurrent use by itself, and its generator would let an ID go
// back in time when the clock steps back; the mutex guards both, and
// lastMS holds the time still until the clock catches up, so the IDs of one
// process always sort in creation order.
var idSource = struct {
	sync.Mutex
	lastMS  uint64
	entropy *ulid.MonotonicEntropy
}{entropy: ulid.Monotonic(rand.Reader, 0)}

// NewID returns a ULID: 26 characters that sort by creation time (to the
// millisecond, then monotonically within this process), so job and snapshot
// IDs can page history without a second column.
func NewID() string { return newIDAt(time.Now()) }

func newIDAt(t time.Time) string {
	ms := ulid.Timestamp(t)
	idSource.Lock()
	defer idSource.Unlock()
	ms = max(ms, idSource.lastMS)
	id, err := ulid.New(ms, idSource.entropy)
	if err != nil {
		// The random increments overflowed the entropy within one
		// millisecond (about 2^48 IDs in it): move to the next one, where
		// the entropy starts afresh.
		ms++
		id = ulid.MustNew(ms, idSource.entropy)
	}
	idSource.lastMS = ms
	return id.String()
}

// IsID reports whether id has the shape of NewID's IDs (a ULID in upper
// case), whose string order is their time order; history paging relies on
// that order, which is why lower case, accepted by ULID parsers, is not.
func IsID(id string) bool {
	if len(id) != ulid.EncodedSize {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(ulid.Encoding, id[i]) < 0 {
			return false
		}
	}
	_, err := ulid.ParseStrict(id) // rejects the values above 2^128 (a first digit past 7)
	return err == nil
}

// NextID returns the smallest ID greater than id. Stores use it when a
// fresh ID does not sort after a device's latest one: another process made
// that one within the same millisecond (IDs are monotonic only within a
// process) or the clock stepped back.
func NextID(id string) (string, bool) {
	u, err := ulid.ParseStrict(id)
	if err != nil || !IsID(id) {
		return "", false
	}
	// 128-bit increment, big-endian.
	for i := len(u) - 1; i >= 0; i-- {
		u[i]++
		if u[i] != 0 {
			return u.String(), true
		}
	}
	return "", false // the largest ULID has no successor
}
