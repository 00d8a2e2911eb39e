package kv

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/jsretry"
	"github.com/cfgsnap/cfgsnap/backend/lock"
)

// badEntries reports bucket values that are not leases of their key:
// they are treated as expired, and each is logged and counted once. The
// zero value is ready to use.
type badEntries struct {
	log   atomic.Pointer[slog.Logger]
	count atomic.Int64

	mu   sync.Mutex
	seen map[string]struct{} // key@revision already reported
}

const maxBadSeen = 4096

// SetLogger makes the locker log each value it treats as expired because it
// is not a lease of its key (once); call it before the locker is used.
func (l *Locker) SetLogger(lg *slog.Logger) { l.bad.log.Store(lg) }

// Skipped returns how many distinct values were treated as expired for not
// being leases of their key, for a metrics counter.
func (l *Locker) Skipped() int64 { return l.bad.count.Load() }

func (b *badEntries) report(key string, rev uint64, err error) {
	id := key + "@" + strconv.FormatUint(rev, 10)
	b.mu.Lock()
	if _, ok := b.seen[id]; ok {
		b.mu.Unlock()
		return
	}
	if b.seen == nil || len(b.seen) >= maxBadSeen {
		b.seen = map[string]struct{}{}
	}
	b.seen[id] = struct{}{}
	b.mu.Unlock()
	b.count.Add(1)
	if l := b.log.Load(); l != nil {
		l.Warn("a lock holds a value that is not a lease of its device: treated as expired", "lock", key, "revision", rev, "err", err)
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// takeOver replaces the value at revision rev of bucket key k, which is not
// a lease, with a lease for info: a publish that expects that revision and
// carries the TTL, like a renewal.
func (l *Locker) takeOver(ctx context.Context, k string, rev uint64, info lock.Info, ttl time.Duration) (uint64, error) {
	var next uint64
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		ack, err := l.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + l.bucket + "." + k, Data: encode(lockKey(k), info)},
			jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl))
		if err != nil {
			return err
		}
		next = ack.Sequence
		return nil
	})
	return next, err
}
