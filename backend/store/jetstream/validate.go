package jetstream

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// badRecords reports history messages that are not records of their
// subject: garbage, or a record naming another tenant or device than the
// subject it was published on (issue 11: a service tricked into replying
// onto a history subject). They are skipped, never shown, and each is
// logged and counted once. The zero value is ready to use.
type badRecords struct {
	log   atomic.Pointer[slog.Logger]
	count atomic.Int64

	mu      sync.Mutex
	seen    map[uint64]struct{} // stream sequences already reported
	seenIdx map[string]struct{} // index values (key and revision) already reported
}

// maxBadSeen bounds the sequences remembered for reporting once.
const maxBadSeen = 4096

// SetLogger makes the store log each history message it skips (once); call
// it before the store is used.
func (s *Store) SetLogger(l *slog.Logger) { s.bad.log.Store(l) }

// Skipped returns how many distinct history messages were skipped as not
// being valid records of their subject, for a metrics counter.
func (s *Store) Skipped() int64 { return s.bad.count.Load() }

func (b *badRecords) report(subject string, seq uint64, err error) {
	b.mu.Lock()
	if _, ok := b.seen[seq]; ok {
		b.mu.Unlock()
		return
	}
	if b.seen == nil || len(b.seen) >= maxBadSeen {
		b.seen = map[uint64]struct{}{}
	}
	b.seen[seq] = struct{}{}
	b.mu.Unlock()
	b.count.Add(1)
	if l := b.log.Load(); l != nil {
		l.Warn("skipped a history message that is not a snapshot record of its subject; it is never shown",
			"subject", clip(subject), "seq", seq, "err", err)
	}
}

// reportIndex reports a device index value that does not open (index.go):
// forged, or sealed under a key this store does not have. It is replaced
// by one read from the stream.
func (b *badRecords) reportIndex(subject string, rev uint64, err error) {
	id := fmt.Sprintf("%s@%d", subject, rev)
	b.mu.Lock()
	if _, ok := b.seenIdx[id]; ok {
		b.mu.Unlock()
		return
	}
	if b.seenIdx == nil || len(b.seenIdx) >= maxBadSeen {
		b.seenIdx = map[string]struct{}{}
	}
	b.seenIdx[id] = struct{}{}
	b.mu.Unlock()
	b.count.Add(1)
	if l := b.log.Load(); l != nil {
		l.Warn("skipped a device index that does not open under the content key; the history stream is read instead",
			"subject", clip(subject), "revision", rev, "err", err)
	}
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// decodeRecord reads the history message on subject: a snapshot record
// whose tenant and device are the subject's, with the fields every stored
// record has. Anything else is an error, and its values are quoted only
// clipped.
func (s *Store) decodeRecord(subject string, data []byte) (api.SnapshotRecord, error) {
	r, err := unmarshalRecord(data)
	if err != nil {
		return api.SnapshotRecord{}, fmt.Errorf("a history message is not a snapshot record: %w", err)
	}
	if r.SnapshotID == "" || !api.ValidID(r.TenantID) || !api.ValidID(r.DeviceID) || len(r.SnapshotID) > 64 {
		return api.SnapshotRecord{}, fmt.Errorf("a history message is not a snapshot record: id %q, tenant %q, device %q",
			clip(r.SnapshotID), clip(r.TenantID), clip(r.DeviceID))
	}
	if want := s.subject(r.TenantID, r.DeviceID); subject != want {
		return api.SnapshotRecord{}, fmt.Errorf("the record of %s/%s was published on %s, not %s: refused",
			r.TenantID, r.DeviceID, clip(subject), want)
	}
	if len(r.SHA256) != 64 || !isLowerHex(r.SHA256) {
		return api.SnapshotRecord{}, fmt.Errorf("the record %s of %s/%s has no valid sha256", r.SnapshotID, r.TenantID, r.DeviceID)
	}
	return r, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
