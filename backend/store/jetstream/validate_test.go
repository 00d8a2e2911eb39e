package jetstream

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

// TestForgedRecordsAreSkipped publishes straight into globex's history
// subject what issue 11's attack could put there (acme's record, a reply
// of another shape, garbage): globex's history, latest record and next
// backup are as if they were not there, and each is reported once.
func TestForgedRecordsAreSkipped(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, 0, prefix, Options{})
	logs := &natstest.LogBuffer{}
	s.SetLogger(slog.New(slog.NewTextHandler(logs, nil)))
	good := storetest.Record(t, s, "globex", "core-rtr-1", "/system identity\nset name=gx\n")
	acme := storetest.Record(t, s, "acme", "core-rtr-1", "/system identity\nset name=acme\n")

	forged := acme
	forged.SnapshotID = api.NewID() // newer than good
	acmeRec, _ := json.Marshal(forged)
	sameTenantWrongDevice := good
	sameTenantWrongDevice.DeviceID, sameTenantWrongDevice.SnapshotID = "gx-edge-1", api.NewID()
	wrongDev, _ := json.Marshal(sameTenantWrongDevice)
	subj := prefix + ".history.globex.core-rtr-1"
	bad := [][]byte{
		acmeRec,
		wrongDev,
		[]byte(`{"status":"locked","message":"backup already in progress"}`),
		[]byte("not json at all"),
		[]byte(`{"snapshot_id":"` + api.NewID() + `","tenant_id":"globex","device_id":"core-rtr-1","sha256_hash":"../../etc/passwd"}`),
	}
	for _, b := range bad {
		if _, err := s.js.Publish(ctx, subj, b); err != nil {
			t.Fatal(err)
		}
	}

	recs, more, err := s.History(ctx, "globex", "core-rtr-1", 10, "")
	if err != nil || more || len(recs) != 1 || recs[0] != good {
		t.Fatalf("history with forged records: %+v more=%v %v; want only %s", recs, more, err, good.SnapshotID)
	}
	if r, err := s.Latest(ctx, "globex", "core-rtr-1"); err != nil || r == nil || *r != good {
		t.Errorf("latest: %+v %v", r, err)
	}
	if r, err := s.Find(ctx, "globex", "core-rtr-1", "latest"); err != nil || r != good {
		t.Errorf("find latest: %+v %v", r, err)
	}
	all, err := s.LatestAll(ctx, "globex")
	if err != nil || len(all) != 1 {
		t.Fatalf("latest of every globex device: %v %v", all, err)
	}
	for k, r := range all {
		if k.Device != "core-rtr-1" || r != good {
			t.Errorf("latest of %s: %+v", k, r)
		}
	}
	if all, err := s.LatestAll(ctx, ""); err != nil || len(all) != 2 {
		t.Errorf("latest of every device: %d, %v; want acme's and globex's", len(all), err)
	}
	// The next backup follows the last valid record.
	next, err := s.Record(ctx, api.SnapshotRecord{TenantID: "globex", DeviceID: "core-rtr-1", CollectedAt: good.CollectedAt},
		[]byte("/system identity\nset name=gx\n"))
	if err != nil || next.PreviousHash != good.SHA256 || next.Changed {
		t.Fatalf("record after forged messages: %+v %v", next, err)
	}
	if recs, _, err := s.History(ctx, "globex", "core-rtr-1", 10, ""); err != nil || len(recs) != 2 {
		t.Errorf("history after the next backup: %d records, %v", len(recs), err)
	}
	if got := s.Skipped(); got != int64(len(bad)) {
		t.Errorf("skipped %d distinct messages, want %d", got, len(bad))
	}
	if n := strings.Count(logs.String(), "skipped a history message"); n != len(bad) {
		t.Errorf("%d log lines for %d bad messages (once each):\n%s", n, len(bad), logs.String())
	}
	if strings.Contains(logs.String(), "name=acme") {
		t.Error("the log shows content")
	}
}

// FuzzDecodeRecord: whatever a history message holds, decoding never
// panics, and what it accepts is a record of the subject it came on.
func FuzzDecodeRecord(f *testing.F) {
	s := &Store{prefix: "cfgsnap"}
	rec, _ := json.Marshal(api.SnapshotRecord{SnapshotID: api.NewID(), TenantID: "acme", DeviceID: "r1",
		SHA256: strings.Repeat("ab", 32)})
	f.Add("cfgsnap.history.acme.r1", rec)
	f.Add("cfgsnap.history.globex.r1", rec)
	f.Add("cfgsnap.history.acme.r1", []byte(`{"snapshot_id":"x","tenant_id":"acme","device_id":"r1"}`))
	f.Add("cfgsnap.history.acme.r1", []byte(`null`))
	f.Add("", []byte(`{}`))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		r, err := s.decodeRecord(subject, data)
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if subject != "cfgsnap.history."+r.TenantID+"."+r.DeviceID || !api.ValidID(r.TenantID) || !api.ValidID(r.DeviceID) ||
			r.SnapshotID == "" || len(r.SHA256) != 64 {
			t.Errorf("accepted %+v on %s", r, subject)
		}
	})
}
