// Package storetest is the contract of store.Store as a test suite: the
// SQLite store of one machine and the JetStream store of a cluster run the
// same tests, so the pipeline, the service and the clients get the same
// behaviour from either.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Backend is the store under test and what the suite cannot ask through
// store.Store.
type Backend struct {
	// Open returns an empty store, closed when t ends.
	Open func(t *testing.T) store.Store
	// Contents counts the distinct contents stored in s, to check that a
	// configuration is stored once however often it is recorded.
	Contents func(t *testing.T, s store.Store) int
	// Shared, when set, opens another store on the same data as s (another
	// process on the data dir, another worker on another node). When nil,
	// the concurrency test shares s itself.
	Shared func(t *testing.T, s store.Store) store.Store

	// Sealing at rest (issue 11):
	// Reopen opens another store on the data of s that seals and opens
	// content with keys, as a process given another --content-key-file.
	Reopen func(t *testing.T, s store.Store, keys *store.Keys) store.Store
	// KeyFile is the content key file s seals with.
	KeyFile func(t *testing.T, s store.Store) string
	// DataDirs are the directories that hold the data of s at rest
	// (database and WAL; the JetStream store dirs of its streams).
	DataDirs func(t *testing.T, s store.Store) []string
	// Raw returns the stored bytes of the content sum, as kept at rest.
	Raw func(t *testing.T, s store.Store, sum string) []byte
	// PutLegacy stores content under sum as cfgsnap did before sealing.
	PutLegacy func(t *testing.T, s store.Store, sum string, content []byte)
	// ScrubsOnSeal says that SealAll leaves no copy of what it sealed on
	// disk (SQLite vacuums; JetStream keeps deleted messages in its
	// blocks until it compacts them).
	ScrubsOnSeal bool
}

// Run runs the contract suite against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		f    func(*testing.T, Backend)
	}{
		{"RecordSetsChangedAndPreviousHash", testRecordSetsChangedAndPreviousHash},
		{"RecordKeepsCallerFields", testRecordKeepsCallerFields},
		{"RecordRejectsBadInput", testRecordRejectsBadInput},
		{"RecordWithGivenSnapshotID", testRecordWithGivenSnapshotID},
		{"HistoryPagesNewestFirst", testHistoryPagesNewestFirst},
		{"Find", testFind},
		{"ContentRoundTrip", testContentRoundTrip},
		{"LatestAll", testLatestAll},
		{"LastErrors", testLastErrors},
		{"ConcurrentWriters", testConcurrentWriters},
	}
	tests = append(tests, sealTests...)
	tests = append(tests, retentionTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, b) })
	}
}

// Record stores content for tenant/device as a manual backup would.
func Record(t testing.TB, s store.Store, tenant, device, content string) api.SnapshotRecord {
	t.Helper()
	rec, err := s.Record(context.Background(), api.SnapshotRecord{
		TenantID: tenant, DeviceID: device, Trigger: api.TriggerManual, RequestedBy: "ops@jump1",
		RouterOSVersion: "7.16", DurationMS: 412,
	}, []byte(content))
	if err != nil {
		t.Fatalf("Record %s/%s: %v", tenant, device, err)
	}
	return rec
}

// all returns the whole history of a device, oldest first.
func all(t testing.TB, s store.Store, tenant, device string) []api.SnapshotRecord {
	t.Helper()
	recs, more, err := s.History(context.Background(), tenant, device, store.MaxHistoryLimit, "")
	if err != nil || more {
		t.Fatalf("History of %s/%s: more=%v err=%v", tenant, device, more, err)
	}
	slices.Reverse(recs)
	return recs
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// validULID reports whether id looks like api.NewID's IDs.
func validULID(id string) bool {
	if len(id) != 26 || id[0] > '7' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune(crockford, rune(id[i])) {
			return false
		}
	}
	return true
}

// nextULID is the smallest ULID after id (whose last digit is not the last
// of the alphabet, which holds for IDs the suite uses).
func nextULID(id string) string {
	last := strings.IndexByte(crockford, id[len(id)-1])
	if last == len(crockford)-1 {
		return id[:len(id)-2] + string(crockford[strings.IndexByte(crockford, id[len(id)-2])+1]) + "0"
	}
	return id[:len(id)-1] + string(crockford[last+1])
}

func testRecordSetsChangedAndPreviousHash(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	a, c := "/system identity\nset name=r1\n", "/system identity\nset name=r1-new\n"

	first := Record(t, s, "acme", "r1", a)
	if !first.Changed || first.PreviousHash != "" {
		t.Errorf("first backup: changed=%v previous=%q, want true and empty", first.Changed, first.PreviousHash)
	}
	if first.SHA256 != store.Sum([]byte(a)) || first.SizeBytes != int64(len(a)) {
		t.Errorf("first backup: sha=%s size=%d, want %s %d", first.SHA256, first.SizeBytes, store.Sum([]byte(a)), len(a))
	}
	if !validULID(first.SnapshotID) || first.NormalizationVersion != api.NormalizationVersion || first.CollectedAt.IsZero() {
		t.Errorf("first backup: id=%q normalization=%d collected=%v, want them filled in",
			first.SnapshotID, first.NormalizationVersion, first.CollectedAt)
	}

	same := Record(t, s, "acme", "r1", a)
	if same.Changed || same.PreviousHash != first.SHA256 {
		t.Errorf("unchanged backup: changed=%v previous=%s, want false and %s", same.Changed, same.PreviousHash, first.SHA256)
	}
	if n := b.Contents(t, s); n != 1 {
		t.Errorf("after an unchanged backup: %d contents, want 1", n)
	}
	if n := len(all(t, s, "acme", "r1")); n != 2 {
		t.Errorf("after an unchanged backup: %d records, want 2 (the check is still recorded)", n)
	}

	changed := Record(t, s, "acme", "r1", c)
	if !changed.Changed || changed.PreviousHash != first.SHA256 {
		t.Errorf("changed backup: changed=%v previous=%s, want true and %s", changed.Changed, changed.PreviousHash, first.SHA256)
	}
	back := Record(t, s, "acme", "r1", a)
	if !back.Changed || back.PreviousHash != changed.SHA256 {
		t.Errorf("backup reverting to an older config: changed=%v previous=%s, want true and %s", back.Changed, back.PreviousHash, changed.SHA256)
	}
	other := Record(t, s, "globex", "r1", a)
	if !other.Changed || other.PreviousHash != "" {
		t.Errorf("another tenant's device with the same config: changed=%v previous=%q, want true and empty", other.Changed, other.PreviousHash)
	}
	if n := b.Contents(t, s); n != 2 {
		t.Errorf("two distinct configs over five backups: %d contents, want 2", n)
	}

	got, err := s.Latest(ctx, "acme", "r1")
	if err != nil || got == nil || *got != back {
		t.Fatalf("Latest = %+v, %v; want %+v", got, err, back)
	}
	if got, err := s.Latest(ctx, "acme", "nothing"); got != nil || err != nil {
		t.Errorf("Latest of a device without backups = %+v, %v; want nil, nil", got, err)
	}
}

func testRecordKeepsCallerFields(t *testing.T, b Backend) {
	s := b.Open(t)
	at := time.Date(2026, 11, 28, 10, 15, 2, 123456789, time.FixedZone("CET", 3600))
	in := api.SnapshotRecord{
		TenantID: "acme", DeviceID: "core-rtr-1", CollectedAt: at, Trigger: api.TriggerScheduled,
		RequestedBy: "scheduler", Reason: "nightly", RouterOSVersion: "7.15.2", NormalizationVersion: 3,
		DurationMS: 999, SizeBytes: 1, Changed: false, PreviousHash: "bogus",
	}
	rec, err := s.Record(context.Background(), in, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Find(context.Background(), "acme", "core-rtr-1", "latest")
	if err != nil {
		t.Fatal(err)
	}
	if got != rec {
		t.Errorf("stored %+v, read back %+v", rec, got)
	}
	if !got.CollectedAt.Equal(at) || got.Trigger != api.TriggerScheduled || got.Reason != "nightly" ||
		got.NormalizationVersion != 3 || got.DurationMS != 999 || got.RouterOSVersion != "7.15.2" || got.RequestedBy != "scheduler" {
		t.Errorf("caller's fields not kept: %+v", got)
	}
	if got.SizeBytes != 1 || !got.Changed || got.PreviousHash != "" {
		t.Errorf("size/changed/previous not computed by the store: %+v", got)
	}
}

func testRecordRejectsBadInput(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	first := Record(t, s, "acme", "r1", "a")
	for name, rec := range map[string]api.SnapshotRecord{
		"tenant with a dot":      {TenantID: "acme.x", DeviceID: "r1"},
		"tenant with a wildcard": {TenantID: "acme", DeviceID: "*"},
		"empty device":           {TenantID: "acme", DeviceID: ""},
		"hash of other content":  {TenantID: "acme", DeviceID: "r1", SHA256: store.Sum([]byte("b"))},
		"snapshot id not a ULID": {TenantID: "acme", DeviceID: "r1", SnapshotID: "snap-1"},
		"snapshot id older than latest": {TenantID: "acme", DeviceID: "r1",
			SnapshotID: strings.Repeat("0", 26)},
		"collected before 1970": {TenantID: "acme", DeviceID: "r1", CollectedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
	} {
		_, err := s.Record(ctx, rec, []byte("a"))
		if api.KindOf(err) != api.KindBadRequest {
			t.Errorf("%s: err = %v (kind %s), want bad_request", name, err, api.KindOf(err))
		}
	}
	if n := len(all(t, s, "acme", "r1")); n != 1 {
		t.Errorf("rejected records were stored: %d records, want 1", n)
	}
	if l, _ := s.Latest(ctx, "acme", "r1"); l == nil || *l != first {
		t.Errorf("latest changed by rejected records: %+v", l)
	}
	if all, err := s.LatestAll(ctx, ""); err != nil || len(all) != 1 {
		t.Errorf("rejected records created devices: LatestAll = %v, %v", all, err)
	}
}

func testRecordWithGivenSnapshotID(t *testing.T, b Backend) {
	s := b.Open(t)
	first := Record(t, s, "acme", "r1", "a")
	next := nextULID(first.SnapshotID)
	rec, err := s.Record(context.Background(), api.SnapshotRecord{TenantID: "acme", DeviceID: "r1", SnapshotID: next}, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.SnapshotID != next || rec.PreviousHash != first.SHA256 || rec.Changed {
		t.Errorf("record with a given id: %+v", rec)
	}
}

func testHistoryPagesNewestFirst(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	var want []string // newest first
	for i := range 7 {
		rec := Record(t, s, "acme", "r1", fmt.Sprintf("config %d", i%3))
		want = append([]string{rec.SnapshotID}, want...)
	}
	Record(t, s, "acme", "r2", "other device")

	var got []string
	before := ""
	for page := 1; ; page++ {
		recs, more, err := s.History(ctx, "acme", "r1", 3, before)
		if err != nil {
			t.Fatal(err)
		}
		if wantMore := page < 3; more != wantMore {
			t.Errorf("page %d: more=%v, want %v", page, more, wantMore)
		}
		for _, r := range recs {
			if r.DeviceID != "r1" {
				t.Errorf("page %d holds a record of %s", page, r.DeviceID)
			}
			got = append(got, r.SnapshotID)
		}
		if !more || page > 5 {
			break
		}
		before = recs[len(recs)-1].SnapshotID
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paged history:\n got %v\nwant %v", got, want)
	}

	all, more, err := s.History(ctx, "acme", "r1", 0, "")
	if err != nil || more || len(all) != 7 {
		t.Errorf("History with default limit: %d records, more=%v, err=%v; want 7, false", len(all), more, err)
	}
	none, more, err := s.History(ctx, "acme", "nothing", 10, "")
	if err != nil || more || len(none) != 0 {
		t.Errorf("History of an unknown device: %d, %v, %v", len(none), more, err)
	}
}

// collidingContents returns two contents whose sha256s share their first n
// hex digits, found by the birthday paradox (about 16^(n/2) tries).
func collidingContents(t *testing.T, n int) (string, string) {
	t.Helper()
	seen := make(map[string]string)
	for i := range 2_000_000 {
		c := fmt.Sprintf("/system identity\nset name=r%d\n", i)
		p := store.Sum([]byte(c))[:n]
		if other, ok := seen[p]; ok {
			return other, c
		}
		seen[p] = c
	}
	t.Fatalf("no two contents share a %d-digit hash prefix", n)
	return "", ""
}

func testFind(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	x, y := collidingContents(t, store.MinPrefix)
	rx1 := Record(t, s, "acme", "r1", x)
	ry := Record(t, s, "acme", "r1", y)
	rx2 := Record(t, s, "acme", "r1", x) // newest record of hash x
	unique := Record(t, s, "acme", "r1", "unique config")
	Record(t, s, "globex", "r9", "globex only")
	if rx1.SHA256[:store.MinPrefix] != ry.SHA256[:store.MinPrefix] {
		t.Fatalf("test setup: %s and %s do not share a prefix", rx1.SHA256, ry.SHA256)
	}

	for _, tc := range []struct {
		name, ref string
		want      api.SnapshotRecord
	}{
		{"latest", "latest", unique},
		{"full hash, newest record with it", rx1.SHA256, rx2},
		{"upper-case hash", strings.ToUpper(ry.SHA256), ry},
		{"unique 7-digit prefix", unique.SHA256[:7], unique},
		{"prefix long enough to disambiguate", rx1.SHA256[:20], rx2},
		{"snapshot ID: that record, not the newest with its hash", rx1.SnapshotID, rx1},
		{"snapshot ID of the latest", unique.SnapshotID, unique},
	} {
		got, err := s.Find(ctx, "acme", "r1", tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("%s: Find(%q) = %s, %v; want %s", tc.name, tc.ref, got.SnapshotID, err, tc.want.SnapshotID)
		}
	}

	_, err := s.Find(ctx, "acme", "r1", rx1.SHA256[:store.MinPrefix])
	if !errors.Is(err, store.ErrAmbiguous) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("ambiguous prefix: err = %v, want ErrAmbiguous", err)
	} else if !strings.Contains(err.Error(), rx1.SHA256) || !strings.Contains(err.Error(), ry.SHA256) {
		t.Errorf("ambiguous prefix: %q does not list both candidates", err)
	} else if strings.Index(err.Error(), rx1.SHA256) > strings.Index(err.Error(), ry.SHA256) {
		t.Errorf("ambiguous prefix: %q does not list the most recently seen hash first", err)
	}

	globex, err := s.Find(ctx, "globex", "r9", "latest")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ tenant, device, ref string }{
		"unknown hash":                   {"acme", "r1", strings.Repeat("0", 64)},
		"unknown prefix":                 {"acme", "r1", "0000000"},
		"another tenant's snapshot":      {"acme", "r1", globex.SHA256},
		"latest of a device without any": {"acme", "r7", "latest"},
		"another device's snapshot ID":   {"acme", "r1", globex.SnapshotID},
		"an unknown snapshot ID":         {"acme", "r1", api.NewID()},
	} {
		_, err := s.Find(ctx, tc.tenant, tc.device, tc.ref)
		if !errors.Is(err, store.ErrNotFound) || api.KindOf(err) != api.KindNotFound {
			t.Errorf("%s: err = %v, want ErrNotFound of kind not_found", name, err)
		}
	}
	for name, ref := range map[string]string{
		"6-digit prefix": unique.SHA256[:6], "not hex": "zzzzzzzz", "empty": "", "too long": unique.SHA256 + "0",
	} {
		_, err := s.Find(ctx, "acme", "r1", ref)
		if api.KindOf(err) != api.KindBadRequest || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want bad_request", name, err)
		}
	}
}

// ExportText returns about size bytes of RouterOS-like configuration.
func ExportText(size int) []byte {
	var b strings.Builder
	b.WriteString("# 2026-11-28 10:15:02 by RouterOS 7.16\n/ip firewall address-list\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "add address=10.%d.%d.%d/32 comment=\"customer %d\" list=allowed\n", i>>16&255, i>>8&255, i&255, i*7919%100000)
	}
	return []byte(b.String())
}

func testContentRoundTrip(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	big := ExportText(4 << 20) // larger than a NATS message
	rec, err := s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "r1"}, big)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Content(ctx, strings.ToUpper(rec.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(big) || store.Sum(got) != rec.SHA256 {
		t.Fatalf("content round trip: got %d bytes (sha %s), stored %d (sha %s)", len(got), store.Sum(got), len(big), rec.SHA256)
	}
	if _, err := s.Content(ctx, store.Sum([]byte("never stored"))); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown content: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Content(ctx, "abc"); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("malformed hash: err = %v, want bad_request", err)
	}
}

func testLatestAll(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	want := map[store.DeviceKey]api.SnapshotRecord{}
	for _, k := range []store.DeviceKey{{Tenant: "acme", Device: "r1"}, {Tenant: "acme", Device: "r2"},
		{Tenant: "globex", Device: "r1"}, {Tenant: "globex", Device: "sw-9"}} {
		for i := range 3 {
			want[k] = Record(t, s, k.Tenant, k.Device, fmt.Sprintf("%s %d", k, i%2))
		}
	}
	all, err := s.LatestAll(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Errorf("LatestAll(\"\") has %d devices, want %d", len(all), len(want))
	}
	for k, w := range want {
		if all[k] != w {
			t.Errorf("LatestAll(\"\")[%s] = %s, want %s", k, all[k].SnapshotID, w.SnapshotID)
		}
	}
	acme, err := s.LatestAll(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := store.DeviceKey{Tenant: "acme", Device: "r1"}, store.DeviceKey{Tenant: "acme", Device: "r2"}
	if len(acme) != 2 || acme[r1] != want[r1] || acme[r2] != want[r2] {
		t.Errorf("LatestAll(acme) = %v", acme)
	}
	if none, err := s.LatestAll(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Errorf("LatestAll(nobody) = %v, %v", none, err)
	}
}

func testLastErrors(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	at := time.Date(2026, 11, 28, 10, 15, 2, 0, time.UTC)
	e1 := api.DeviceError{Kind: api.KindTimeout, Error: "connect 10.0.0.1:22: timed out after 10s", At: at}
	if err := s.SetLastError(ctx, "acme", "r1", &e1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLastError(ctx, "globex", "r1", &api.DeviceError{Kind: api.KindAuthFailed, Error: "password rejected"}); err != nil {
		t.Fatal(err)
	}
	acme, err := s.LastErrors(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	r1 := store.DeviceKey{Tenant: "acme", Device: "r1"}
	if len(acme) != 1 || acme[r1] != e1 {
		t.Errorf("LastErrors(acme) = %+v, want only %+v", acme, e1)
	}
	all, err := s.LastErrors(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if g := all[store.DeviceKey{Tenant: "globex", Device: "r1"}]; len(all) != 2 || g.Kind != api.KindAuthFailed || time.Since(g.At) > time.Minute {
		t.Errorf("LastErrors(\"\") = %+v; want 2 entries, globex's with the time filled in", all)
	}

	e2 := api.DeviceError{Kind: api.KindHostKeyMismatch, Error: "host key changed", At: at.Add(time.Hour)}
	if err := s.SetLastError(ctx, "acme", "r1", &e2); err != nil {
		t.Fatal(err)
	}
	if acme, _ := s.LastErrors(ctx, "acme"); acme[r1] != e2 {
		t.Errorf("after overwrite: %+v, want %+v", acme, e2)
	}
	if err := s.SetLastError(ctx, "acme", "r1", nil); err != nil {
		t.Fatal(err)
	}
	if acme, _ := s.LastErrors(ctx, "acme"); len(acme) != 0 {
		t.Errorf("after clear: %+v, want none", acme)
	}
	if err := s.SetLastError(ctx, "acme", "r1", nil); err != nil {
		t.Errorf("clearing twice: %v", err)
	}
	if err := s.SetLastError(ctx, "a.b", "r1", &e1); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("invalid tenant: err = %v, want bad_request", err)
	}
}

// Bounds of the concurrency test: every writer records concurrentRecords
// snapshots over concurrentDevices shared devices.
const (
	concurrentWriters  = 4
	concurrentRecords  = 12
	concurrentDevices  = 2
	concurrentContents = 2
)

// testConcurrentWriters has several writers (other processes or workers
// when the backend can open them) record the same devices at once: no write
// may fail, and every device's history must be one consistent chain, each
// record's previous hash being its predecessor's hash.
func testConcurrentWriters(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	stores := []store.Store{s}
	for len(stores) < concurrentWriters {
		if b.Shared != nil {
			stores = append(stores, b.Shared(t, s))
		} else {
			stores = append(stores, s)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, concurrentWriters*concurrentRecords)
	start := make(chan struct{})
	for w, ws := range stores {
		wg.Go(func() {
			<-start
			for i := range concurrentRecords {
				rec := api.SnapshotRecord{TenantID: "acme", DeviceID: fmt.Sprintf("d%d", i%concurrentDevices), RequestedBy: fmt.Sprintf("w%d", w)}
				content := fmt.Sprintf("config %d", i/concurrentDevices%concurrentContents)
				if _, err := ws.Record(ctx, rec, []byte(content)); err != nil {
					errs <- fmt.Errorf("writer %d record %d: %w", w, i, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for d := range concurrentDevices {
		device := fmt.Sprintf("d%d", d)
		recs := all(t, s, "acme", device)
		total += len(recs)
		for i, r := range recs {
			prev := ""
			if i > 0 {
				prev = recs[i-1].SHA256
				if r.SnapshotID <= recs[i-1].SnapshotID {
					t.Errorf("%s record %d has id %s, not after %s", device, i, r.SnapshotID, recs[i-1].SnapshotID)
				}
			}
			if r.PreviousHash != prev || r.Changed != (r.SHA256 != prev) {
				t.Errorf("%s record %d (%s by %s): previous=%.8s changed=%v, but the record before it has hash %.8s",
					device, i, r.SnapshotID, r.RequestedBy, r.PreviousHash, r.Changed, prev)
			}
		}
		latest, err := s.Latest(ctx, "acme", device)
		if err != nil || latest == nil || *latest != recs[len(recs)-1] {
			t.Errorf("latest of %s = %+v, %v; want the newest of its history", device, latest, err)
		}
	}
	if want := concurrentWriters * concurrentRecords; total != want {
		t.Errorf("stored %d records, want %d", total, want)
	}
	if n := b.Contents(t, s); n != concurrentContents {
		t.Errorf("%d contents, want %d (one per distinct config)", n, concurrentContents)
	}
}
