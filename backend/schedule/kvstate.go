package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
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
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + s.bucket + "." + kvKey(key)})
	msg, err := s.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+s.bucket, req)
	if err != nil {
		return Entry{}, 0, api.Wrap(api.KindStorage, err, "read schedule state of "+key.String())
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     uint16 `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq  uint64 `json:"seq"`
			Data []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return Entry{}, 0, api.Wrap(api.KindStorage, err, "read schedule state of "+key.String())
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == 10037 { // no message: never scheduled
			return Entry{}, 0, nil
		}
		return Entry{}, 0, api.Wrap(api.KindStorage, &jetstream.APIError{Code: resp.Error.Code,
			ErrorCode: jetstream.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description},
			"read schedule state of "+key.String())
	}
	if resp.Message == nil {
		return Entry{}, 0, api.Errorf(api.KindStorage, "read schedule state of %s: JetStream answered without a message", key)
	}
	if len(resp.Message.Data) == 0 {
		// A delete or purge marker (someone cleared the device's state):
		// never scheduled, but the next write must expect the marker.
		return Entry{}, resp.Message.Seq, nil
	}
	var e Entry
	if err := json.Unmarshal(resp.Message.Data, &e); err != nil {
		return Entry{}, 0, api.Wrap(api.KindStorage, fmt.Errorf("not a schedule entry: %w", err), "read schedule state of "+key.String())
	}
	return e, resp.Message.Seq, nil
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
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "write schedule state of "+key.String())
	}
	return ack.Sequence, nil
}
