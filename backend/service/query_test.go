package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// TestLargeSnapshotOverNATS backs up a 4 MB export and fetches it whole
// through a server with the default 1 MiB max_payload.
func TestLargeSnapshotOverNATS(t *testing.T) {
	h := newHarness(t, devices(1, devicesim.Spec{Tenant: "acme", ID: "big-1", SizeBytes: 4 << 20}))
	st := h.stack()
	h.service(service.Config{Stack: st})
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	nc := h.conn()
	if nc.MaxPayload() != 1<<20 {
		t.Fatalf("max_payload is %d, want the 1 MiB default", nc.MaxPayload())
	}

	rep, err := r.Backup(ctx, "acme", "big-1", client.BackupOptions{}, nil)
	if err != nil || rep.Status != api.StatusSuccess {
		t.Fatalf("backup: %+v %v", rep, err)
	}
	if rep.SizeBytes < 3<<20 {
		t.Fatalf("snapshot is %d bytes, want about 4 MB", rep.SizeBytes)
	}
	recs, more, err := r.History(ctx, "acme", "big-1", 10, "")
	if err != nil || more || len(recs) != 1 || recs[0].SnapshotID != rep.SnapshotID || recs[0].SizeBytes != rep.SizeBytes {
		t.Fatalf("history: %+v more=%v %v", recs, more, err)
	}
	want, err := st.Store.Content(ctx, rep.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"latest", rep.SHA256, rep.SHA256[:10]} {
		rec, content, err := r.Snapshot(ctx, "acme", "big-1", ref)
		if err != nil {
			t.Fatalf("snapshot %s: %v", ref, err)
		}
		if rec.SnapshotID != rep.SnapshotID || !bytes.Equal(content, want) {
			t.Fatalf("snapshot %s: record %s, %d bytes; want %s, %d bytes", ref, rec.SnapshotID, len(content), rep.SnapshotID, len(want))
		}
	}

	// On the wire: several chunks, then the final message with the hash.
	msgs := request(t, nc, &nats.Msg{Subject: "cfgsnap.snapshot.get.acme",
		Data: []byte(`{"device_id":"big-1","sha256_hash":"latest"}`)}, isFinal, 10*time.Second, 100*time.Millisecond)
	if len(msgs) < 5 {
		t.Fatalf("%d messages for a 4 MB snapshot", len(msgs))
	}
	for i, m := range msgs[:len(msgs)-1] {
		if got, want := m.Header.Get(api.HeaderChunk), fmt.Sprintf("%d/%d", i+1, len(msgs)-1); got != want {
			t.Fatalf("chunk header %q, want %q", got, want)
		}
	}
	if last := msgs[len(msgs)-1]; last.Header.Get(api.HeaderSHA256) == "" || last.Header.Get(api.HeaderChunks) != fmt.Sprint(len(msgs)-1) {
		t.Fatalf("final message headers: %v", last.Header)
	}
}

func TestHistoryPaging(t *testing.T) {
	h := newHarness(t, devices(1))
	st := h.stack()
	h.service(service.Config{Stack: st})
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		rec, err := st.Store.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "core-rtr-1",
			CollectedAt: time.Now().Add(time.Duration(i) * time.Second), Trigger: api.TriggerManual},
			[]byte(fmt.Sprintf("# config %d\n/system identity\nset name=r%d\n", i%2, i%2)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{rec.SnapshotID}, ids...) // newest first
	}
	var got []string
	before := ""
	for page := 0; ; page++ {
		recs, more, err := r.History(ctx, "acme", "core-rtr-1", 2, before)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			got = append(got, rec.SnapshotID)
		}
		if !more {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
		before = recs[len(recs)-1].SnapshotID
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("pages gave %v, want %v", got, ids)
	}
	recs, _, err := r.History(ctx, "globex", "gx-edge-1", 0, "")
	if err != nil || recs == nil || len(recs) != 0 {
		t.Fatalf("a device without snapshots: %v %v (want an empty list)", recs, err)
	}
	if _, _, err := r.Snapshot(ctx, "globex", "gx-edge-1", "latest"); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("latest of a device without snapshots: %v", err)
	}
}

// TestInventoryOverNATS: tenants and devices (with last backup, last error
// and busy) match what direct mode sees on the same data dir.
func TestInventoryOverNATS(t *testing.T) {
	h := newHarness(t, devices(2, devicesim.Spec{Tenant: "acme", ID: "badpass-1", Fault: devicesim.FaultWrongPassword}))
	st := h.stack()
	h.service(service.Config{Stack: st})
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	for _, id := range []string{"core-rtr-1", "badpass-1"} {
		if _, err := r.Backup(ctx, "acme", id, client.BackupOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	direct := client.NewDirect(st)
	wantT, _ := direct.Tenants(ctx)
	gotT, err := r.Tenants(ctx)
	if err != nil || !reflect.DeepEqual(gotT, wantT) {
		t.Fatalf("tenants: %+v %v, want %+v", gotT, err, wantT)
	}
	wantD, _ := direct.Devices(ctx, "acme")
	gotD, err := r.Devices(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// Compare as JSON: times lose their monotonic clock on the wire.
	gj, _ := json.Marshal(gotD)
	wj, _ := json.Marshal(wantD)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("devices over NATS:\n%s\nwant:\n%s", gj, wj)
	}
	byID := map[string]api.Device{}
	for _, d := range gotD {
		byID[d.ID] = d
	}
	if d := byID["core-rtr-1"]; d.LastBackup == nil || d.LastError != nil {
		t.Errorf("core-rtr-1: %+v", d)
	}
	if d := byID["badpass-1"]; d.LastError == nil || d.LastError.Kind != api.KindAuthFailed {
		t.Errorf("badpass-1: %+v", d)
	}
	if bytes.Contains(gj, []byte(h.fleet.Password())) {
		t.Errorf("device list holds the devices' password: %s", gj)
	}
}
