package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/jskv"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// DefaultBucket is the KV bucket of the schedule state unless told otherwise.
const DefaultBucket = "cfgsnap_schedule"

// KVState keeps the schedule state in a JetStream KV bucket, one key
// tenant.device per device, for schedulers on many workers.
type KVState struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	bucket string
}

var _ State = (*KVState)(nil)

// KVOptions say where the state lives.
type KVOptions struct {
	Bucket   string // "" is DefaultBucket
	Replicas int    // 3 on a three-node cluster; 0 is 1
}

// OpenKV opens the state bucket, creating it when missing.
func OpenKV(ctx context.Context, js jetstream.JetStream, opts KVOptions) (*KVState, error) {
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "cfgsnap scheduled backups: per device, the interval claimed or done and the failures",
		History:     1,
		Replicas:    opts.Replicas,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "open schedule bucket "+opts.Bucket)
	}
	return &KVState{js: js, kv: kv, bucket: opts.Bucket}, nil
}

func kvKey(k store.DeviceKey) string { return k.Tenant + "." + k.Device }

// Get implements State. It reads from the stream leader: a claim decided on
// a lagging replica's answer would only lose its race, but a worker that
// reads its own "done" from a lagging replica must not back up again.
func (s *KVState) Get(ctx context.Context, key store.DeviceKey) (Entry, uint64, error) {
	if !api.ValidID(key.Tenant) || !api.ValidID(key.Device) {
		return Entry{}, 0, api.Errorf(api.KindBadRequest, "schedule state of %s: invalid ID", key)
	}
	m, err := jskv.Last(ctx, s.js, s.bucket, kvKey(key))
	if err != nil {
		return Entry{}, 0, api.Wrap(api.KindStorage, err, "read schedule state of "+key.String())
	}
	if m == nil { // no message: never scheduled
		return Entry{}, 0, nil
	}
	if len(m.Data) == 0 {
		// A delete or purge marker (someone cleared the device's state):
		// never scheduled, but the next write must expect the marker.
		return Entry{}, m.Seq, nil
	}
	var e Entry
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return Entry{}, 0, api.Wrap(api.KindStorage, fmt.Errorf("not a schedule entry: %w", err), "read schedule state of "+key.String())
	}
	return e, m.Seq, nil
}

// Put implements State with a publish that expects the key's last
// revision, so exactly one of several schedulers wins.
func (s *KVState) Put(ctx context.Context, key store.DeviceKey, e Entry, rev uint64) (uint64, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "write schedule state of "+key.String())
	}
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + s.bucket + "." + kvKey(key), Data: data},
		jetstream.WithExpectLastSequencePerSubject(rev))
	if jskv.Conflict(err) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "write schedule state of "+key.String())
	}
	return ack.Sequence, nil
}
