package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/jskv"
	"github.com/cfgsnap/cfgsnap/backend/jsretry"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Retention and pins (issue 9). Pins live in a KV bucket beside the
// history stream, <base>_pins, one key per device (tenant.device) whose
// value maps snapshot IDs to their pin: History reads one key, and a pin
// is changed by compare-and-set on it, so concurrent pins of one device
// do not lose each other. Records stay immutable messages.

var _ store.Retainer = (*Store)(nil)

// pinEntry is one pin in a device's pin set.
type pinEntry struct {
	Note string    `json:"note"`
	At   time.Time `json:"at"`
}

// pinAttempts bounds SetPin's compare-and-set tries.
const pinAttempts = 20

// PinsBucket names the KV bucket of pins for prefix.
func PinsBucket(prefix string) string {
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	return strings.ReplaceAll(prefix, ".", "_") + "_pins"
}

// readPins returns the device's pins and the revision they were read at
// (0: none yet).
func (s *Store) readPins(ctx context.Context, tenant, device string) (map[string]pinEntry, uint64, error) {
	pins := map[string]pinEntry{}
	var rev uint64
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		e, err := s.pins.Get(ctx, tenant+"."+device)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			rev = 0
			return nil
		}
		if err != nil {
			return err
		}
		rev = e.Revision()
		clear(pins)
		return json.Unmarshal(e.Value(), &pins)
	})
	if err != nil {
		return nil, 0, api.Wrap(api.KindStorage, err, fmt.Sprintf("read pins of %s/%s", tenant, device))
	}
	return pins, rev, nil
}

func (s *Store) addPins(ctx context.Context, tenant, device string, recs []api.SnapshotRecord) error {
	if len(recs) == 0 {
		return nil
	}
	pins, _, err := s.readPins(ctx, tenant, device)
	if err != nil {
		return err
	}
	for i := range recs {
		p, ok := pins[recs[i].SnapshotID]
		recs[i].Pinned, recs[i].PinNote = ok, p.Note
	}
	return nil
}

// SetPin implements store.Retainer.
func (s *Store) SetPin(ctx context.Context, tenant, device, snapshotID string, pinned bool, note string) (api.SnapshotRecord, error) {
	key := store.DeviceKey{Tenant: tenant, Device: device}
	if !api.ValidID(tenant) || !api.ValidID(device) {
		return api.SnapshotRecord{}, fmt.Errorf("snapshot %s of %s: %w", snapshotID, key, store.ErrNotFound)
	}
	recs, _, err := s.deviceRecords(ctx, tenant, device)
	if err != nil {
		return api.SnapshotRecord{}, err
	}
	var rec *api.SnapshotRecord
	for i := range recs {
		if recs[i].SnapshotID == snapshotID {
			rec = &recs[i]
		}
	}
	if rec == nil {
		return api.SnapshotRecord{}, fmt.Errorf("snapshot %s of %s: %w", snapshotID, key, store.ErrNotFound)
	}
	for range pinAttempts {
		pins, rev, err := s.readPins(ctx, tenant, device)
		if err != nil {
			return api.SnapshotRecord{}, err
		}
		if pinned {
			pins[snapshotID] = pinEntry{Note: note, At: time.Now().UTC()}
		} else {
			delete(pins, snapshotID)
		}
		data, err := json.Marshal(pins)
		if err != nil {
			return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "pin snapshot of "+key.String())
		}
		k := tenant + "." + device
		if rev == 0 {
			_, err = s.pins.Create(ctx, k, data)
		} else {
			_, err = s.pins.Update(ctx, k, data, rev)
		}
		if err == nil {
			rec.Pinned, rec.PinNote = pinned, ""
			if pinned {
				rec.PinNote = note
			}
			return *rec, nil
		}
		if !jskv.Conflict(err) {
			return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "pin snapshot of "+key.String())
		}
		// Another pin of the device won: read it and apply ours on top.
	}
	return api.SnapshotRecord{}, api.Errorf(api.KindStorage, "pin snapshot of %s: other writers won %d times in a row", key, pinAttempts)
}

// DeviceRecords implements store.Retainer.
func (s *Store) DeviceRecords(ctx context.Context, tenant, device string) ([]api.SnapshotRecord, error) {
	if !api.ValidID(tenant) || !api.ValidID(device) {
		return nil, nil
	}
	recs, _, err := s.deviceRecords(ctx, tenant, device)
	if err != nil {
		return nil, err
	}
	return recs, s.addPins(ctx, tenant, device, recs)
}

// deviceRecords returns the device's records oldest first and their stream
// sequences.
func (s *Store) deviceRecords(ctx context.Context, tenant, device string) ([]api.SnapshotRecord, []uint64, error) {
	all, err := s.readDevice(ctx, s.subject(tenant, device))
	if err != nil {
		return nil, nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("read records of %s/%s", tenant, device))
	}
	recs := make([]api.SnapshotRecord, len(all))
	seqs := make([]uint64, len(all))
	for i, r := range all {
		recs[i], seqs[i] = r.SnapshotRecord, r.seq
	}
	return recs, seqs, nil
}

// RemoveRecords implements store.Retainer: each record is deleted from the
// stream by its sequence, unless it is pinned or the device's last.
func (s *Store) RemoveRecords(ctx context.Context, tenant, device string, ids []string) ([]string, error) {
	key := store.DeviceKey{Tenant: tenant, Device: device}
	if !api.ValidID(tenant) || !api.ValidID(device) || len(ids) == 0 {
		return nil, nil
	}
	recs, seqs, err := s.deviceRecords(ctx, tenant, device)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	pins, _, err := s.readPins(ctx, tenant, device)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	// The count check would catch the removals too; forgetting is cheaper.
	defer s.devs.forget(s.subject(tenant, device))
	var removed []string
	// The last record is the device's latest: Record chains the next one
	// on its sequence, so it stays.
	for i, r := range recs[:len(recs)-1] {
		if !want[r.SnapshotID] {
			continue
		}
		if _, ok := pins[r.SnapshotID]; ok {
			continue
		}
		seq := seqs[i]
		err := jsretry.Do(ctx, func(ctx context.Context) error { return s.hist.DeleteMsg(ctx, seq) })
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // another prune removed it
		}
		if err != nil {
			return removed, api.Wrap(api.KindStorage, err, "remove records of "+key.String())
		}
		removed = append(removed, r.SnapshotID)
	}
	return removed, nil
}

// collected is a content CollectContent deleted, kept to put it back.
type collected struct {
	info *jetstream.ObjectInfo
	blob []byte
}

// CollectContent implements store.Retainer. It reads every record to learn
// the hashes in use, deletes the other objects, then reads the records
// published since it began: a Record of a deleted hash that slipped in
// between gets its object back. Record, for its part, checks after
// publishing that the object is still there (ensureContent), so whichever
// of the two comes last puts the content back.
func (s *Store) CollectContent(ctx context.Context) (store.ContentStats, error) {
	var st store.ContentStats
	wrap := func(err error) error { return api.Wrap(api.KindStorage, err, "remove unused content") }
	var info *jetstream.StreamInfo
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		info, err = s.hist.Info(ctx)
		return err
	})
	if err != nil {
		return st, wrap(err)
	}
	last := info.State.LastSeq
	used := map[string]bool{}
	err = s.scanFrom(ctx, s.prefix+".history.*.*", 0, func(r api.SnapshotRecord, _ uint64) { used[r.SHA256] = true },
		func() { clear(used) })
	if err != nil {
		return st, wrap(err)
	}
	var infos []*jetstream.ObjectInfo
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		infos, err = s.obs.List(ctx)
		return err
	})
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return st, wrap(err)
	}
	gone := map[string]collected{}
	for _, oi := range infos {
		sum, ok := store.NormHash(oi.Name)
		if !ok || oi.Deleted || used[sum] {
			continue
		}
		blob, cur, err := s.get(ctx, sum)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			continue
		}
		if err != nil {
			return st, wrap(err)
		}
		if err := jsretry.Do(ctx, func(ctx context.Context) error { return s.obs.Delete(ctx, sum) }); err != nil &&
			!errors.Is(err, jetstream.ErrObjectNotFound) {
			return st, wrap(err)
		}
		gone[sum] = collected{info: cur, blob: blob}
		st.Contents++
		if n, err := strconv.ParseInt(cur.Metadata[metaSize], 10, 64); err == nil {
			st.Bytes += n
		} else {
			st.Bytes += int64(len(blob))
		}
	}
	if len(gone) == 0 {
		return st, nil
	}
	var back []string
	err = s.scanFrom(ctx, s.prefix+".history.*.*", last+1, func(r api.SnapshotRecord, _ uint64) {
		if _, ok := gone[r.SHA256]; ok {
			back = append(back, r.SHA256)
		}
	}, func() { back = back[:0] })
	if err != nil {
		return st, wrap(fmt.Errorf("check for records made meanwhile (content may be missing; run it again): %w", err))
	}
	for _, sum := range back {
		c, ok := gone[sum]
		if !ok {
			continue
		}
		delete(gone, sum)
		meta := c.info.ObjectMeta
		if err := jsretry.Do(ctx, func(ctx context.Context) error {
			_, err := s.obs.Put(ctx, meta, bytes.NewReader(c.blob))
			return err
		}); err != nil {
			return st, wrap(fmt.Errorf("put back content %s used by a new record: %w", store.Short(sum), err))
		}
		st.Contents--
		if n, err := strconv.ParseInt(c.info.Metadata[metaSize], 10, 64); err == nil {
			st.Bytes -= n
		} else {
			st.Bytes -= int64(len(c.blob))
		}
	}
	return st, nil
}

// ensureContent puts content back when its object is missing: Record calls
// it after publishing, in case CollectContent deleted the object between
// putContent's check and the publish.
func (s *Store) ensureContent(ctx context.Context, sum string, content []byte) error {
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		_, err := s.obs.GetInfo(ctx, sum)
		return err
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return api.Wrap(api.KindStorage, err, "check content "+store.Short(sum))
	}
	blob, err := s.keys.SealContent(sum, content)
	if err != nil {
		return err
	}
	return api.Wrap(api.KindStorage, s.putSealed(ctx, sum, int64(len(content)), blob), "put back content")
}

// scanFrom calls fn with every record on filter from stream sequence start
// (0: the first) up to the last that existed when the read began, with its
// sequence. A read that fails half way calls reset and starts over.
func (s *Store) scanFrom(ctx context.Context, filter string, start uint64, fn func(api.SnapshotRecord, uint64), reset func()) error {
	policy := jetstream.DeliverAllPolicy
	if start > 0 {
		policy = jetstream.DeliverByStartSequencePolicy
	}
	return jsretry.Within(ctx, scanTimeout, func(ctx context.Context) error {
		reset()
		// A forged or broken message is skipped and reported, as every
		// read does; prune neither keeps nor counts it.
		return s.scanOnce(ctx, filter, policy, start, 0, func(r api.SnapshotRecord, seq uint64) bool {
			fn(r, seq)
			return true
		}, func(string) {})
	})
}
