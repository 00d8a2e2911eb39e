package hostkey

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/jskv"
	"github.com/cfgsnap/cfgsnap/backend/jsretry"
)

// DefaultBucket is the bucket of the default prefix.
const DefaultBucket = "cfgsnap_hostkeys"

// createAttempts bounds Create's loop when the key changes between a
// refused create and the read of the winner (forgotten in between).
const createAttempts = 10

// KVOptions say where the keys live.
type KVOptions struct {
	// Bucket is the KV bucket; "" is DefaultBucket.
	Bucket string
	// Replicas of the bucket, like the store's other buckets: 3 on a
	// three-node cluster. 0 is 1.
	Replicas int
}

// KV is a Store in a JetStream key-value bucket. The KV key of a device is
// "tenant.device" (IDs hold no '.'). Every write is revision-checked: first
// use is kv.Create, which only one of several racing workers wins, and
// Forget deletes only the revision it read.
type KV struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	bucket string
}

var _ Store = (*KV)(nil)

// OpenKV opens the bucket, creating it when needed (serve does this at start).
func OpenKV(ctx context.Context, js jetstream.JetStream, opts KVOptions) (*KV, error) {
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	kv, err := jskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:       opts.Bucket,
		Description:  "cfgsnap SSH host keys of devices, one per tenant.device, shared by every worker",
		History:      1,
		MaxValueSize: maxValue,
		Replicas:     opts.Replicas,
		Storage:      jetstream.FileStorage,
	})
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "open host key bucket "+opts.Bucket)
	}
	return &KV{js: js, kv: kv, bucket: opts.Bucket}, nil
}

// ErrNoBucket is BindKV's answer when the bucket does not exist: the
// service does not keep host keys on this NATS.
var ErrNoBucket = errors.New("no host key bucket")

// BindKV opens an existing bucket without creating or changing it, for
// tools (hostkey forget) that must not set up what only serve configures.
func BindKV(ctx context.Context, js jetstream.JetStream, bucket string) (*KV, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	var kv jetstream.KeyValue
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		kv, err = js.KeyValue(ctx, bucket)
		return err
	})
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return nil, fmt.Errorf("%w %s on this NATS", ErrNoBucket, bucket)
	}
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "open host key bucket "+bucket)
	}
	return &KV{js: js, kv: kv, bucket: bucket}, nil
}

// Bucket is the bucket's name.
func (s *KV) Bucket() string { return s.bucket }

// Where implements Store.
func (s *KV) Where() string { return "the cluster's host key bucket " + s.bucket }

func bucketKey(tenant, device string) (string, error) {
	if err := checkIDs(tenant, device); err != nil {
		return "", err
	}
	return tenant + "." + device, nil
}

// Get implements Store.
func (s *KV) Get(ctx context.Context, tenant, device string) (*Entry, error) {
	e, _, err := s.get(ctx, tenant, device)
	return e, err
}

// get returns the decoded entry and the raw revision (also for a record that
// does not decode, so Forget can remove it).
func (s *KV) get(ctx context.Context, tenant, device string) (*Entry, uint64, error) {
	k, err := bucketKey(tenant, device)
	if err != nil {
		return nil, 0, err
	}
	var m *jskv.Entry
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		m, err = jskv.Last(ctx, s.js, s.bucket, k)
		return err
	})
	if err != nil {
		return nil, 0, api.Wrap(api.KindStorage, err, fmt.Sprintf("read the host key of %s/%s from bucket %s", tenant, device, s.bucket))
	}
	if m == nil || m.Deleted {
		return nil, 0, nil
	}
	e, err := Decode(tenant, device, m.Data)
	if err != nil {
		return nil, m.Seq, api.Wrap(api.KindStorage, err, fmt.Sprintf("bucket %s, key %s, revision %d", s.bucket, k, m.Seq))
	}
	e.Revision = m.Seq
	return &e, m.Seq, nil
}

// Create implements Store. A refused create (the key exists, or an earlier
// attempt of this very create landed and only its answer was lost) is
// settled by reading the leader's record: the caller compares keys.
func (s *KV) Create(ctx context.Context, e Entry) (Entry, bool, error) {
	k, err := bucketKey(e.Tenant, e.Device)
	if err != nil {
		return Entry{}, false, err
	}
	data, err := Encode(e)
	if err != nil {
		return Entry{}, false, api.Wrap(api.KindInternal, err, "record host key")
	}
	for range createAttempts {
		var rev uint64
		err := jsretry.Do(ctx, func(ctx context.Context) error {
			var err error
			rev, err = s.kv.Create(ctx, k, data)
			return err
		})
		if err == nil {
			e.Revision = rev
			return e, true, nil
		}
		if !jskv.Conflict(err) {
			return Entry{}, false, api.Wrap(api.KindStorage, err, fmt.Sprintf("record the host key of %s in bucket %s", e.Label(), s.bucket))
		}
		cur, err := s.Get(ctx, e.Tenant, e.Device)
		if err != nil {
			return Entry{}, false, err
		}
		if cur == nil {
			continue // forgotten in between: try again
		}
		return *cur, false, nil
	}
	return Entry{}, false, api.Errorf(api.KindStorage, "record the host key of %s in bucket %s: the record kept changing", e.Label(), s.bucket)
}

// Forget implements Store. It deletes the revision it read, so a key
// recorded by a worker in between is not forgotten unseen.
func (s *KV) Forget(ctx context.Context, tenant, device string) (*Entry, error) {
	k, err := bucketKey(tenant, device)
	if err != nil {
		return nil, err
	}
	for range createAttempts {
		cur, rev, err := s.get(ctx, tenant, device)
		if err != nil && rev == 0 {
			return nil, err
		}
		if rev == 0 {
			return nil, nil
		}
		gone := cur
		if gone == nil { // a record that does not decode: remove it all the same
			gone = &Entry{Tenant: tenant, Device: device, Revision: rev}
		}
		err = jsretry.Do(ctx, func(ctx context.Context) error {
			return s.kv.Delete(ctx, k, jetstream.LastRevision(rev))
		})
		if err == nil {
			return gone, nil
		}
		if !jskv.Conflict(err) {
			return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("forget the host key of %s/%s in bucket %s", tenant, device, s.bucket))
		}
		// Changed in between, or this delete landed and its answer was
		// lost: read again.
	}
	return nil, api.Errorf(api.KindStorage, "forget the host key of %s/%s in bucket %s: the record kept changing", tenant, device, s.bucket)
}
