package jetstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"

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
// The value is compressed and sealed under the content key, bound to the
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

// devIndex is one device's index: its newest messages, oldest first, in
// blocks of up to indexBlockEntries, each compressed on its own (S2: a
// record's hashes and names repeat those before it, and S2 costs a tenth
// of deflate, which made writes twice as slow). A record appended touches
// only the last block, so a write costs the same whether the device has ten
// records or a thousand; the whole value is sealed, not compressed again.
type devIndex struct {
	blocks []*indexBlock
	// older is how many messages the subject has before the first entry:
	// 0 when the index holds them all.
	older uint64
}

// indexBlockEntries is how many messages one block of an index holds.
const indexBlockEntries = 32

type indexBlock struct {
	n           int    // entries in the block
	first, last uint64 // sequences of its first and last entry
	packed      []byte // the compressed entries; nil when changed since
	entries     []indexEntry
	decoded     bool // entries hold the block
}

// indexEntry is a message on the subject, an entry without data one that
// was not a valid record (it still counts against the leader's count).
type indexEntry struct {
	seq  uint64
	data []byte // nil: not a valid record of the subject
}

// newIndex returns the index of msgs, oldest first.
func newIndex(msgs []indexEntry) *devIndex {
	x := &devIndex{}
	_ = x.add(msgs...) // new blocks only: nothing to decompress, nothing fails
	return x
}

func (x *devIndex) last() uint64 {
	if len(x.blocks) == 0 {
		return 0
	}
	return x.blocks[len(x.blocks)-1].last
}

// count is how many entries the index holds.
func (x *devIndex) count() int {
	n := 0
	for _, b := range x.blocks {
		n += b.n
	}
	return n
}

// total is how many messages the subject has, as the index knows it.
func (x *devIndex) total() uint64 { return x.older + uint64(x.count()) }

// lastEntry returns the newest entry (the index must not be empty).
func (x *devIndex) lastEntry() (indexEntry, error) {
	b := x.blocks[len(x.blocks)-1]
	if err := b.decode(); err != nil {
		return indexEntry{}, err
	}
	return b.entries[len(b.entries)-1], nil
}

// all returns every entry, oldest first.
func (x *devIndex) all() ([]indexEntry, error) {
	out := make([]indexEntry, 0, x.count())
	for _, b := range x.blocks {
		if err := b.decode(); err != nil {
			return nil, err
		}
		out = append(out, b.entries...)
	}
	return out, nil
}

// add appends msgs, which follow the last entry.
func (x *devIndex) add(msgs ...indexEntry) error {
	for _, m := range msgs {
		var b *indexBlock
		if len(x.blocks) > 0 && x.blocks[len(x.blocks)-1].n < indexBlockEntries {
			b = x.blocks[len(x.blocks)-1]
			if err := b.decode(); err != nil {
				return err
			}
		} else {
			b = &indexBlock{first: m.seq, decoded: true}
			x.blocks = append(x.blocks, b)
		}
		b.entries = append(b.entries, m)
		b.n, b.last, b.packed = b.n+1, m.seq, nil
	}
	return nil
}

// dropOldest removes the k oldest entries.
func (x *devIndex) dropOldest(k int) error {
	for k > 0 && len(x.blocks) > 0 {
		b := x.blocks[0]
		if b.n <= k {
			x.blocks, k = x.blocks[1:], k-b.n
			continue
		}
		if err := b.decode(); err != nil {
			return err
		}
		b.entries = b.entries[k:]
		b.n, b.first, b.packed, k = len(b.entries), b.entries[0].seq, nil, 0
	}
	return nil
}

// trimTo keeps the newest keep entries, counting the others as older.
func (x *devIndex) trimTo(keep int) error {
	over := x.count() - keep
	if over <= 0 {
		return nil
	}
	x.older += uint64(over)
	return x.dropOldest(over)
}

// limit drops what the stream drops beyond its per-subject limit (0: none):
// the oldest messages, those before the index first.
func (x *devIndex) limit(perSubject uint64) error {
	if perSubject == 0 || x.total() <= perSubject {
		return nil
	}
	drop := x.total() - perSubject
	fromOlder := min(drop, x.older)
	x.older -= fromOlder
	return x.dropOldest(int(drop - fromOlder))
}

// pack returns the block's compressed entries.
func (b *indexBlock) pack() ([]byte, error) {
	if b.packed != nil {
		return b.packed, nil
	}
	var plain []byte
	var prev uint64
	for _, e := range b.entries {
		plain = binary.AppendUvarint(plain, e.seq-prev)
		prev = e.seq
		n := uint64(0)
		if e.data != nil {
			n = uint64(len(e.data)) + 1
		}
		plain = binary.AppendUvarint(plain, n)
		plain = append(plain, e.data...)
	}
	b.packed = s2.Encode(nil, plain)
	return b.packed, nil
}

// errBadBlock: a block of an index (sealed, so written by a store) that
// does not decompress to what its header says; the index is not used.
var errBadBlock = errors.New("a device index block is damaged")

// decode decompresses the block's entries, checking them against its header.
func (b *indexBlock) decode() error {
	if b.decoded {
		return nil
	}
	if err := b.unpack(); err != nil {
		return fmt.Errorf("%w: %w", errBadBlock, err)
	}
	return nil
}

func (b *indexBlock) unpack() error {
	if n, err := s2.DecodedLen(b.packed); err != nil || n > maxIndexPlain {
		return fmt.Errorf("%d bytes long (%w)", n, err)
	}
	plain, err := s2.Decode(nil, b.packed)
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	r := bytes.NewReader(plain)
	entries := make([]indexEntry, 0, b.n)
	var seq uint64
	for r.Len() > 0 {
		d, err := binary.ReadUvarint(r)
		if err != nil || d == 0 {
			return errors.New("entries out of order")
		}
		seq += d
		size, err := binary.ReadUvarint(r)
		if err != nil || size > uint64(r.Len())+1 {
			return errors.New("a cut entry")
		}
		e := indexEntry{seq: seq}
		if size > 0 {
			e.data = make([]byte, size-1)
			if _, err := io.ReadFull(r, e.data); err != nil {
				return errors.New("a cut entry")
			}
		}
		entries = append(entries, e)
	}
	if len(entries) != b.n || entries[0].seq != b.first || seq != b.last {
		return errors.New("a block that is not what its header says")
	}
	b.entries, b.decoded = entries, true
	return nil
}

func indexAD(subj string) []byte { return []byte("cfgsnap device index\x00" + subj) }

// encodeIndex returns the sealed value of x for subj.
func (s *Store) encodeIndex(subj string, x *devIndex) ([]byte, error) {
	plain := []byte{indexVersion}
	plain = binary.AppendUvarint(plain, x.older)
	plain = binary.AppendUvarint(plain, uint64(len(x.blocks)))
	for _, b := range x.blocks {
		packed, err := b.pack()
		if err != nil {
			return nil, err
		}
		plain = binary.AppendUvarint(plain, uint64(b.n))
		plain = binary.AppendUvarint(plain, b.first)
		plain = binary.AppendUvarint(plain, b.last)
		plain = binary.AppendUvarint(plain, uint64(len(packed)))
		plain = append(plain, packed...)
	}
	key, err := s.keys.Current(true)
	if err != nil {
		return nil, err
	}
	return key.Seal(plain, indexAD(subj))
}

// maxIndexPlain bounds a block's plain text: entries are records of a few
// hundred bytes.
const maxIndexPlain = 16 << 20

// errIndexOtherKey: an index sealed under another content key than this
// store's, as every index is right after `cfgsnap store seal --rekey-from`.
// It is rebuilt under the current key without a report.
var errIndexOtherKey = errors.New("the index is sealed under another content key")

// decodeIndex opens a value encodeIndex made for subj. Blocks are decompressed
// when they are needed (add touches only the last).
func (s *Store) decodeIndex(subj string, blob []byte) (*devIndex, error) {
	key, err := s.keys.Current(false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIndexOtherKey, err)
	}
	if id, err := seal.KeyID(blob); err == nil && id != key.ID() {
		return nil, errIndexOtherKey
	}
	plain, err := key.Open(blob, indexAD(subj))
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(plain)
	if v, err := r.ReadByte(); err != nil || v != indexVersion {
		return nil, fmt.Errorf("not an index of version %d", indexVersion)
	}
	older, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, errors.New("a bad count of older messages")
	}
	nb, err := binary.ReadUvarint(r)
	if err != nil || nb > uint64(indexMaxEntries) {
		return nil, errors.New("a bad block count")
	}
	x := &devIndex{older: older, blocks: make([]*indexBlock, 0, nb)}
	var prev uint64
	entries := 0
	for range nb {
		var h [4]uint64
		for i := range h {
			if h[i], err = binary.ReadUvarint(r); err != nil {
				return nil, errors.New("a cut block header")
			}
		}
		n, first, last, size := h[0], h[1], h[2], h[3]
		if n == 0 || n > indexBlockEntries || first <= prev || last < first || size > uint64(r.Len()) {
			return nil, errors.New("a bad block header")
		}
		b := &indexBlock{n: int(n), first: first, last: last, packed: make([]byte, size)}
		if _, err := io.ReadFull(r, b.packed); err != nil {
			return nil, errors.New("a cut block")
		}
		x.blocks = append(x.blocks, b)
		prev, entries = last, entries+int(n)
	}
	if r.Len() != 0 {
		return nil, errors.New("bytes after the last block")
	}
	if entries > indexMaxEntries {
		return nil, errors.New("more entries than an index holds")
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
		if !errors.Is(err, errIndexOtherKey) {
			s.bad.reportIndex(subj, e.Revision(), err)
		}
		return nil, e.Revision()
	}
	return x, e.Revision()
}

// saveIndex writes x as the device's index if the key is still at rev
// (0: absent). Best effort: an index that is not written, or that another
// writer replaced meanwhile, costs the next reader a longer read, never a
// wrong answer.
func (s *Store) saveIndex(ctx context.Context, subj string, x *devIndex, rev uint64) {
	if s.indexPaused() {
		return
	}
	if err := x.trimTo(indexMaxEntries); err != nil {
		return
	}
	val, err := s.encodeIndex(subj, x)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, indexWriteTimeout)
	defer cancel()
	if rev == 0 {
		_, err = s.index.Create(ctx, indexKey(subj), val)
	} else {
		_, err = s.index.Update(ctx, indexKey(subj), val, rev)
	}
	if err != nil && !jskv.Conflict(err) {
		s.pauseIndex(err)
	}
}

// Index writes that fail for another reason than a lost race pause for
// indexPause: most likely the service's NATS user may not publish to the
// index bucket (an auth config from before it), and a publish it may not
// make is not refused, it goes unanswered until the timeout, which every
// record would otherwise wait out.
const (
	indexWriteTimeout = time.Second
	indexPause        = time.Minute
)

func (s *Store) indexPaused() bool { return time.Now().UnixNano() < s.indexOff.Load() }

func (s *Store) pauseIndex(err error) {
	s.indexOff.Store(time.Now().Add(indexPause).UnixNano())
	if l := s.bad.log.Load(); l != nil {
		l.Warn("could not write a device index: reads of a device's history fall back to the history stream, "+
			"slower at fleet scale; if the service's NATS user may not publish to $KV."+s.index.Bucket()+".>, allow it (docs/deploy.md)",
			"err", err, "retry_in", indexPause)
	}
}

// appendIndex adds the record just published at seq, chained on prevSeq,
// to the device's index, when the index ends at prevSeq (or the device had
// no records before); otherwise it leaves the index for a reader to mend.
func (s *Store) appendIndex(ctx context.Context, subj string, prevSeq, seq uint64, data []byte) {
	if s.indexPaused() {
		return
	}
	x, rev := s.loadIndex(ctx, subj)
	switch {
	case x == nil && prevSeq == 0:
		x = &devIndex{}
	case x == nil || x.last() != prevSeq:
		return
	}
	if x.add(indexEntry{seq: seq, data: data}) != nil || x.limit(s.perDevice) != nil {
		return // a block that does not decompress: a reader replaces the index
	}
	s.saveIndex(ctx, subj, x, rev)
}
