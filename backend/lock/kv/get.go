package kv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// entry is the last message of a key as the stream leader has it.
type entry struct {
	seq     uint64
	data    []byte
	deleted bool // a delete or purge marker, or the server's marker of an expired key
}

// msgGetResponse is the JetStream API's answer to STREAM.MSG.GET.
type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     uint16 `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Seq  uint64    `json:"seq"`
		Hdrs []byte    `json:"hdrs"`
		Data []byte    `json:"data"`
		Time time.Time `json:"time"`
	} `json:"message"`
}

// errNoMessage is the API's "no message found" (10037).
const errNoMessage = 10037

// last reads the last message of bucket key k from the stream leader.
// kv.Get may be answered by any replica (the bucket allows direct gets),
// which can lag behind the write that just refused ours; deciding who holds
// a lock on such a read would report a held key free, so lock decisions read
// here instead. It returns nil when the key never had a message or its
// messages are gone.
func (l *Locker) last(ctx context.Context, k string) (*entry, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + l.bucket + "." + k})
	msg, err := l.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+l.bucket, req)
	if err != nil {
		return nil, err
	}
	var resp msgGetResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("read lock %s: bad answer from JetStream: %w", k, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == errNoMessage {
			return nil, nil
		}
		return nil, &jetstream.APIError{Code: resp.Error.Code, ErrorCode: jetstream.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description}
	}
	if resp.Message == nil {
		return nil, fmt.Errorf("read lock %s: JetStream answered without a message", k)
	}
	e := &entry{seq: resp.Message.Seq, data: resp.Message.Data}
	hdr, err := parseHeader(resp.Message.Hdrs)
	if err != nil {
		return nil, fmt.Errorf("read lock %s: %w", k, err)
	}
	e.deleted = hdr.Get("KV-Operation") != "" || hdr.Get("Nats-Marker-Reason") != ""
	return e, nil
}

// parseHeader reads a NATS header block: "NATS/1.0" and MIME lines.
func parseHeader(b []byte) (textproto.MIMEHeader, error) {
	if len(b) == 0 {
		return textproto.MIMEHeader{}, nil
	}
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	if !strings.HasPrefix(string(line), "NATS/1.0") {
		return nil, fmt.Errorf("message headers do not start with NATS/1.0")
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(rest))).ReadMIMEHeader()
	if err != nil && len(h) == 0 && len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("message headers: %w", err)
	}
	return h, nil
}
