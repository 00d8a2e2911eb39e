package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/jsretry"
)

// Reads of one device (issue 9 §4). A device's records are read with
// direct gets in batches: one request answers a whole history, where an
// ephemeral consumer cost a replicated create, fetches and a delete per
// read. Direct gets may be answered by any replica, so each read is checked
// against the stream leader: it must reach the subject's last sequence and
// hold as many messages as the leader counts, or it is retried (a replica
// catching up, or one that has not applied a prune yet). The reads a write
// depends on (the latest record and sequence Record chains on) go to the
// leader only, through the ordinary message-get API.

// directBatch is how many messages one direct get asks for.
const directBatch = 1000

// api is the JetStream API subject prefix js was made with (New, its
// domain or its API prefix), ending in a dot.
func (s *Store) api() string {
	o := s.js.Options()
	switch {
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	}
	return jetstream.DefaultAPIPrefix
}

// apiMsgGet is the request of both message-get APIs.
type apiMsgGet struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	Batch   int    `json:"batch,omitempty"`
}

// leaderGet asks the stream leader for one message: the last on LastFor,
// or the first from Seq on NextFor. A missing message is
// jetstream.ErrMsgNotFound.
func (s *Store) leaderGet(ctx context.Context, req apiMsgGet) (*jetstream.RawStreamMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	// Errors the server reports go through jsretry as the client's own
	// would: a 5xx (no leader yet) is tried again.
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		m, err := s.js.Conn().RequestWithContext(ctx, s.api()+"STREAM.MSG.GET."+s.streamNm, body)
		if err != nil {
			return err
		}
		resp.Error, resp.Message = nil, nil
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			return fmt.Errorf("a message-get answer is not JSON: %w", err)
		}
		if e := resp.Error; e != nil {
			if e.Code == 404 || e.ErrCode == int(jetstream.JSErrCodeMessageNotFound) {
				return jetstream.ErrMsgNotFound
			}
			return fmt.Errorf("message get: %w", &jetstream.APIError{Code: e.Code, ErrorCode: jetstream.ErrorCode(e.ErrCode), Description: e.Description})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if resp.Message == nil {
		return nil, fmt.Errorf("message get: an answer without a message")
	}
	return &jetstream.RawStreamMsg{Subject: resp.Message.Subject, Sequence: resp.Message.Seq, Data: resp.Message.Data, Time: resp.Message.Time}, nil
}

// leaderState returns the sequence of subj's last message and how many
// messages subj has, as the stream leader has them (0, 0: none). The count
// is 0 on a stream of one replica unless always is set. lastData is the
// body of the last message.
func (s *Store) leaderState(ctx context.Context, subj string, always bool) (last, count uint64, lastData []byte, err error) {
	m, err := s.leaderGet(ctx, apiMsgGet{LastFor: subj})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil, nil
	}
	if err != nil {
		return 0, 0, nil, err
	}
	if info := s.hist.CachedInfo(); !always && info != nil && info.Config.Replicas <= 1 {
		// One replica answers every read: no other can lag behind it, so
		// its count is not needed (it costs a stream info per read).
		return m.Sequence, 0, m.Data, nil
	}
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		info, err := s.hist.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			return err
		}
		count = info.State.Subjects[subj]
		return nil
	})
	return m.Sequence, count, m.Data, err
}

// seqRecord is a record and its stream sequence.
type seqRecord struct {
	api.SnapshotRecord
	seq uint64
}

// readDevice returns the valid records on one device subject, oldest
// first, as the leader had them when the read began. Invalid messages are
// reported and skipped.
func (s *Store) readDevice(ctx context.Context, subj string) ([]seqRecord, error) {
	return s.readDeviceVia(ctx, subj, false, nil)
}

// readDeviceCached is readDevice for the reads that show records
// (History, Find). A device read again while the leader still has the same
// last message and the same number of messages on its subject is answered
// from the records read before (devCache), so a diff's history and its two
// lookups by hash cost one read, not three; a device not read lately is
// read through its index (index.go). enough, when not nil, says whether
// the newest records of a device whose index does not hold them all
// answer the caller; nil asks for every record.
func (s *Store) readDeviceCached(ctx context.Context, subj string, enough func([]seqRecord) bool) ([]seqRecord, error) {
	return s.readDeviceVia(ctx, subj, true, enough)
}

func (s *Store) readDeviceVia(ctx context.Context, subj string, cached bool, enough func([]seqRecord) bool) ([]seqRecord, error) {
	var out []seqRecord
	err := jsretry.Within(ctx, scanTimeout, func(ctx context.Context) error {
		out = out[:0]
		want, count, lastData, err := s.leaderState(ctx, subj, cached)
		if err != nil || want == 0 {
			return err
		}
		if !cached {
			msgs, _, err := s.readFull(ctx, subj, want, count)
			out = s.records(subj, msgs)
			return err
		}
		if recs, ok := s.devs.get(subj, want, count, lastData); ok {
			out = recs
			return nil
		}
		x, rev := s.loadIndex(ctx, subj)
		if x != nil {
			grew, err := s.extendIndex(ctx, subj, x, want, count, lastData)
			var entries []indexEntry
			if err == nil {
				entries, err = x.all()
			}
			if err != nil && !errors.Is(err, errStaleIndex) && !errors.Is(err, errBadBlock) {
				return err
			}
			if recs := s.records(subj, entries); err == nil && (x.older == 0 || enough != nil && enough(recs)) {
				if x.older == 0 {
					s.devs.put(subj, want, count, lastData, recs)
				}
				if grew {
					s.saveIndex(ctx, subj, x, rev)
				}
				out = recs
				return nil
			}
		}
		msgs, exact, err := s.readFull(ctx, subj, want, count)
		if err != nil {
			return err
		}
		out = s.records(subj, msgs)
		// Kept only when the read is exactly what the leader counted:
		// every message up to want and none after it.
		if exact {
			s.devs.put(subj, want, count, lastData, out)
			s.saveIndex(ctx, subj, newIndex(msgs), rev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", subj, err)
	}
	return out, nil
}

// records decodes the valid records among msgs; the others are reported
// (once), skipped, and their data dropped from msgs (an index keeps only
// that they were there).
func (s *Store) records(subj string, msgs []indexEntry) []seqRecord {
	out := make([]seqRecord, 0, len(msgs))
	for i, m := range msgs {
		if m.data == nil {
			continue
		}
		r, err := s.decodeRecord(subj, m.data)
		if err != nil {
			s.bad.report(subj, m.seq, err)
			msgs[i].data = nil
			continue
		}
		out = append(out, seqRecord{r, m.seq})
	}
	return out
}

// readFull reads every message on subj up to sequence want, the last the
// leader has, checked against the leader's count of the subject's messages
// (0: not known). exact says the read is exactly what the leader counted:
// every message up to want and none after it.
func (s *Store) readFull(ctx context.Context, subj string, want, count uint64) (msgs []indexEntry, exact bool, err error) {
	msgs, got, err := s.readMessages(ctx, subj, 1, want)
	if err != nil {
		return nil, false, err
	}
	// The count was taken after want: records written since only add to
	// it, so fewer messages than counted is a replica behind, and more up
	// to want one that has not applied a removal yet (or a prune
	// meanwhile; reading again is right either way).
	if count > 0 && (got < count || uint64(len(msgs)) > count) {
		return nil, false, fmt.Errorf("%w: read %d messages of %s where the leader has %d (a replica catching up)", jsretry.ErrStalled, got, subj, count)
	}
	return msgs, count > 0 && got == count && uint64(len(msgs)) == count, nil
}

// errStaleIndex: an index that disagrees with the stream leader (or has a
// block that does not decompress); it is not used, the stream answers.
var errStaleIndex = errors.New("the device index disagrees with the stream")

// extendIndex brings x up to the leader's state of the subject: the
// messages after its last entry up to want are read and added, and the
// oldest dropped as the stream's per-subject limit drops them. It reports
// whether messages were added; errStaleIndex when x then disagrees with
// the leader (its last message, its count).
func (s *Store) extendIndex(ctx context.Context, subj string, x *devIndex, want, count uint64, lastData []byte) (grew bool, err error) {
	last := x.last()
	switch {
	case last == 0 || last > want || count == 0:
		return false, errStaleIndex
	case last == want:
		e, err := x.lastEntry()
		if err != nil {
			return false, fmt.Errorf("%w: %w", errStaleIndex, err)
		}
		if e.data != nil && !bytes.Equal(e.data, lastData) {
			return false, errStaleIndex // another stream under the same name
		}
	default:
		tail, _, err := s.readMessages(ctx, subj, last+1, want)
		if err != nil {
			return false, err
		}
		if err := x.add(tail...); err != nil {
			return false, fmt.Errorf("%w: %w", errStaleIndex, err)
		}
		grew = true
	}
	if err := x.limit(s.perDevice); err != nil {
		return false, fmt.Errorf("%w: %w", errStaleIndex, err)
	}
	if x.total() != count {
		return false, errStaleIndex
	}
	return grew, nil
}

// readMessages reads the messages on subj from sequence from up to want
// with batched direct gets. It returns them and how many were delivered
// in all (some may be past want: written after the read began).
func (s *Store) readMessages(ctx context.Context, subj string, from, want uint64) ([]indexEntry, uint64, error) {
	var msgs []indexEntry
	var got uint64
	seen := from - 1 // the last sequence delivered
	for seen < want {
		n, err := s.directBatch(ctx, subj, seen+1, func(seq uint64, data []byte) {
			got++
			seen = max(seen, seq)
			if seq > want {
				return // written after the read began
			}
			msgs = append(msgs, indexEntry{seq: seq, data: data})
		})
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			break
		}
	}
	if seen < want {
		return nil, 0, fmt.Errorf("%w: read %s up to sequence %d of %d (a replica catching up)", jsretry.ErrStalled, subj, seen, want)
	}
	return msgs, got, nil
}

// directBatch asks for up to directBatch messages on subj from sequence
// from and calls fn with each; it returns how many came.
func (s *Store) directBatch(ctx context.Context, subj string, from uint64, fn func(seq uint64, data []byte)) (int, error) {
	body, err := json.Marshal(apiMsgGet{Seq: from, NextFor: subj, Batch: directBatch})
	if err != nil {
		return 0, err
	}
	nc := s.js.Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return 0, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(s.api()+"DIRECT.GET."+s.streamNm, inbox, body); err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return n, err
		}
		if st := m.Header.Get("Status"); st != "" {
			switch st {
			case "204", "404": // end of the batch; nothing (more) to read
				return n, nil
			case "503":
				return n, nats.ErrNoResponders
			}
			return n, fmt.Errorf("direct get: status %s %s", st, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return n, fmt.Errorf("direct get: a message without a sequence")
		}
		if got := m.Header.Get(jetstream.SubjectHeader); got != subj {
			return n, fmt.Errorf("direct get: a message of %s in a read of %s", clip(got), subj)
		}
		n++
		fn(seq, m.Data)
	}
}

// devCache keeps the records of the devices read last, for
// readDeviceCached. An entry is used only while the leader's last message
// on the subject is the same message (sequence and body: a stream made
// again restarts its sequences) and the subject holds as many messages:
// records are only appended after the last one, and any removal lowers the
// count, so the same last message and count mean the same records. The
// zero value is ready to use.
type devCache struct {
	mu   sync.Mutex
	tick uint64
	m    map[string]*devEntry
}

type devEntry struct {
	last, count uint64
	lastData    []byte
	recs        []seqRecord
	used        uint64 // tick of the last use, for eviction
}

// Bounds of devCache: how many devices it keeps, and the most records of
// one device it keeps (a device kept forever is read each time).
const (
	devCacheDevices = 256
	devCacheRecords = 4096
)

func (c *devCache) get(subj string, last, count uint64, lastData []byte) ([]seqRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[subj]
	if e == nil || e.last != last || e.count != count || !bytes.Equal(e.lastData, lastData) {
		return nil, false
	}
	c.tick++
	e.used = c.tick
	// A copy: callers may reorder or trim what they get.
	return slices.Clone(e.recs), true
}

func (c *devCache) put(subj string, last, count uint64, lastData []byte, recs []seqRecord) {
	if len(recs) > devCacheRecords {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*devEntry{}
	}
	if _, ok := c.m[subj]; !ok && len(c.m) >= devCacheDevices {
		// Evict the least recently used device.
		var oldest string
		var used uint64
		for k, e := range c.m {
			if oldest == "" || e.used < used {
				oldest, used = k, e.used
			}
		}
		delete(c.m, oldest)
	}
	c.tick++
	c.m[subj] = &devEntry{last: last, count: count, lastData: bytes.Clone(lastData), recs: slices.Clone(recs), used: c.tick}
}

// forget drops subj, after this store changed its records.
func (c *devCache) forget(subj string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, subj)
}
