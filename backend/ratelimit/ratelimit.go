// Package ratelimit bounds how often one key (a user of the SSH-served TUI,
// a tenant of the service) may trigger backups: a token bucket per key,
// refused requests answered with an api error of kind rate_limited that
// says when to retry.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// DefaultPerMinute is the default budget, like the seed's API.
const DefaultPerMinute = 10

// idleForget is how long an untouched key's bucket is kept: a full bucket
// carries no state worth keeping, so keys cannot grow the map forever.
const idleForget = 10 * time.Minute

// Limiter allows perMinute triggers per key, in bursts of up to perMinute.
// The zero value and a nil *Limiter allow everything.
type Limiter struct {
	perMinute int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// New returns a limiter of perMinute triggers per key; perMinute <= 0
// returns nil, which allows everything.
func New(perMinute int) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	return &Limiter{perMinute: perMinute, now: time.Now, buckets: map[string]*bucket{}}
}

// PerMinute is the configured budget (0 for no limit).
func (l *Limiter) PerMinute() int {
	if l == nil {
		return 0
	}
	return l.perMinute
}

// Allow takes one token of key's bucket. Refused, it returns an *api.Error
// of kind rate_limited naming who (e.g. "user alice") and when to retry.
func (l *Limiter) Allow(key, who string) error {
	if l == nil || l.perMinute <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMinute)), l.perMinute)}
		l.buckets[key] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return api.Errorf(api.KindRateLimited, "%s may start %d backups per minute: retry later", who, l.perMinute)
	}
	wait := r.DelayFrom(now)
	if wait <= 0 {
		return nil
	}
	// A refused request must not spend a token it never used.
	r.CancelAt(now)
	secs := int((wait + time.Second - 1) / time.Second)
	return api.Errorf(api.KindRateLimited, "%s may start %d backups per minute: retry in %ds (at %s)",
		who, l.perMinute, secs, now.Add(wait).Format("15:04:05"))
}

func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < idleForget {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.used) > idleForget {
			delete(l.buckets, k)
		}
	}
}
