// Package jetstream keeps snapshots in JetStream, for many `cfgsnap serve`
// workers on a NATS cluster: the same store.Store contract as the SQLite
// store of one machine, with replication instead of a file.
//
//   - Content lives in an Object Store bucket, one object per distinct
//     configuration named by its sha256, written once and verified on read.
//   - History is a stream with one subject per device,
//     <prefix>.history.<tenant>.<device>; each message is a snapshot record.
//     The stream keeps HistoryPerDevice records per device (MaxMsgsPerSubject).
//   - A device's latest record is the last message on its subject.
//   - Last errors are a KV bucket keyed tenant.device.
//   - A device's newest records are also kept together in an index, one KV
//     value per device (index.go), so reading one device does not load
//     every block of a stream that interleaves all of them.
//
// A record is published only after its content is stored, so a reader never
// sees a snapshot whose content is missing. Every record is published with
// Nats-Expected-Last-Subject-Sequence set to the sequence of the record it
// was computed from, so "changed" and "previous_hash" stay a consistent chain
// even when several workers record the same device at once: the loser of a
// race reads the new latest record and tries again.
package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/jskv"
	"github.com/cfgsnap/cfgsnap/backend/jsretry"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Options say where the store lives in JetStream and how it is kept.
type Options struct {
	// Prefix is the first token of the history subjects and names the
	// stream and buckets: "cfgsnap" gives the stream CFGSNAP_HISTORY, the
	// object store cfgsnap_content and the KV bucket cfgsnap_errors. "" is
	// api.DefaultPrefix.
	Prefix string
	// Replicas of the stream and buckets: 3 on a three-node cluster, so
	// that a node can go away without losing a snapshot; 0 is 1.
	Replicas int
	// HistoryPerDevice is how many records the stream keeps per device
	// (MaxMsgsPerSubject); older ones are dropped. 0 keeps all.
	HistoryPerDevice int64
	// Keys seal the content objects (required): every worker of a store
	// must be given the same key file.
	Keys *store.Keys
}

// Store is a store.Store on JetStream. Its methods are safe for concurrent
// use, by any number of workers on any nodes.
type Store struct {
	bad   badRecords // history messages skipped as invalid (validate.go)
	devs  devCache   // records of the devices read last (direct.go)
	js    jetstream.JetStream
	hist  jetstream.Stream
	obs   jetstream.ObjectStore
	errs  jetstream.KeyValue
	pins  jetstream.KeyValue // pins per device (retention.go)
	index jetstream.KeyValue // device indexes (index.go)
	// indexOff is when index writes may resume (Unix ns), after a failure.
	indexOff atomic.Int64
	// perDevice is the stream's per-subject limit (0: none).
	perDevice uint64
	keys      *store.Keys
	prefix    string // subject prefix
	streamNm  string
}

var _ store.Store = (*Store)(nil)

// recordAttempts bounds Record's tries when other writers keep winning the
// race for a device's next record.
const recordAttempts = 20

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Names returns the stream, object store and KV bucket names for prefix.
func Names(prefix string) (stream, content, errs string) {
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	base := strings.ReplaceAll(prefix, ".", "_")
	return strings.ToUpper(base) + "_HISTORY", base + "_content", base + "_errors"
}

// Open creates or updates the stream and buckets and returns the store. It
// does not own js: closing the store leaves the connection open.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = api.DefaultPrefix
	}
	if !prefixPattern.MatchString(opts.Prefix) {
		return nil, api.Errorf(api.KindBadRequest, "store prefix %q: use subject tokens of letters, digits, '_' or '-', separated by dots", opts.Prefix)
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.HistoryPerDevice < 0 {
		return nil, api.Errorf(api.KindBadRequest, "history per device %d: want 0 (keep all) or more", opts.HistoryPerDevice)
	}
	if opts.Keys == nil {
		return nil, api.Errorf(api.KindBadRequest, "open store: no content key given (--content-key-file)")
	}
	perSubject := opts.HistoryPerDevice
	if perSubject == 0 {
		perSubject = -1
	}
	streamName, contentName, errsName := Names(opts.Prefix)
	s := &Store{js: js, prefix: opts.Prefix, streamNm: streamName, keys: opts.Keys, perDevice: uint64(opts.HistoryPerDevice)}
	wrap := func(what string, err error) error {
		return api.Wrap(api.KindStorage, err, fmt.Sprintf("open store: %s", what))
	}
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		s.hist, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:        streamName,
			Description: "cfgsnap snapshot records, one subject per device",
			Subjects:    []string{opts.Prefix + ".history.*.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    opts.Replicas,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			// Per device, not per stream: a chatty device must not push
			// out another's history.
			MaxMsgsPerSubject: perSubject,
			// A device's history is read with batched direct gets, checked
			// against the leader (direct.go); the reads a write depends on
			// still go to the leader alone.
			AllowDirect: true,
			Duplicates:  2 * time.Minute,
		})
		return err
	})
	if err != nil {
		return nil, wrap("history stream "+streamName, err)
	}
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		s.obs, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      contentName,
			Description: "cfgsnap configuration contents, one object per sha256",
			Storage:     jetstream.FileStorage,
			Replicas:    opts.Replicas,
			Compression: true,
		})
		return err
	})
	if err != nil {
		return nil, wrap("content bucket "+contentName, err)
	}
	// One value per device in each bucket: last errors, pins
	// (retention.go), indexes (index.go).
	for _, b := range []struct {
		kv         *jetstream.KeyValue
		name, desc string
	}{
		{&s.errs, errsName, "cfgsnap last error per device"},
		{&s.pins, PinsBucket(opts.Prefix), "cfgsnap pinned snapshots, one key per device"},
		{&s.index, IndexBucket(opts.Prefix), "cfgsnap per-device index of the history stream (a checked shortcut, rebuilt from the stream)"},
	} {
		*b.kv, err = jskv.Open(ctx, js, jetstream.KeyValueConfig{
			Bucket: b.name, Description: b.desc, History: 1, Storage: jetstream.FileStorage, Replicas: opts.Replicas,
		})
		if err != nil {
			return nil, wrap("bucket "+b.name, err)
		}
	}
	return s, nil
}

// Close implements store.Store. The connection belongs to the caller.
func (s *Store) Close() error { return nil }

func (s *Store) subject(tenant, device string) string {
	return s.prefix + ".history." + tenant + "." + device
}

// Record implements store.Store.
func (s *Store) Record(ctx context.Context, rec api.SnapshotRecord, content []byte) (api.SnapshotRecord, error) {
	rec, err := store.Prepare(rec, content)
	if err != nil {
		return api.SnapshotRecord{}, err
	}
	key := store.DeviceKey{Tenant: rec.TenantID, Device: rec.DeviceID}
	wrap := func(err error) error { return api.Wrap(api.KindStorage, err, "record snapshot of "+key.String()) }
	if err := s.putContent(ctx, rec.SHA256, content); err != nil {
		return api.SnapshotRecord{}, wrap(err)
	}
	subj := s.subject(rec.TenantID, rec.DeviceID)
	givenID := rec.SnapshotID != ""
	tried := map[string]bool{}
	for attempt := range recordAttempts {
		prev, prevSeq, err := s.last(ctx, subj)
		if err != nil {
			return api.SnapshotRecord{}, wrap(err)
		}
		switch {
		case !givenID:
			// IDs are monotonic only within a process: another worker may
			// have made the latest one in this same millisecond.
			rec.SnapshotID = api.NewID()
			if prev != nil && rec.SnapshotID <= prev.SnapshotID {
				next, ok := api.NextID(prev.SnapshotID)
				if !ok {
					return api.SnapshotRecord{}, wrap(fmt.Errorf("no snapshot id after %s", prev.SnapshotID))
				}
				rec.SnapshotID = next
			}
		case prev != nil && rec.SnapshotID <= prev.SnapshotID:
			return api.SnapshotRecord{}, api.Errorf(api.KindBadRequest, "record snapshot of %s: snapshot id %s is not newer than the latest, %s",
				key, rec.SnapshotID, prev.SnapshotID)
		}
		rec.Changed = prev == nil || prev.SHA256 != rec.SHA256
		rec.PreviousHash = ""
		if prev != nil {
			rec.PreviousHash = prev.SHA256
		}
		data, err := encodeRecord(rec)
		if err != nil {
			return api.SnapshotRecord{}, wrap(err)
		}
		tried[rec.SnapshotID] = true
		var seq uint64
		err = jsretry.Do(ctx, func(ctx context.Context) error {
			ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data},
				jetstream.WithExpectLastSequencePerSubject(prevSeq))
			if err == nil {
				seq = ack.Sequence
			}
			return err
		})
		if err == nil {
			s.appendIndex(ctx, subj, prevSeq, seq, data)
			// Published; CollectContent may have removed the content since
			// putContent found it (retention.go).
			return rec, s.ensureContent(ctx, rec.SHA256, content)
		}
		// No message ID is sent (it would cost every record ~40 bytes): an
		// attempt that landed but lost its answer fails the retry with a
		// conflict on the expected sequence, and after tells it is ours.
		if !jskv.Conflict(err) {
			return api.SnapshotRecord{}, wrap(err)
		}
		// Another writer got there first, unless it was this very record:
		// an attempt whose answer was lost (a node went away) may have
		// landed. The record after prevSeq on the subject tells.
		if mine, err := s.after(ctx, subj, prevSeq, tried); err != nil {
			return api.SnapshotRecord{}, wrap(err)
		} else if mine != nil {
			return *mine, nil
		}
		if givenID {
			// The caller's ID may now be older than the new latest record;
			// the next round says so.
			continue
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return api.SnapshotRecord{}, api.Errorf(api.KindStorage, "record snapshot of %s: other writers won the race %d times in a row", key, recordAttempts)
}

// after returns the record following sequence seq on subj when it is one of
// the IDs in mine.
func (s *Store) after(ctx context.Context, subj string, seq uint64, mine map[string]bool) (*api.SnapshotRecord, error) {
	m, err := s.leaderGet(ctx, apiMsgGet{Seq: seq + 1, NextFor: subj})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the record after %d: %w", seq, err)
	}
	r, err := s.decodeRecord(m.Subject, m.Data)
	if err != nil {
		s.bad.report(m.Subject, m.Sequence, err)
		return nil, nil // not a record, so not one of this writer's
	}
	if mine[r.SnapshotID] {
		return &r, nil
	}
	return nil, nil
}

// last returns the newest record on subj and the stream sequence of the
// subject's last message, or nil and 0 when the device has none. When the
// last message is not a valid record of subj it is skipped: the record is
// the newest valid one, and the sequence still the last message's, so the
// next record is written after it.
func (s *Store) last(ctx context.Context, subj string) (*api.SnapshotRecord, uint64, error) {
	m, err := s.leaderGet(ctx, apiMsgGet{LastFor: subj})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read latest snapshot: %w", err)
	}
	r, err := s.decodeRecord(subj, m.Data)
	if err != nil {
		s.bad.report(subj, m.Sequence, err)
		recs, err := s.readDevice(ctx, subj)
		if err != nil {
			return nil, 0, fmt.Errorf("read latest snapshot: %w", err)
		}
		if len(recs) == 0 {
			return nil, m.Sequence, nil
		}
		return &recs[len(recs)-1].SnapshotRecord, m.Sequence, nil
	}
	return &r, m.Sequence, nil
}

// Latest implements store.Store.
func (s *Store) Latest(ctx context.Context, tenant, device string) (*api.SnapshotRecord, error) {
	key := store.DeviceKey{Tenant: tenant, Device: device}
	if !api.ValidID(tenant) || !api.ValidID(device) {
		return nil, nil // no such subject can exist; and a bad ID must not widen one
	}
	r, _, err := s.last(ctx, s.subject(tenant, device))
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, key.String())
	}
	return r, nil
}

// LatestAll implements store.Store: one consumer delivering the last
// message of every device subject.
func (s *Store) LatestAll(ctx context.Context, tenant string) (map[store.DeviceKey]api.SnapshotRecord, error) {
	out := make(map[store.DeviceKey]api.SnapshotRecord)
	filter := s.prefix + ".history.*.*"
	if tenant != "" {
		if !api.ValidID(tenant) {
			return out, nil
		}
		filter = s.prefix + ".history." + tenant + ".*"
	}
	recs, err := s.scan(ctx, filter, jetstream.DeliverLastPerSubjectPolicy, nil)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read latest snapshots")
	}
	for _, r := range recs {
		out[store.DeviceKey{Tenant: r.TenantID, Device: r.DeviceID}] = r
	}
	return out, nil
}

// History implements store.Store. Limits above store.MaxHistoryLimit are
// reduced to it. It reads the device's records oldest first up to the
// cursor (HistoryPerDevice bounds them) in one batched read and returns the
// newest of them.
func (s *Store) History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error) {
	if limit <= 0 {
		limit = store.DefaultHistoryLimit
	}
	limit = min(limit, store.MaxHistoryLimit)
	if !api.ValidID(tenant) || !api.ValidID(device) {
		return nil, false, nil
	}
	key := store.DeviceKey{Tenant: tenant, Device: device}
	// Records are in ID order; everything from the cursor on is newer still.
	// The newest records answer when more than limit of them are older
	// than the cursor: then the page is full and "more" is right.
	enough := func(recs []seqRecord) bool {
		n := 0
		for _, r := range recs {
			if before == "" || r.SnapshotID < before {
				n++
			}
		}
		return n > limit
	}
	all, err := s.readDeviceCached(ctx, s.subject(tenant, device), enough)
	if err != nil {
		return nil, false, api.Wrap(api.KindStorage, err, "read history of "+key.String())
	}
	recs := all
	if before != "" {
		// Records are in ID order; everything from the cursor on is newer still.
		for i, r := range all {
			if r.SnapshotID >= before {
				recs = all[:i]
				break
			}
		}
	}
	more := len(recs) > limit
	recs = recs[max(0, len(recs)-limit):]
	out := make([]api.SnapshotRecord, len(recs))
	for i, r := range recs {
		out[len(recs)-1-i] = r.SnapshotRecord
	}
	if err := s.addPins(ctx, tenant, device, out); err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// maxCandidates is how many matches of an ambiguous prefix Find lists.
const maxCandidates = 10

// Find implements store.Store.
func (s *Store) Find(ctx context.Context, tenant, device, ref string) (api.SnapshotRecord, error) {
	key := store.DeviceKey{Tenant: tenant, Device: device}
	ref = strings.TrimSpace(ref)
	if strings.EqualFold(ref, "latest") {
		r, err := s.Latest(ctx, tenant, device)
		if err != nil {
			return api.SnapshotRecord{}, err
		}
		if r == nil {
			return api.SnapshotRecord{}, fmt.Errorf("%s has no snapshots: %w", key, store.ErrNotFound)
		}
		return *r, nil
	}
	if api.IsID(ref) {
		recs, err := s.readDeviceCached(ctx, s.subject(tenant, device), nil)
		if err != nil {
			return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, fmt.Sprintf("find %q in %s", ref, key))
		}
		for _, r := range recs {
			if r.SnapshotID == ref {
				one := []api.SnapshotRecord{r.SnapshotRecord}
				err := s.addPins(ctx, tenant, device, one)
				return one[0], err
			}
		}
		if !store.IsHex(strings.ToLower(ref)) {
			return api.SnapshotRecord{}, fmt.Errorf("find snapshot %s in %s: %w", ref, key, store.ErrNotFound)
		}
		// An upper-case hash prefix that looks like an ID: a prefix it is.
	}
	prefix := strings.ToLower(ref)
	if len(prefix) < store.MinPrefix || len(prefix) > 64 || !store.IsHex(prefix) {
		return api.SnapshotRecord{}, api.Errorf(api.KindBadRequest,
			"snapshot %q: use \"latest\", a snapshot ID, a sha256 or at least %d of its leading hex digits", ref, store.MinPrefix)
	}
	if !api.ValidID(tenant) || !api.ValidID(device) {
		return api.SnapshotRecord{}, fmt.Errorf("find %q in %s: %w", ref, key, store.ErrNotFound)
	}
	newest := map[string]api.SnapshotRecord{} // by hash, the newest record with it
	recs, err := s.readDeviceCached(ctx, s.subject(tenant, device), nil)
	if err != nil {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, fmt.Sprintf("find %q in %s", ref, key))
	}
	for _, r := range recs {
		if strings.HasPrefix(r.SHA256, prefix) {
			newest[r.SHA256] = r.SnapshotRecord
		}
	}
	switch len(newest) {
	case 0:
		return api.SnapshotRecord{}, fmt.Errorf("find %q in %s: %w", ref, key, store.ErrNotFound)
	case 1:
		for _, r := range newest {
			one := []api.SnapshotRecord{r}
			err := s.addPins(ctx, tenant, device, one)
			return one[0], err
		}
	}
	cands := make([]api.SnapshotRecord, 0, len(newest))
	for _, r := range newest {
		cands = append(cands, r)
	}
	// Newest first, as the SQLite store lists them.
	for i := 1; i < len(cands); i++ {
		for j := i; j > 0 && cands[j].SnapshotID > cands[j-1].SnapshotID; j-- {
			cands[j], cands[j-1] = cands[j-1], cands[j]
		}
	}
	var list []string
	for i, c := range cands {
		if i == maxCandidates {
			list = append(list, "and more")
			break
		}
		list = append(list, fmt.Sprintf("%s (latest %s)", c.SHA256, c.CollectedAt.Format(time.RFC3339)))
	}
	return api.SnapshotRecord{}, fmt.Errorf("find %q in %s: %w: it matches %s", ref, key, store.ErrAmbiguous, strings.Join(list, ", "))
}

// Bounds of scan: how many records one fetch asks for, how long a fetch
// may wait for the first of them, and how long one whole read may take.
const (
	scanBatch   = 500
	scanWait    = 3 * time.Second
	scanTimeout = time.Minute
)

// scan returns the records on filter in stream order, read through an
// ephemeral consumer that exists only for the call, up to the first for
// which stop returns true (excluded), or up to the last record that existed
// when the read began. A read that fails half way starts over.
func (s *Store) scan(ctx context.Context, filter string, policy jetstream.DeliverPolicy, stop func(api.SnapshotRecord) bool) ([]api.SnapshotRecord, error) {
	var out []api.SnapshotRecord
	var skipped []string // subjects whose delivered message was not a record
	err := jsretry.Within(ctx, scanTimeout, func(ctx context.Context) error {
		out, skipped = out[:0], skipped[:0]
		want, err := s.lastSeq(ctx, filter)
		if err != nil {
			return err
		}
		var subjects int // devices the leader knows, for a latest-per-device read
		if policy == jetstream.DeliverLastPerSubjectPolicy {
			info, err := s.hist.Info(ctx, jetstream.WithSubjectFilter(filter))
			if err != nil {
				return err
			}
			subjects = len(info.State.Subjects)
		}
		err = s.scanOnce(ctx, filter, policy, 0, want, func(r api.SnapshotRecord, _ uint64) bool {
			if stop != nil && stop(r) {
				return false
			}
			out = append(out, r)
			return true
		}, func(subj string) { skipped = append(skipped, subj) })
		if err == nil && len(out)+len(skipped) < subjects {
			return fmt.Errorf("%w: read the latest of %d of %d devices (a replica catching up)", jsretry.ErrStalled, len(out)+len(skipped), subjects)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filter, err)
	}
	if policy == jetstream.DeliverLastPerSubjectPolicy {
		// A device whose last message was skipped still has a latest
		// record: the newest valid one before it.
		for _, subj := range skipped {
			r, _, err := s.last(ctx, subj)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", subj, err)
			}
			if r != nil {
				out = append(out, *r)
			}
		}
	}
	return out, nil
}

// lastSeq is the stream sequence of the last message on filter as the
// stream leader has it, when filter is one device's subject; 0 otherwise.
// A read must get that far: an R1 consumer may sit on a replica still
// catching up after a node came back, and would see fewer records.
func (s *Store) lastSeq(ctx context.Context, filter string) (uint64, error) {
	if strings.ContainsAny(filter, "*>") {
		return 0, nil
	}
	m, err := s.hist.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

func (s *Store) scanOnce(ctx context.Context, filter string, policy jetstream.DeliverPolicy, start, want uint64, fn func(api.SnapshotRecord, uint64) bool, skip func(subject string)) error {
	cons, err := s.hist.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     filter,
		DeliverPolicy:     policy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second, // a crashed reader's consumer cleans itself up
	})
	if err != nil {
		return err
	}
	name := cons.CachedInfo().Name
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = s.hist.DeleteConsumer(dctx, name) // it expires by itself otherwise
	}()
	pending := cons.CachedInfo().NumPending
	var seen uint64 // stream sequence of the last message delivered
	for got := uint64(0); got < pending; {
		batch, err := cons.Fetch(int(min(pending-got, scanBatch)), jetstream.FetchMaxWait(scanWait))
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var seq uint64
			if md, merr := m.Metadata(); merr == nil {
				seq = md.Sequence.Stream
				seen = max(seen, seq)
			}
			r, err := s.decodeRecord(m.Subject(), m.Data())
			if err != nil {
				// Skipped, never shown: one bad message must not hide
				// the device's history.
				s.bad.report(m.Subject(), seq, err)
				skip(m.Subject())
				continue
			}
			if !fn(r, seq) {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w after %d of %d records", jsretry.ErrStalled, got, pending)
		}
		got += uint64(n)
	}
	if seen < want {
		return fmt.Errorf("%w: read up to sequence %d of %d (a replica catching up)", jsretry.ErrStalled, seen, want)
	}
	return nil
}

// SetLastError implements store.Store.
func (s *Store) SetLastError(ctx context.Context, tenant, device string, e *api.DeviceError) error {
	key := store.DeviceKey{Tenant: tenant, Device: device}
	if err := api.CheckID("tenant", tenant); err != nil {
		if e == nil {
			return nil // nothing can be stored under an invalid ID, so nothing to clear
		}
		return err
	}
	if err := api.CheckID("device", device); err != nil {
		if e == nil {
			return nil
		}
		return err
	}
	k := tenant + "." + device
	if e == nil {
		// Every successful backup clears its device's error: a read, not a
		// replicated write, when there is none (the common case).
		err := jsretry.Do(ctx, func(ctx context.Context) error {
			_, err := s.errs.Get(ctx, k)
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				return nil
			}
			if err != nil {
				return err
			}
			return s.errs.Purge(ctx, k)
		})
		return api.Wrap(api.KindStorage, err, "clear last error of "+key.String())
	}
	v := *e
	if v.Kind == "" {
		v.Kind = api.KindInternal
	}
	if v.At.IsZero() {
		v.At = time.Now()
	}
	if v.At.Year() < 1970 || v.At.Year() > 2261 {
		return api.Errorf(api.KindBadRequest, "error time %s is out of range", v.At.Format(time.RFC3339))
	}
	v.At = v.At.UTC()
	data, err := json.Marshal(v)
	if err != nil {
		return api.Wrap(api.KindStorage, err, "set last error of "+key.String())
	}
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		_, err := s.errs.Put(ctx, k, data)
		return err
	})
	return api.Wrap(api.KindStorage, err, "set last error of "+key.String())
}

// LastErrors implements store.Store.
func (s *Store) LastErrors(ctx context.Context, tenant string) (map[store.DeviceKey]api.DeviceError, error) {
	out := make(map[store.DeviceKey]api.DeviceError)
	filter := "*.*"
	if tenant != "" {
		if !api.ValidID(tenant) {
			return out, nil
		}
		filter = tenant + ".*"
	}
	// The keys come from the stream's subject counts and each value from a
	// get: a watch is served by an ordered consumer whose pending count can
	// miss a value put a moment ago (seen as an empty map right after an
	// overwrite), and the fleet list must show the error just recorded.
	bucket := s.errs.Bucket()
	prefix := "$KV." + bucket + "."
	var subjects map[string]uint64
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		st, err := s.js.Stream(ctx, "KV_"+bucket)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+filter))
		if err != nil {
			return err
		}
		subjects = info.State.Subjects
		return nil
	})
	if err == nil {
		for subj := range subjects {
			k := strings.TrimPrefix(subj, prefix)
			var e jetstream.KeyValueEntry
			err = jsretry.Do(ctx, func(ctx context.Context) error {
				var gerr error
				e, gerr = s.errs.Get(ctx, k)
				return gerr
			})
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				err = nil
				continue
			}
			if err != nil {
				break
			}
			tenant, device, _ := strings.Cut(k, ".")
			var de api.DeviceError
			if uerr := json.Unmarshal(e.Value(), &de); uerr != nil {
				err = fmt.Errorf("last error of %s/%s is not an error record: %w", tenant, device, uerr)
				break
			}
			out[store.DeviceKey{Tenant: tenant, Device: device}] = de
		}
	}
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read last errors")
	}
	return out, nil
}
