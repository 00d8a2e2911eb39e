package api

import (
	"crypto/rand"
	"encoding/binary"
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
