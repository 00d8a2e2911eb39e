package jetstream

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

func sampleRecord() api.SnapshotRecord {
	return api.SnapshotRecord{SnapshotID: api.NewID(), TenantID: "tenant-12", DeviceID: "rtr-00012",
		SHA256: strings.Repeat("0f", 32), PreviousHash: strings.Repeat("a1", 32),
		CollectedAt: time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.UTC), SizeBytes: 20480,
		Trigger: api.TriggerScheduled, RequestedBy: "bench", Reason: "nightly", RouterOSVersion: "7.16.2",
		NormalizationVersion: 3, DurationMS: 900}
}

// TestCompactRecordRoundTripAndSize: a record encodes to well under the
// 512 bytes an unchanged snapshot may cost (issue 9 §4), decodes to the
// same record, and a record of another device is refused on this subject.
func TestCompactRecordRoundTripAndSize(t *testing.T) {
	s := &Store{prefix: "cfgsnap"}
	for _, changed := range []bool{false, true} {
		r := sampleRecord()
		r.Changed = changed
		data, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 300 {
			t.Errorf("record of %d bytes: %s", len(data), data)
		}
		got, err := s.decodeRecord("cfgsnap.history.tenant-12.rtr-00012", data)
		if err != nil || got != r {
			t.Fatalf("round trip:\n got %+v %v\nwant %+v", got, err, r)
		}
		if _, err := s.decodeRecord("cfgsnap.history.tenant-12.rtr-00013", data); err == nil {
			t.Error("a compact record of rtr-00012 was accepted on rtr-00013's subject")
		}
	}
	first := sampleRecord()
	first.PreviousHash = ""
	data, _ := encodeRecord(first)
	if got, err := s.decodeRecord("cfgsnap.history.tenant-12.rtr-00012", data); err != nil || got != first {
		t.Errorf("first record: %+v %v", got, err)
	}
	if _, err := encodeRecord(api.SnapshotRecord{SHA256: "../x"}); err == nil {
		t.Error("a record without a sha256 was encoded")
	}
	for _, bad := range []string{
		`{"v":2,"i":"x","t":"tenant-12","d":"rtr-00012","h":"AAAA","c":1}`,
		`{"v":2,"i":"x","t":"tenant-12","d":"rtr-00012","h":"` + strings.Repeat("A", 43) + `","p":"!!","c":1}`,
		`{"v":2,"i":"","t":"tenant-12","d":"rtr-00012","h":"` + strings.Repeat("A", 43) + `","c":1}`,
		`{"v":2,}`,
	} {
		if r, err := s.decodeRecord("cfgsnap.history.tenant-12.rtr-00012", []byte(bad)); err == nil {
			t.Errorf("accepted %s as %+v", bad, r)
		}
	}
}

// TestOldJSONRecordsStillRead: history written as the JSON of
// api.SnapshotRecord (before the compact encoding) reads, chains and
// finds as before, mixed with compact records after it.
func TestOldJSONRecordsStillRead(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, 0, prefix, Options{})
	content := "/system identity\nset name=old\n"
	// The content goes in through the store; the record is then rewritten
	// in the old encoding on a second device's subject.
	ref := storetest.Record(t, s, "acme", "seed", content)
	old := ref
	old.DeviceID, old.SnapshotID, old.PreviousHash, old.Changed = "old-rtr", api.NewID(), "", true
	data, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.Publish(ctx, prefix+".history.acme.old-rtr", data); err != nil {
		t.Fatal(err)
	}
	next, err := s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "old-rtr"}, []byte(content))
	if err != nil || next.PreviousHash != old.SHA256 || next.Changed {
		t.Fatalf("record after an old one: %+v %v", next, err)
	}
	recs, more, err := s.History(ctx, "acme", "old-rtr", 10, "")
	if err != nil || more || len(recs) != 2 || recs[0] != next || recs[1] != old {
		t.Fatalf("history: %+v more=%v %v", recs, more, err)
	}
	if recs, more, err := s.History(ctx, "acme", "old-rtr", 10, next.SnapshotID); err != nil || more || len(recs) != 1 || recs[0] != old {
		t.Errorf("history before the new record: %+v %v %v", recs, more, err)
	}
	if got, err := s.Find(ctx, "acme", "old-rtr", old.SHA256[:12]); err != nil || got != next {
		t.Errorf("find by prefix: %+v %v; want the newest record with the hash", got, err)
	}
	if s.Skipped() != 0 {
		t.Errorf("%d messages skipped", s.Skipped())
	}
}
