package collect

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// CountingWriter passes writes through to an io.Writer, counts the bytes,
// and reports the running total for progress display without flooding the
// reader: at most once per interval (and, optionally, per MinBytes).
// Count may be read from any goroutine while writes go on.
type CountingWriter struct {
	// MinBytes, if set before the first Write, also holds reports back
	// until that many new bytes arrived.
	MinBytes int64

	w        io.Writer
	interval time.Duration
	report   func(total int64)

	n atomic.Int64

	mu         sync.Mutex // orders reports, so totals arrive increasing
	reportedAt time.Time
	reportedN  int64
}

// NewCountingWriter wraps w (nil discards). report, if not nil, is called
// with the total at most once per interval (0: on every write), from inside
// Write, so it must be quick: hand off to a channel rather than block.
func NewCountingWriter(w io.Writer, interval time.Duration, report func(total int64)) *CountingWriter {
	return &CountingWriter{w: w, interval: interval, report: report}
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n := len(p)
	var err error
	if c.w != nil {
		n, err = c.w.Write(p)
	}
	total := c.n.Add(int64(n))
	if c.report != nil && n > 0 {
		c.mu.Lock()
		now := time.Now()
		if total-c.reportedN >= max(c.MinBytes, 1) && (c.reportedAt.IsZero() || now.Sub(c.reportedAt) >= c.interval) {
			c.reportedAt, c.reportedN = now, total
			c.report(total)
		}
		c.mu.Unlock()
	}
	return n, err
}

// Count is the number of bytes written so far.
func (c *CountingWriter) Count() int64 { return c.n.Load() }

// Flush reports the total if it changed since the last report, so the last
// progress event shows the final size however the limits fell.
func (c *CountingWriter) Flush() {
	if c.report == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if total := c.n.Load(); total != c.reportedN {
		c.reportedAt, c.reportedN = time.Now(), total
		c.report(total)
	}
}
