// Package kv keeps the per-device locks of many `cfgsnap serve` workers in a
// JetStream key-value bucket, so that a device is backed up by one worker at a
// time across a NATS cluster. It implements lock.Locker with the same
// contract as the SQLite locker of one machine.
//
// A lease is a key with a per-key TTL (nats-server 2.11+): the server deletes
// it when its holder stops renewing, whatever happened to the holder, and no
// worker's clock takes part in deciding that a lease expired. Every change is
// checked against the key's revision, so only one of several racing workers
// wins a key, a renewal or a release:
//
//   - acquire: kv.Create with the TTL; a "key exists" or wrong-last-sequence
//     answer (10071, or 10164 on a replicated bucket) means another job won;
//   - renew: a publish carrying Nats-TTL and
//     Nats-Expected-Last-Subject-Sequence, never kv.Update, which writes the
//     key without a TTL and so would make the lease immortal;
//   - release: a purge that expects the lease's revision.
//
// The server keeps TTLs in whole seconds, so a lease lasts at least one
// second and its TTL is rounded up to the next second. An expired lease is
// gone: unlike the SQLite locker, its former holder cannot renew it even if
// nobody took it in between, because the bucket keeps no history that would
// prove it.
package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/jskv"
	"github.com/cfgsnap/cfgsnap/backend/jsretry"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/lock"
)

// DefaultBucket is the bucket the locks live in unless Options say otherwise.
const DefaultBucket = "cfgsnap_locks"

// markerTTL is how long the bucket keeps the marker of an expired or
// released lease, so that watchers see the key go; then the marker goes too
// and the bucket holds only live leases.
const markerTTL = time.Minute

// acquireAttempts bounds Acquire's retries when the key changes between a
// refused create and the read of its holder (released or expired in between).
const acquireAttempts = 20

// Options say where the locks live.
type Options struct {
	// Bucket is the KV bucket; "" is DefaultBucket.
	Bucket string
	// Replicas is the bucket's replica count: 3 on a three-node cluster, so
	// that locks survive a node; 0 is 1.
	Replicas int
}

// Locker hands out leases kept in a JetStream KV bucket.
type Locker struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	bucket string
	bad    badEntries // entries that are not leases of their key (valid.go)
}

var _ lock.Locker = (*Locker)(nil)

// New opens the lock bucket, creating it (or enabling per-key TTLs on it)
// when needed.
func New(ctx context.Context, js jetstream.JetStream, opts Options) (*Locker, error) {
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	kv, err := jskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:         opts.Bucket,
		Description:    "cfgsnap per-device backup locks (leases with per-key TTL)",
		History:        1,
		Replicas:       opts.Replicas,
		Storage:        jetstream.FileStorage,
		LimitMarkerTTL: markerTTL,
	})
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("open lock bucket %s (nats-server 2.11 or later is needed for per-key TTLs)", opts.Bucket))
	}
	return &Locker{js: js, kv: kv, bucket: opts.Bucket}, nil
}

// value is a lease as stored in the bucket. Times are unix milliseconds of
// the writer's clock: they tell people who holds a device since when; the
// server's TTL, not these, decides when the lease ends. Key repeats the
// lock key (tenant/device), so that a value written on another key (issue
// 11: a service tricked into replying onto a KV subject) is not a lease.
type value struct {
	Key       string    `json:"key"`
	Holder    string    `json:"holder"`
	PID       int       `json:"pid,omitempty"`
	JobID     string    `json:"job_id"`
	SinceMS   int64     `json:"since_ms"`
	Stage     api.Stage `json:"stage"`
	ExpiresMS int64     `json:"expires_ms"`
}

func encode(key string, i lock.Info) []byte {
	b, _ := json.Marshal(value{Key: key, Holder: i.Holder, PID: i.PID, JobID: i.JobID, SinceMS: i.Since.UnixMilli(),
		Stage: i.Stage, ExpiresMS: i.Expires.UnixMilli()})
	return b
}

// decode reads the lease of lock key (tenant/device). A value that does not
// decode, names another key or no job is not a lease.
func decode(key string, data []byte) (lock.Info, error) {
	var v value
	if err := json.Unmarshal(data, &v); err != nil {
		return lock.Info{}, fmt.Errorf("lock %s holds no lease record: %w", key, err)
	}
	if v.Key != key {
		return lock.Info{}, fmt.Errorf("lock %s holds a lease record of %q", key, clip(v.Key))
	}
	if v.JobID == "" {
		return lock.Info{}, fmt.Errorf("lock %s holds a lease record without a job", key)
	}
	return lock.Info{Holder: v.Holder, PID: v.PID, JobID: v.JobID, Since: time.UnixMilli(v.SinceMS),
		Stage: v.Stage, Expires: time.UnixMilli(v.ExpiresMS)}, nil
}

// bucketKey maps "tenant/device" to the KV key "tenant.device": KV keys may
// not hold '/', and IDs hold no '.', so the mapping is one to one.
func bucketKey(key string) (string, error) {
	tenant, device, ok := strings.Cut(key, "/")
	if !ok || !api.ValidID(tenant) || !api.ValidID(device) {
		return "", api.Errorf(api.KindBadRequest, "lock key %q: want tenant/device", key)
	}
	return tenant + "." + device, nil
}

func lockKey(k string) string { return strings.Replace(k, ".", "/", 1) }

// roundTTL is the lease length the server will apply: whole seconds, at
// least one.
func roundTTL(ttl time.Duration) time.Duration {
	s := (ttl + time.Second - 1) / time.Second
	return max(s, 1) * time.Second
}

// Acquire implements lock.Locker. ttl is rounded up to whole seconds.
func (l *Locker) Acquire(ctx context.Context, key string, info lock.Info, ttl time.Duration) (lock.Lease, error) {
	k, err := bucketKey(key)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, api.Errorf(api.KindBadRequest, "lock %s: ttl %v is not positive", key, ttl)
	}
	if info.JobID == "" {
		return nil, api.Errorf(api.KindBadRequest, "lock %s: no job id", key)
	}
	if info.Stage == "" {
		info.Stage = api.StageLockAcquired
	}
	ttl = roundTTL(ttl)
	for range acquireAttempts {
		now := time.Now()
		info.Since, info.Expires = time.UnixMilli(now.UnixMilli()), time.UnixMilli(now.Add(ttl).UnixMilli())
		var rev uint64
		err := jsretry.Do(ctx, func(ctx context.Context) error {
			var err error
			rev, err = l.kv.Create(ctx, k, encode(key, info), jetstream.KeyTTL(ttl))
			return err
		})
		if err == nil {
			return &lease{l: l, key: key, k: k, rev: rev, info: info}, nil
		}
		if !jskv.Conflict(err) {
			return nil, api.Wrap(api.KindStorage, err, "lock "+key)
		}
		// Another job won the key, or this job's own create landed on an
		// attempt whose answer was lost: the holder decides which.
		cur, rev, err := l.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if cur == nil && rev != 0 {
			// Not a lease (garbage, or one of another key): as good as
			// expired, so take it over, revision-checked like a create.
			rev, err := l.takeOver(ctx, k, rev, info, ttl)
			if err == nil {
				return &lease{l: l, key: key, k: k, rev: rev, info: info}, nil
			}
			if !jskv.Conflict(err) {
				return nil, api.Wrap(api.KindStorage, err, "lock "+key)
			}
			continue // someone else changed the key first: look again
		}
		if cur == nil {
			continue // released or expired in between: try again
		}
		if cur.JobID != info.JobID {
			return nil, &lock.HeldError{Key: key, Info: *cur}
		}
		// The same job acquiring again renews its lease and keeps its start.
		info.Since = cur.Since
		ls := &lease{l: l, key: key, k: k, rev: rev, info: *cur}
		if err := ls.Renew(ctx, info.Stage, ttl); err != nil {
			if errors.Is(err, lock.ErrLost) {
				continue
			}
			return nil, err
		}
		return ls, nil
	}
	// Under heavy contention the key kept changing hands; if someone holds
	// it now, that is the answer a caller can act on.
	if cur, _, err := l.get(ctx, k); err == nil && cur != nil && cur.JobID != info.JobID {
		return nil, &lock.HeldError{Key: key, Info: *cur}
	}
	return nil, api.Errorf(api.KindStorage, "lock %s: the lease changed hands %d times while acquiring", key, acquireAttempts)
}

// get returns the live lease on bucket key k and its revision, or nil when
// there is none, as the bucket's stream leader has it. A value that is not
// a lease of k counts as none, reported once; its revision is returned
// with the nil lease so that Acquire can take it over.
func (l *Locker) get(ctx context.Context, k string) (*lock.Info, uint64, error) {
	var e *jskv.Entry
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		e, err = jskv.Last(ctx, l.js, l.bucket, k)
		return err
	})
	if err != nil {
		return nil, 0, api.Wrap(api.KindStorage, err, "read lock "+lockKey(k))
	}
	if e == nil || e.Deleted {
		return nil, 0, nil
	}
	i, err := decode(lockKey(k), e.Data)
	if err != nil {
		l.bad.report(lockKey(k), e.Seq, err)
		return nil, e.Seq, nil
	}
	return &i, e.Seq, nil
}

// Holder implements lock.Locker.
func (l *Locker) Holder(ctx context.Context, key string) (*lock.Info, error) {
	k, err := bucketKey(key)
	if err != nil {
		return nil, err
	}
	i, _, err := l.get(ctx, k)
	return i, err
}

// Holders implements lock.Locker. The key list comes from the stream's
// info and each value from the leader, like Holder: a watch is served by a
// consumer that may sit on a lagging replica, and then misses a lease taken
// a moment ago.
func (l *Locker) Holders(ctx context.Context) (map[string]lock.Info, error) {
	prefix := "$KV." + l.bucket + "."
	var subjects map[string]uint64
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		st, err := l.js.Stream(ctx, "KV_"+l.bucket)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
		if err != nil {
			return err
		}
		subjects = info.State.Subjects
		return nil
	})
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read locks")
	}
	out := make(map[string]lock.Info, len(subjects))
	for subj := range subjects {
		k := strings.TrimPrefix(subj, prefix)
		i, _, err := l.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if i != nil {
			out[lockKey(k)] = *i
		}
	}
	return out, nil
}

type lease struct {
	l   *Locker
	key string // tenant/device
	k   string // bucket key

	mu       sync.Mutex // guards the fields below; held across requests so they are ordered
	rev      uint64
	info     lock.Info
	released bool
}

func (ls *lease) Info() lock.Info {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.info
}

// Renew implements lock.Lease: a publish that expects the lease's revision
// and carries the TTL again, since a message without Nats-TTL never expires.
func (ls *lease) Renew(ctx context.Context, stage api.Stage, ttl time.Duration) error {
	if ttl <= 0 {
		return api.Errorf(api.KindBadRequest, "renew lock %s: ttl %v is not positive", ls.key, ttl)
	}
	ttl = roundTTL(ttl)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.released {
		return fmt.Errorf("renew lock %s: released: %w", ls.key, lock.ErrLost)
	}
	if stage == "" {
		stage = ls.info.Stage
	}
	next := ls.info
	next.Stage, next.Expires = stage, time.UnixMilli(time.Now().Add(ttl).UnixMilli())
	subject := "$KV." + ls.l.bucket + "." + ls.k
	var rev uint64
	var err error
	for attempt := 0; ; attempt++ {
		err = jsretry.Do(ctx, func(ctx context.Context) error {
			ack, err := ls.l.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: encode(ls.key, next)},
				jetstream.WithExpectLastSequencePerSubject(ls.rev), jetstream.WithMsgTTL(ttl))
			if err != nil {
				return err
			}
			rev = ack.Sequence
			return nil
		})
		if !jskv.Conflict(err) {
			break
		}
		// Either the lease is gone, or an earlier attempt of this very
		// renewal landed and only its answer was lost, or an earlier
		// renewal did (its caller gave up waiting while a stream leader was
		// elected): the job ID tells whose the key is.
		cur, curRev, gerr := ls.l.get(ctx, ls.k)
		if gerr != nil {
			return gerr
		}
		if cur == nil || cur.JobID != ls.info.JobID {
			return fmt.Errorf("renew lock %s for job %s: %w", ls.key, ls.info.JobID, lock.ErrLost)
		}
		if cur.Expires.Equal(next.Expires) && cur.Stage == next.Stage {
			rev, err = curRev, nil
			break
		}
		if attempt == 2 {
			return fmt.Errorf("renew lock %s for job %s: the lease keeps changing under it: %w", ls.key, ls.info.JobID, lock.ErrLost)
		}
		ls.rev = curRev // still this job's: renew on top of the renewal that landed
	}
	if err != nil {
		return api.Wrap(api.KindStorage, err, "renew lock "+ls.key)
	}
	ls.rev, ls.info = rev, next
	return nil
}

// Release implements lock.Lease: a purge of the key that expects the
// lease's revision, leaving a marker that expires by itself.
func (ls *lease) Release(ctx context.Context) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.released {
		return nil
	}
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		return ls.l.kv.Purge(ctx, ls.k, jetstream.LastRevision(ls.rev), jetstream.PurgeTTL(markerTTL))
	})
	if jskv.Conflict(err) {
		// The lease expired, or was taken over, or an earlier attempt of
		// this release landed and only its answer was lost.
		cur, curRev, gerr := ls.l.get(ctx, ls.k)
		if gerr != nil {
			return gerr
		}
		if cur != nil && cur.JobID == ls.info.JobID && curRev != ls.rev {
			// Still this job's, at a revision this lease did not see (a
			// renewal whose answer was lost): release that one.
			ls.rev = curRev
			err = jsretry.Do(ctx, func(ctx context.Context) error {
				return ls.l.kv.Purge(ctx, ls.k, jetstream.LastRevision(ls.rev), jetstream.PurgeTTL(markerTTL))
			})
		}
	}
	if jskv.Conflict(err) {
		ls.released = true
		cur, _, gerr := ls.l.get(ctx, ls.k)
		if gerr != nil {
			return gerr
		}
		if cur == nil {
			return nil // expired untaken, or purged by that earlier attempt: free either way
		}
		return fmt.Errorf("release lock %s for job %s: %w", ls.key, ls.info.JobID, lock.ErrLost)
	}
	if err != nil {
		return api.Wrap(api.KindStorage, err, "release lock "+ls.key)
	}
	ls.released = true
	return nil
}
