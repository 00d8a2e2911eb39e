package jetstream

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/jskv"
	"github.com/cfgsnap/cfgsnap/backend/seal"
)

// The device index (issue 9 §4: history and diff p99 under 50 ms at
// 10,000 devices x 100 snapshots). A device's records are spread over the
// whole history stream, one per scheduled round, so reading them from the
// stream loads every message block that holds one: at a million records a
// cold read of one device touched ~400 MB of blocks and took ~240 ms. The
// index keeps, per device, a copy of its newest messages in one KV value
// (<base>_index, key tenant.device), so a read costs the leader's last
// message and count, one KV get and at most a short tail read.
//
// The stream stays the truth; the index is only ever a shortcut checked
// against it. A read uses it only when it agrees with the stream leader:
// the leader's last message on the subject is the index's last entry, or
// comes after it (then only the messages after it are read), and the
// subject holds exactly as many messages as the index and the tail add up
// to, once entries the stream has dropped from the front (a per-device
// limit) are trimmed. Anything else (a prune, a write the index missed, a
// replica behind) falls back to the full read, which writes a fresh index.
// So nothing needs ordering for crashes: a stale index is never used.
//
// The value is deflated and sealed under the content key, bound to the
// subject: a bus writer without the key cannot forge an index (one that
// does not open is skipped like a forged record), and every entry is
// checked again as a record of its subject when it is read.

// indexMaxEntries bounds one device's index: the newest messages it keeps.
// More than store.MaxHistoryLimit, so any first page of a history is in it;
// a device with more records is read in full only by lookups that need
// them all (Find by hash prefix). A variable for the tests.
var indexMaxEntries = 1024

// indexVersion is the first byte of an index value's plain text.
const indexVersion = 1

// IndexBucket names the KV bucket of device indexes for prefix.
func IndexBucket(prefix string) string {
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	return strings.ReplaceAll(prefix, ".", "_") + "_index"
}

// devIndex is one device's index: its newest messages, oldest first.
type devIndex struct {
	// entries are messages on the subject, in sequence order; an entry
	// without data stands for a message that was not a valid record (it
	// still counts against the leader's count).
	entries []indexEntry
	// older is how many messages the subject has before the first entry:
	// 0 when the index holds them all.
	older uint64
}

type indexEntry struct {
	seq  uint64
	data []byte // nil: not a valid record of the subject
}

func (x *devIndex) last() uint64 {
	if len(x.entries) == 0 {
		return 0
	}
	return x.entries[len(x.entries)-1].seq
}

// total is how many messages the subject has, as the index knows it.
func (x *devIndex) total() uint64 { return x.older + uint64(len(x.entries)) }

// trimTo keeps the newest max entries, counting the others as older.
func (x *devIndex) trimTo(max int) {
	if over := len(x.entries) - max; over > 0 {
		x.entries = x.entries[over:]
		x.older += uint64(over)
	}
}

// limit drops what the stream drops beyond its per-subject limit (0: none):
// the oldest messages, those before the index first.
func (x *devIndex) limit(perSubject uint64) {
	if perSubject == 0 || x.total() <= perSubject {
		return
	}
	drop := x.total() - perSubject
	fromOlder := min(drop, x.older)
	x.older -= fromOlder
	x.entries = x.entries[drop-fromOlder:]
}

func (s *Store) openIndex(ctx context.Context, opts Options) error {
	name := IndexBucket(opts.Prefix)
	kv, err := jskv.Open(ctx, s.js, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "cfgsnap per-device index of the history stream (a checked shortcut, rebuilt from the stream)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return api.Wrap(api.KindStorage, err, "open store: index bucket "+name)
	}
	s.index = kv
	return nil
}

func indexAD(subj string) []byte { return []byte("cfgsnap device index\x00" + subj) }

// encodeIndex returns the sealed value of x for subj.
func (s *Store) encodeIndex(subj string, x *devIndex) ([]byte, error) {
	var plain bytes.Buffer
	plain.WriteByte(indexVersion)
	plain.Write(binary.AppendUvarint(nil, x.older))
	plain.Write(binary.AppendUvarint(nil, uint64(len(x.entries))))
	var prev uint64
	for _, e := range x.entries {
		plain.Write(binary.AppendUvarint(nil, e.seq-prev))
		prev = e.seq
		n := uint64(0)
		if e.data != nil {
			n = uint64(len(e.data)) + 1
		}
		plain.Write(binary.AppendUvarint(nil, n))
		plain.Write(e.data)
	}
	var packed bytes.Buffer
	w, err := flate.NewWriter(&packed, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	key, err := s.keys.Current(true)
	if err != nil {
		return nil, err
	}
	return key.Seal(packed.Bytes(), indexAD(subj))
}

// maxIndexPlain bounds an index value's plain text: entries are records
// of a few hundred bytes.
const maxIndexPlain = 64 << 20

// decodeIndex opens a value encodeIndex made for subj.
func (s *Store) decodeIndex(subj string, blob []byte) (*devIndex, error) {
	key, err := s.keys.Current(false)
	if err != nil {
		return nil, err
	}
	if id, err := seal.KeyID(blob); err != nil || id != key.ID() {
		// Sealed under another key (a rotation): rebuilt under this one.
		return nil, fmt.Errorf("the index is not sealed under the content key %s", key.ID())
	}
	packed, err := key.Open(blob, indexAD(subj))
	if err != nil {
		return nil, err
	}
	plain, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(packed)), maxIndexPlain+1))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if len(plain) > maxIndexPlain {
		return nil, fmt.Errorf("over %d bytes", maxIndexPlain)
	}
	r := bytes.NewReader(plain)
	if v, err := r.ReadByte(); err != nil || v != indexVersion {
		return nil, fmt.Errorf("not an index of version %d", indexVersion)
	}
	older, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, errors.New("a bad count of older messages")
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(indexMaxEntries) {
		return nil, fmt.Errorf("a bad entry count")
	}
	x := &devIndex{older: older, entries: make([]indexEntry, 0, n)}
	var seq uint64
	for range n {
		d, err := binary.ReadUvarint(r)
		if err != nil || d == 0 && seq != 0 {
			return nil, errors.New("entries out of order")
		}
		seq += d
		size, err := binary.ReadUvarint(r)
		if err != nil || size > uint64(r.Len())+1 {
			return nil, errors.New("a cut entry")
		}
		e := indexEntry{seq: seq}
		if size > 0 {
			e.data = make([]byte, size-1)
			if _, err := io.ReadFull(r, e.data); err != nil {
				return nil, errors.New("a cut entry")
			}
		}
		x.entries = append(x.entries, e)
	}
	if r.Len() != 0 {
		return nil, errors.New("bytes after the last entry")
	}
	return x, nil
}

func indexKey(subj string) string {
	// subj is <prefix>.history.<tenant>.<device>; the key is tenant.device.
	parts := strings.Split(subj, ".")
	return parts[len(parts)-2] + "." + parts[len(parts)-1]
}

// loadIndex returns the device's index and its revision (nil, 0: none, or
// one that does not open, which is reported and then replaced).
func (s *Store) loadIndex(ctx context.Context, subj string) (*devIndex, uint64) {
	e, err := s.index.Get(ctx, indexKey(subj))
	if err != nil {
		// Missing, or the bucket unreachable: the stream answers alone.
		return nil, 0
	}
	x, err := s.decodeIndex(subj, e.Value())
	if err != nil {
		s.bad.reportIndex(subj, e.Revision(), err)
		return nil, e.Revision()
	}
	return x, e.Revision()
}

// saveIndex writes x as the device's index if the key is still at rev
// (0: absent). Best effort: an index that is not written, or that another
// writer replaced meanwhile, costs the next reader a longer read, never a
// wrong answer.
func (s *Store) saveIndex(ctx context.Context, subj string, x *devIndex, rev uint64) {
	x.trimTo(indexMaxEntries)
	val, err := s.encodeIndex(subj, x)
	if err != nil {
		return
	}
	if rev == 0 {
		_, err = s.index.Create(ctx, indexKey(subj), val)
	} else {
		_, err = s.index.Update(ctx, indexKey(subj), val, rev)
	}
	_ = err // a lost race or an unreachable bucket: see above
}

// appendIndex adds the record just published at seq, chained on prevSeq,
// to the device's index, when the index ends at prevSeq (or the device had
// no records before); otherwise it leaves the index for a reader to mend.
func (s *Store) appendIndex(ctx context.Context, subj string, prevSeq, seq uint64, data []byte) {
	x, rev := s.loadIndex(ctx, subj)
	switch {
	case x == nil && prevSeq == 0:
		x = &devIndex{}
	case x == nil || x.last() != prevSeq:
		return
	}
	x.entries = append(x.entries, indexEntry{seq: seq, data: data})
	x.limit(s.perDevice)
	s.saveIndex(ctx, subj, x, rev)
}
