package jetstream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// TestReadCacheFollowsOtherWorkers: a device read through the cache
// (History, Find) must show what another worker appended or removed since:
// the cache is used only while the leader's last message and count are
// the ones it was filled at.
func TestReadCacheFollowsOtherWorkers(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	a, b := open(t, 0, prefix, Options{}), open(t, 1, prefix, Options{})
	var recs []api.SnapshotRecord
	for i := range 3 {
		r, err := a.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "r1"}, fmt.Appendf(nil, "/system identity\nset name=r1-%d\n", i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	subj := a.subject("acme", "r1")
	h, _, err := a.History(ctx, "acme", "r1", 10, "")
	if err != nil || len(h) != 3 {
		t.Fatalf("history: %d records, %v", len(h), err)
	}
	if _, ok := a.devs.m[subj]; !ok {
		t.Fatal("History did not keep the device's records for the lookups after it")
	}
	// Served from the cache, and the same answer as a full read.
	f, err := a.Find(ctx, "acme", "r1", recs[1].SHA256[:12])
	if err != nil || f.SnapshotID != recs[1].SnapshotID {
		t.Fatalf("find %s: %+v, %v", recs[1].SHA256[:12], f, err)
	}

	// Another worker removes the middle record.
	removed, err := b.RemoveRecords(ctx, "acme", "r1", []string{recs[1].SnapshotID})
	if err != nil || len(removed) != 1 {
		t.Fatalf("remove: %v, %v", removed, err)
	}
	if _, err := a.Find(ctx, "acme", "r1", recs[1].SHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("find of a removed record: %v, want not found", err)
	}
	h, _, err = a.History(ctx, "acme", "r1", 10, "")
	if err != nil || len(h) != 2 {
		t.Fatalf("history after a removal: %d records, %v", len(h), err)
	}

	// Another worker appends one.
	r, err := b.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "r1"}, []byte("/system identity\nset name=r1-new\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := a.Find(ctx, "acme", "r1", r.SHA256[:10]); err != nil || f.SnapshotID != r.SnapshotID {
		t.Fatalf("find of a record another worker appended: %+v, %v", f, err)
	}
	h, _, err = a.History(ctx, "acme", "r1", 10, "")
	if err != nil || len(h) != 3 || h[0].SnapshotID != r.SnapshotID {
		t.Fatalf("history after an append: %+v, %v", h, err)
	}
}

// TestDevCacheBounds: the cache keeps at most devCacheDevices devices,
// dropping the least recently used, and hands out copies.
func TestDevCacheBounds(t *testing.T) {
	var c devCache
	recs := []seqRecord{{api.SnapshotRecord{SnapshotID: "x"}, 1}}
	for i := range devCacheDevices {
		c.put(fmt.Sprint(i), 1, 1, []byte("d"), recs)
	}
	if _, ok := c.get("0", 1, 1, []byte("d")); !ok { // "0" is now the most recent
		t.Fatal("device 0 not kept")
	}
	c.put("new", 1, 1, []byte("d"), recs)
	if len(c.m) != devCacheDevices {
		t.Fatalf("%d devices kept, want %d", len(c.m), devCacheDevices)
	}
	if _, ok := c.get("1", 1, 1, []byte("d")); ok {
		t.Fatal("the least recently used device was kept")
	}
	got, ok := c.get("0", 1, 1, []byte("d"))
	if !ok {
		t.Fatal("device 0 dropped")
	}
	got[0].SnapshotID = "changed"
	if again, _ := c.get("0", 1, 1, []byte("d")); again[0].SnapshotID != "x" {
		t.Fatal("a caller's change reached the cache")
	}
	for _, miss := range []struct {
		last, count uint64
		data        string
	}{{2, 1, "d"}, {1, 2, "d"}, {1, 1, "other"}} {
		if _, ok := c.get("0", miss.last, miss.count, []byte(miss.data)); ok {
			t.Fatalf("hit with last %d count %d data %q", miss.last, miss.count, miss.data)
		}
	}
	c.forget("0")
	if _, ok := c.get("0", 1, 1, []byte("d")); ok {
		t.Fatal("forget kept the device")
	}
}
