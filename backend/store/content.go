package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	// Same DEFLATE format as compress/flate, decoded about twice as fast
	// (fleet search reads every latest configuration when it starts).
	"github.com/klauspost/compress/flate"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

// codecDeflate names raw DEFLATE (RFC 1951) in the contents table's codec
// column, so that a later codec can be added without rewriting old rows.
const codecDeflate = "deflate"

// maxPrealloc bounds the buffer allocated up front from the size column,
// which a corrupt row could make absurd.
const maxPrealloc = 64 << 20

// Sum returns the lowercase hex sha256 of content, the form hashes take in
// records and in Content's argument.
func Sum(content []byte) string {
	s := sha256.Sum256(content)
	return hex.EncodeToString(s[:])
}

func compress(content []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("compress content: %w", err)
	}
	if _, err := w.Write(content); err != nil {
		return nil, fmt.Errorf("compress content: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compress content: %w", err)
	}
	return buf.Bytes(), nil
}

// inflaters keeps decompressors (tens of KB of state each) for reuse.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// decompress returns the content of a contents row and checks it against the
// row's key, so that a damaged database is reported rather than served.
func decompress(sum, codec string, size int64, data []byte) ([]byte, error) {
	if codec != codecDeflate {
		return nil, api.Errorf(api.KindStorage, "content %s: unknown codec %q (written by a newer cfgsnap?)", Short(sum), codec)
	}
	if size < 0 {
		return nil, api.Errorf(api.KindStorage, "content %s is corrupt: size %d", Short(sum), size)
	}
	var out bytes.Buffer
	out.Grow(int(min(size, maxPrealloc)) + 1)
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(data), nil); err != nil {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("content %s is corrupt", Short(sum)))
	}
	// One byte past size is enough to tell that the stream is too long.
	if _, err := io.Copy(&out, io.LimitReader(r, size+1)); err != nil {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("content %s is corrupt", Short(sum)))
	}
	if int64(out.Len()) != size {
		return nil, api.Errorf(api.KindStorage, "content %s is corrupt: %d bytes instead of %d", Short(sum), out.Len(), size)
	}
	if got := Sum(out.Bytes()); got != sum {
		return nil, api.Errorf(api.KindStorage, "content %s is corrupt: its sha256 is %s", Short(sum), got)
	}
	return out.Bytes(), nil
}

// IsHex reports whether s is non-empty lowercase hex.
func IsHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NormHash lowercases h and reports whether it is a full sha256 in hex.
func NormHash(h string) (string, bool) {
	h = strings.ToLower(h)
	return h, len(h) == sha256.Size*2 && IsHex(h)
}

// Short abbreviates a hash for messages.
func Short(h string) string { return textfmt.ShortHash(h) }
