// Package jskv holds what the packages keeping state in JetStream KV buckets
// (host keys, locks, the schedule) share: opening a bucket through the
// retry policy, reading a key's last message from the stream leader, and
// recognising a revision-checked write that lost its race.
package jskv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/jsretry"
)

// Open creates the bucket of cfg or updates it to cfg, retrying through
// what passes by itself (a meta leader election right after a node loss).
// Replicas 0 or less is 1.
func Open(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	var kv jetstream.KeyValue
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	return kv, err
}

// Entry is the last message of a key as the stream leader has it.
type Entry struct {
	Seq  uint64
	Data []byte
	// Deleted is a delete or purge marker, or the server's marker of an
	// expired key.
	Deleted bool
}

// msgGetResponse is the JetStream API's answer to STREAM.MSG.GET.
type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     uint16 `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Seq  uint64 `json:"seq"`
		Hdrs []byte `json:"hdrs"`
		Data []byte `json:"data"`
	} `json:"message"`
}

// errNoMessage is the API's "no message found".
const errNoMessage = 10037

// Last reads the last message of key k of bucket from the stream leader.
// kv.Get may be answered by any replica (KV buckets allow direct gets),
// which can lag behind the write that just refused ours: a lock read there
// would report a held key free, a host key read there could show a
// forgotten key, a schedule read there could miss the worker's own "done".
// It returns nil when the key never had a message or its messages are gone.
// An API error comes back as a *jetstream.APIError, so that the retry
// policy and callers can tell it apart.
func Last(ctx context.Context, js jetstream.JetStream, bucket, k string) (*Entry, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + bucket + "." + k})
	msg, err := js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return nil, err
	}
	var resp msgGetResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("bad answer from JetStream: %w", err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == errNoMessage {
			return nil, nil
		}
		return nil, &jetstream.APIError{Code: resp.Error.Code, ErrorCode: jetstream.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description}
	}
	if resp.Message == nil {
		return nil, errors.New("JetStream answered without a message")
	}
	hdr, err := parseHeader(resp.Message.Hdrs)
	if err != nil {
		return nil, err
	}
	return &Entry{Seq: resp.Message.Seq, Data: resp.Message.Data,
		Deleted: hdr.Get("KV-Operation") != "" || hdr.Get("Nats-Marker-Reason") != ""}, nil
}

// parseHeader reads a NATS header block: "NATS/1.0" and MIME lines.
func parseHeader(b []byte) (textproto.MIMEHeader, error) {
	if len(b) == 0 {
		return textproto.MIMEHeader{}, nil
	}
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	if !strings.HasPrefix(string(line), "NATS/1.0") {
		return nil, errors.New("message headers do not start with NATS/1.0")
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(rest))).ReadMIMEHeader()
	if err != nil && len(h) == 0 && len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("message headers: %w", err)
	}
	return h, nil
}

// Conflict reports whether err is JetStream refusing a revision-checked
// write because the key's last revision is not the expected one: another
// writer got there first. That is "key exists" on a KV create, a revision
// mismatch on a KV update, or a wrong last sequence (10071, or 10164 on a
// replicated stream) on a publish that expects one.
func Conflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
