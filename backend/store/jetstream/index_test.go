package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"github.com/cfgsnap/cfgsnap/backend/seal"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// ids lists records' snapshot IDs, to compare histories.
func ids(recs []api.SnapshotRecord) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.SnapshotID[len(r.SnapshotID)-4:] + " ")
	}
	return b.String()
}

// agreesWithStream checks that a store that has never read the device
// (so no cache answers) shows the same history as a full read of the
// stream, and returns that history, newest first.
func agreesWithStream(t *testing.T, prefix, tenant, device string, opts Options) []api.SnapshotRecord {
	t.Helper()
	ctx := context.Background()
	fresh := open(t, 1, prefix, opts)
	got, _, err := fresh.History(ctx, tenant, device, store.MaxHistoryLimit, "")
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	all, err := fresh.readDevice(ctx, fresh.subject(tenant, device))
	if err != nil {
		t.Fatalf("full read: %v", err)
	}
	want := make([]api.SnapshotRecord, len(all))
	for i, r := range all {
		want[len(all)-1-i] = r.SnapshotRecord
	}
	if ids(got) != ids(want) {
		t.Fatalf("history shows %s; the stream holds %s", ids(got), ids(want))
	}
	return got
}

func recordN(t *testing.T, s *Store, tenant, device string, n int) []api.SnapshotRecord {
	t.Helper()
	var out []api.SnapshotRecord
	for i := range n {
		r, err := s.Record(context.Background(), api.SnapshotRecord{TenantID: tenant, DeviceID: device, RequestedBy: "test"},
			fmt.Appendf(nil, "/system identity\nset name=%s-%d\n", device, i%3))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestIndexAnswersAndStaysTrue: a device's history is read through its
// index (a tampered but well-sealed index shows through, proving it), and
// the index is never believed once the stream moved on without it: a record
// published past it, a removal, a value that does not open, another
// device's value copied over it.
func TestIndexAnswersAndStaysTrue(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, 0, prefix, Options{})
	logs := &natstest.LogBuffer{}
	recs := recordN(t, s, "acme", "r1", 5)
	recordN(t, s, "acme", "r2", 2)
	subj := s.subject("acme", "r1")

	x, rev := s.loadIndex(ctx, subj)
	if x == nil || x.count() != 5 || x.older != 0 {
		t.Fatalf("index after 5 records: %+v", x)
	}
	agreesWithStream(t, prefix, "acme", "r1", Options{})

	// A well-sealed index that says something else is what a reader shows:
	// the index, not the stream, answered.
	entries, err := x.all()
	if err != nil {
		t.Fatal(err)
	}
	r := recs[2]
	r.RequestedBy = "read-from-the-index"
	data, err := encodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	tampered := slices.Clone(entries)
	tampered[2].data = data
	s.saveIndex(ctx, subj, newIndex(tampered), rev)
	fresh := open(t, 1, prefix, Options{})
	h, _, err := fresh.History(ctx, "acme", "r1", 10, "")
	if err != nil || len(h) != 5 || h[2].RequestedBy != "read-from-the-index" {
		t.Fatalf("history did not come from the index: %+v, %v", h, err)
	}
	s.saveIndex(ctx, subj, newIndex(entries), rev+1) // put the true one back

	// A record published past the index: read as a tail, index extended.
	late := recs[4]
	late.SnapshotID, late.PreviousHash = api.NewID(), recs[4].SHA256
	data, err = encodeRecord(late)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data}); err != nil {
		t.Fatal(err)
	}
	if h := agreesWithStream(t, prefix, "acme", "r1", Options{}); len(h) != 6 || h[0].SnapshotID != late.SnapshotID {
		t.Fatalf("history after a record the index missed: %s", ids(h))
	}
	if x, _ := s.loadIndex(ctx, subj); x == nil || x.count() != 6 {
		t.Fatalf("the reader did not extend the index: %+v", x)
	}

	// A removal in the middle: the counts disagree, the stream answers.
	if _, err := s.RemoveRecords(ctx, "acme", "r1", []string{recs[1].SnapshotID}); err != nil {
		t.Fatal(err)
	}
	if h := agreesWithStream(t, prefix, "acme", "r1", Options{}); len(h) != 5 || strings.Contains(ids(h), ids(recs[1:2])) {
		t.Fatalf("history after a removal: %s", ids(h))
	}

	// Values that do not open: skipped, reported, replaced.
	r2, _ := s.index.Get(ctx, "acme.r2")
	for i, forged := range [][]byte{[]byte("garbage"), r2.Value()} {
		if _, err := s.index.Put(ctx, "acme.r1", forged); err != nil {
			t.Fatal(err)
		}
		reader := open(t, 2, prefix, Options{})
		reader.SetLogger(slog.New(slog.NewTextHandler(logs, nil)))
		if h, _, err := reader.History(ctx, "acme", "r1", 10, ""); err != nil || len(h) != 5 {
			t.Fatalf("forged index %d: history %s, %v", i, ids(h), err)
		}
		if reader.Skipped() != 1 {
			t.Fatalf("forged index %d: %d skipped, want 1", i, reader.Skipped())
		}
		if x, _ := s.loadIndex(ctx, subj); x == nil || x.count() != 5 {
			t.Fatalf("forged index %d was not replaced: %+v", i, x)
		}
	}
	if n := strings.Count(logs.String(), "skipped a device index"); n != 2 {
		t.Fatalf("%d log lines for 2 forged indexes:\n%s", n, logs)
	}
}

// TestIndexFollowsThePerDeviceLimit: the stream drops a device's oldest
// records beyond HistoryPerDevice; the index drops the same ones and stays
// usable (a complete index: Find needs no full read).
func TestIndexFollowsThePerDeviceLimit(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	opts := Options{HistoryPerDevice: 3}
	s := open(t, 0, prefix, opts)
	recs := recordN(t, s, "acme", "r1", 7)
	x, _ := s.loadIndex(ctx, s.subject("acme", "r1"))
	if x == nil || x.count() != 3 || x.older != 0 {
		t.Fatalf("index after 7 records kept 3: %+v", x)
	}
	h := agreesWithStream(t, prefix, "acme", "r1", opts)
	if ids(h) != ids([]api.SnapshotRecord{recs[6], recs[5], recs[4]}) {
		t.Fatalf("history %s, want the newest 3", ids(h))
	}
	// A reader that did not know the limit still agrees: the counts differ,
	// so it reads the stream.
	agreesWithStream(t, prefix, "acme", "r1", Options{})
}

// TestIndexWindowOfALongHistory: a device with more records than an index
// holds is served from the index while a page fits in it, and read in
// full for what does not (an older page, a lookup by hash).
func TestIndexWindowOfALongHistory(t *testing.T) {
	defer func(n int) { indexMaxEntries = n }(indexMaxEntries)
	indexMaxEntries = 8
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, 0, prefix, Options{})
	recs := recordN(t, s, "acme", "r1", 20)
	x, _ := s.loadIndex(ctx, s.subject("acme", "r1"))
	if x == nil || x.count() != 8 || x.older != 12 {
		t.Fatalf("index of 20 records: %+v", x)
	}
	agreesWithStream(t, prefix, "acme", "r1", Options{})
	for _, tc := range []struct {
		limit  int
		before string
		want   []api.SnapshotRecord // oldest first
		more   bool
	}{
		{5, "", recs[15:], true},
		{10, "", recs[10:], true},
		{4, recs[14].SnapshotID, recs[10:14], true},
		{30, recs[3].SnapshotID, recs[:3], false},
	} {
		fresh := open(t, 1, prefix, Options{})
		h, more, err := fresh.History(ctx, "acme", "r1", tc.limit, tc.before)
		var want []api.SnapshotRecord
		for i := len(tc.want) - 1; i >= 0; i-- {
			want = append(want, tc.want[i])
		}
		if err != nil || ids(h) != ids(want) || more != tc.more {
			t.Fatalf("history limit %d before %q: %s more %v, %v; want %s more %v", tc.limit, tc.before, ids(h), more, err, ids(want), tc.more)
		}
	}
	// The oldest configuration is older than the window: found by a full read.
	fresh := open(t, 1, prefix, Options{})
	if f, err := fresh.Find(ctx, "acme", "r1", recs[0].SHA256[:12]); err != nil || f.SHA256 != recs[0].SHA256 {
		t.Fatalf("find %s: %+v, %v", recs[0].SHA256[:12], f, err)
	}
	if _, err := fresh.Find(ctx, "acme", "r1", strings.Repeat("0", 12)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("find of an unknown hash: %v", err)
	}
}

// TestDecodeIndexRefusesDamage: a sealed value cut, or opened for another
// subject, is an error, never a half-read index.
func TestDecodeIndexRefusesDamage(t *testing.T) {
	prefix := newPrefix()
	s := open(t, 0, prefix, Options{})
	var msgs []indexEntry
	for i := range 2*indexBlockEntries + 5 {
		e := indexEntry{seq: uint64(3 + 2*i)}
		if i%7 != 3 { // some messages were not records
			e.data = fmt.Appendf(nil, "record %d", i)
		}
		msgs = append(msgs, e)
	}
	x := newIndex(msgs)
	x.older = 2
	val, err := s.encodeIndex("p.history.a.b", x)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.decodeIndex("p.history.a.b", val)
	if err != nil || back.older != 2 || len(back.blocks) != 3 || back.last() != msgs[len(msgs)-1].seq {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	got, err := back.all()
	if err != nil || fmt.Sprint(got) != fmt.Sprint(msgs) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	// Dropping from the front (a per-device limit, the cap) and adding.
	if err := back.limit(uint64(len(msgs)) - 1); err != nil || back.older != 0 || back.count() != len(msgs)-1 {
		t.Fatalf("limit: older %d, %d entries, %v", back.older, back.count(), err)
	}
	if err := back.trimTo(indexBlockEntries + 1); err != nil || back.older != uint64(len(msgs)-2-indexBlockEntries) {
		t.Fatalf("trim: older %d, %v", back.older, err)
	}
	if err := back.add(indexEntry{seq: 1000, data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	got, _ = back.all()
	want := append(slices.Clone(msgs[len(msgs)-indexBlockEntries-1:]), indexEntry{seq: 1000, data: []byte("new")})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after trim and add: %v, want %v", got, want)
	}
	if _, err := s.decodeIndex("p.history.a.c", val); err == nil {
		t.Fatal("an index opened for another device")
	}
	for n := range len(val) {
		if _, err := s.decodeIndex("p.history.a.b", val[:n]); err == nil {
			t.Fatalf("an index cut at %d bytes opened", n)
		}
	}
}

// TestIndexAfterARekey: after `store seal --rekey-from`, every index is
// sealed under the old key; a store with the new key rebuilds them from the
// stream without reporting them as forged.
func TestIndexAfterARekey(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, 0, prefix, Options{})
	recordN(t, s, "acme", "r1", 3)
	rekeyed := store.NewKeys(filepath.Join(t.TempDir(), "content.key"), mustKey(t, testKeys))
	if _, err := rekeyed.Current(true); err != nil {
		t.Fatal(err)
	}
	r := open(t, 1, prefix, Options{Keys: rekeyed})
	if h, _, err := r.History(ctx, "acme", "r1", 10, ""); err != nil || len(h) != 3 {
		t.Fatalf("history under the new key: %d records, %v", len(h), err)
	}
	if r.Skipped() != 0 {
		t.Fatalf("%d reported after a rekey, want none", r.Skipped())
	}
	if x, _ := r.loadIndex(ctx, r.subject("acme", "r1")); x == nil || x.count() != 3 {
		t.Fatalf("the index was not rebuilt under the new key: %+v", x)
	}
}

func mustKey(t *testing.T, k *store.Keys) *seal.Key {
	t.Helper()
	key, err := k.Current(true)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestIndexWithADamagedBlock: a sealed index whose block does not
// decompress (a bug of some store, not an attacker: it is sealed) is not
// used; the stream answers and a good index replaces it.
func TestIndexWithADamagedBlock(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	s := open(t, 0, prefix, Options{})
	recordN(t, s, "acme", "r1", 4)
	subj := s.subject("acme", "r1")
	x, rev := s.loadIndex(ctx, subj)
	if x == nil {
		t.Fatal("no index")
	}
	x.blocks[0].packed = []byte("not s2 at all")
	s.saveIndex(ctx, subj, x, rev)
	if x, _ := s.loadIndex(ctx, subj); x == nil || x.blocks[0].decode() == nil {
		t.Fatal("the damaged index was not stored")
	}
	if h := agreesWithStream(t, prefix, "acme", "r1", Options{}); len(h) != 4 {
		t.Fatalf("history with a damaged index: %s", ids(h))
	}
	x, _ = s.loadIndex(ctx, subj)
	if _, err := x.all(); err != nil || x.count() != 4 {
		t.Fatalf("the damaged index was not replaced: %v", err)
	}
}

// TestIndexWritesPauseWhenRefused: a service user whose permissions predate
// the index bucket may not publish to it. Such a publish is not refused, it
// goes unanswered: records must not wait that out each time. They pause the
// index writes, say so once in the log, and reads still answer from the
// stream.
func TestIndexWritesPauseWhenRefused(t *testing.T) {
	dir := t.TempDir()
	c, err := natstest.NewWith(1, dir, func(_ int, o *server.Options) {
		o.Users = []*server.User{{Username: "svc", Password: "pw", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$KV.cfgsnap_index.>"}},
		}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	js, err := jetstream.New(c.Connect(t, c.URL(), nats.UserInfo("svc", "pw")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, js, Options{Prefix: "cfgsnap", Keys: testKeys})
	if err != nil {
		t.Fatal(err)
	}
	logs := &natstest.LogBuffer{}
	s.SetLogger(slog.New(slog.NewTextHandler(logs, nil)))
	start := time.Now()
	for i := range 5 { // a first record of each device writes its index
		recordN(t, s, "acme", fmt.Sprintf("r%d", i), 1)
	}
	recordN(t, s, "acme", "r1", 4)
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("9 records took %s: they waited for the refused index writes", d)
	}
	if n := strings.Count(logs.String(), "could not write a device index"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "$KV.cfgsnap_index.>") {
		t.Fatalf("the warning does not name the subjects to allow:\n%s", logs)
	}
	if h, _, err := s.History(ctx, "acme", "r1", 10, ""); err != nil || len(h) != 5 {
		t.Fatalf("history without an index: %d records, %v", len(h), err)
	}
}
