package api

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// crockford is the ULID alphabet (no I, L, O, U).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idState struct {
	sync.Mutex
	lastMS uint64
	last   [10]byte
}

// NewID returns a ULID: 26 characters that sort by creation time (to the
// millisecond, then monotonically within this process), so job and snapshot
// IDs can page history without a second column.
func NewID() string { return newIDAt(time.Now()) }

func newIDAt(t time.Time) string {
	ms := uint64(t.UnixMilli())
	idState.Lock()
	var entropy [10]byte
	if ms <= idState.lastMS {
		ms = idState.lastMS
		entropy = idState.last
		for i := len(entropy) - 1; i >= 0; i-- { // increment: monotonic within one ms
			entropy[i]++
			if entropy[i] != 0 {
				break
			}
		}
	} else {
		_, _ = rand.Read(entropy[:])
	}
	idState.lastMS, idState.last = ms, entropy
	idState.Unlock()

	var b [16]byte
	var msb [8]byte
	binary.BigEndian.PutUint64(msb[:], ms)
	copy(b[:6], msb[2:])
	copy(b[6:], entropy[:])
	return encodeULID(b)
}

func encodeULID(b [16]byte) string {
	// 128 bits as 26 base32 digits, the first carrying only 3 bits.
	var out [26]byte
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// IsID reports whether id has the shape of NewID's IDs (a ULID), whose
// string order is their time order; history paging relies on that order.
func IsID(id string) bool {
	if len(id) != 26 || id[0] > '7' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(crockford, id[i]) < 0 {
			return false
		}
	}
	return true
}

// NextID returns the smallest ID greater than id. Stores use it when a
// fresh ID does not sort after a device's latest one: another process made
// that one within the same millisecond (IDs are monotonic only within a
// process) or the clock stepped back.
func NextID(id string) (string, bool) {
	if !IsID(id) {
		return "", false
	}
	b := []byte(id)
	for i := len(b) - 1; i >= 0; i-- {
		d := strings.IndexByte(crockford, b[i])
		if d < len(crockford)-1 {
			b[i] = crockford[d+1]
			return string(b), IsID(string(b))
		}
		b[i] = crockford[0]
	}
	return "", false
}
