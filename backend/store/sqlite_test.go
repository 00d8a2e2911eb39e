package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

func openStore(t testing.TB, dir string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

func count(t testing.TB, s *SQLite, table string) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func record(t testing.TB, s *SQLite, tenant, device, content string) api.SnapshotRecord {
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

func TestRecordSetsChangedAndPreviousHash(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	a, b := "/system identity\nset name=r1\n", "/system identity\nset name=r1-new\n"

	first := record(t, s, "acme", "r1", a)
	if !first.Changed || first.PreviousHash != "" {
		t.Errorf("first backup: changed=%v previous=%q, want true and empty", first.Changed, first.PreviousHash)
	}
	if first.SHA256 != Sum([]byte(a)) || first.SizeBytes != int64(len(a)) {
		t.Errorf("first backup: sha=%s size=%d, want %s %d", first.SHA256, first.SizeBytes, Sum([]byte(a)), len(a))
	}
	if !validULID(first.SnapshotID) || first.NormalizationVersion != api.NormalizationVersion || first.CollectedAt.IsZero() {
		t.Errorf("first backup: id=%q normalization=%d collected=%v, want them filled in",
			first.SnapshotID, first.NormalizationVersion, first.CollectedAt)
	}

	same := record(t, s, "acme", "r1", a)
	if same.Changed || same.PreviousHash != first.SHA256 {
		t.Errorf("unchanged backup: changed=%v previous=%s, want false and %s", same.Changed, same.PreviousHash, first.SHA256)
	}
	if n := count(t, s, "contents"); n != 1 {
		t.Errorf("after an unchanged backup: %d content rows, want 1", n)
	}
	if n := count(t, s, "snapshots"); n != 2 {
		t.Errorf("after an unchanged backup: %d snapshot rows, want 2 (the check is still recorded)", n)
	}

	changed := record(t, s, "acme", "r1", b)
	if !changed.Changed || changed.PreviousHash != first.SHA256 {
		t.Errorf("changed backup: changed=%v previous=%s, want true and %s", changed.Changed, changed.PreviousHash, first.SHA256)
	}
	back := record(t, s, "acme", "r1", a)
	if !back.Changed || back.PreviousHash != changed.SHA256 {
		t.Errorf("backup reverting to an older config: changed=%v previous=%s, want true and %s", back.Changed, back.PreviousHash, changed.SHA256)
	}
	other := record(t, s, "globex", "r1", a)
	if !other.Changed || other.PreviousHash != "" {
		t.Errorf("another tenant's device with the same config: changed=%v previous=%q, want true and empty", other.Changed, other.PreviousHash)
	}
	if n := count(t, s, "contents"); n != 2 {
		t.Errorf("two distinct configs over five backups: %d content rows, want 2", n)
	}

	got, err := s.Latest(ctx, "acme", "r1")
	if err != nil || got == nil || *got != back {
		t.Fatalf("Latest = %+v, %v; want %+v", got, err, back)
	}
	if got, err := s.Latest(ctx, "acme", "nothing"); got != nil || err != nil {
		t.Errorf("Latest of a device without backups = %+v, %v; want nil, nil", got, err)
	}
}

func TestRecordKeepsCallerFields(t *testing.T) {
	s := openStore(t, t.TempDir())
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

func TestRecordRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	first := record(t, s, "acme", "r1", "a")
	for name, rec := range map[string]api.SnapshotRecord{
		"tenant with a dot":      {TenantID: "acme.x", DeviceID: "r1"},
		"empty device":           {TenantID: "acme", DeviceID: ""},
		"hash of other content":  {TenantID: "acme", DeviceID: "r1", SHA256: Sum([]byte("b"))},
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
	if n := count(t, s, "snapshots"); n != 1 {
		t.Errorf("rejected records were stored: %d rows, want 1", n)
	}
	if l, _ := s.Latest(ctx, "acme", "r1"); l == nil || *l != first {
		t.Errorf("latest changed by rejected records: %+v", l)
	}
}

func TestRecordWithGivenSnapshotID(t *testing.T) {
	s := openStore(t, t.TempDir())
	first := record(t, s, "acme", "r1", "a")
	next, ok := nextULID(first.SnapshotID)
	if !ok {
		t.Fatal("nextULID failed")
	}
	rec, err := s.Record(context.Background(), api.SnapshotRecord{TenantID: "acme", DeviceID: "r1", SnapshotID: next}, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.SnapshotID != next || rec.PreviousHash != first.SHA256 || rec.Changed {
		t.Errorf("record with a given id: %+v", rec)
	}
}

func TestNextULID(t *testing.T) {
	z := func(n int) string { return strings.Repeat("0", n) }
	for in, want := range map[string]string{
		"01JDQ" + z(21):                   "01JDQ" + z(20) + "1",
		"01JDQ" + z(20) + "Z":             "01JDQ" + z(19) + "10",
		"01JDQ" + strings.Repeat("Z", 21): "01JDR" + z(21),
	} {
		got, ok := nextULID(in)
		if !ok || got != want || got <= in {
			t.Errorf("nextULID(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
	if _, ok := nextULID("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"); ok {
		t.Error("nextULID of the largest ULID succeeded")
	}
	if _, ok := nextULID("not-an-id"); ok {
		t.Error("nextULID of garbage succeeded")
	}
}

func TestHistoryPagesNewestFirst(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	var want []string // newest first
	for i := range 7 {
		rec := record(t, s, "acme", "r1", fmt.Sprintf("config %d", i%3))
		want = append([]string{rec.SnapshotID}, want...)
	}
	record(t, s, "acme", "r2", "other device")

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
		p := Sum([]byte(c))[:n]
		if other, ok := seen[p]; ok {
			return other, c
		}
		seen[p] = c
	}
	t.Fatalf("no two contents share a %d-digit hash prefix", n)
	return "", ""
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	x, y := collidingContents(t, MinPrefix)
	rx1 := record(t, s, "acme", "r1", x)
	ry := record(t, s, "acme", "r1", y)
	rx2 := record(t, s, "acme", "r1", x) // newest record of hash x
	unique := record(t, s, "acme", "r1", "unique config")
	record(t, s, "globex", "r9", "globex only")
	if rx1.SHA256[:MinPrefix] != ry.SHA256[:MinPrefix] {
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
	} {
		got, err := s.Find(ctx, "acme", "r1", tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("%s: Find(%q) = %s, %v; want %s", tc.name, tc.ref, got.SnapshotID, err, tc.want.SnapshotID)
		}
	}

	_, err := s.Find(ctx, "acme", "r1", rx1.SHA256[:MinPrefix])
	if !errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrNotFound) {
		t.Errorf("ambiguous prefix: err = %v, want ErrAmbiguous", err)
	} else if !strings.Contains(err.Error(), rx1.SHA256) || !strings.Contains(err.Error(), ry.SHA256) {
		t.Errorf("ambiguous prefix: %q does not list both candidates", err)
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
	} {
		_, err := s.Find(ctx, tc.tenant, tc.device, tc.ref)
		if !errors.Is(err, ErrNotFound) || api.KindOf(err) != api.KindNotFound {
			t.Errorf("%s: err = %v, want ErrNotFound of kind not_found", name, err)
		}
	}
	for name, ref := range map[string]string{
		"6-digit prefix": unique.SHA256[:6], "not hex": "zzzzzzzz", "empty": "", "too long": unique.SHA256 + "0",
	} {
		_, err := s.Find(ctx, "acme", "r1", ref)
		if api.KindOf(err) != api.KindBadRequest || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: err = %v, want bad_request", name, err)
		}
	}
}

// exportText returns about size bytes of RouterOS-like configuration.
func exportText(size int) []byte {
	var b strings.Builder
	b.WriteString("# 2026-11-28 10:15:02 by RouterOS 7.16\n/ip firewall address-list\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "add address=10.%d.%d.%d/32 comment=\"customer %d\" list=allowed\n", i>>16&255, i>>8&255, i&255, i*7919%100000)
	}
	return []byte(b.String())
}

func TestContentRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	big := exportText(4 << 20)
	rec, err := s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "r1"}, big)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Content(ctx, strings.ToUpper(rec.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(big) || Sum(got) != rec.SHA256 {
		t.Fatalf("content round trip: got %d bytes (sha %s), stored %d (sha %s)", len(got), Sum(got), len(big), rec.SHA256)
	}
	var stored int
	if err := s.DB().QueryRow("SELECT length(data) FROM contents").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored >= len(big)/2 {
		t.Errorf("4 MB export stored as %d bytes; want it compressed", stored)
	}

	if _, err := s.Content(ctx, Sum([]byte("never stored"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown content: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Content(ctx, "abc"); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("malformed hash: err = %v, want bad_request", err)
	}
}

func TestContentDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	rec := record(t, s, "acme", "r1", "/system identity\nset name=r1\n")
	other, err := compress([]byte("/system identity\nset name=r2\n")) // same length, other bytes
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"valid stream of other content": other,
		"garbage":                       []byte("not deflate at all"),
		"truncated":                     other[:len(other)/2],
	} {
		if _, err := s.DB().Exec("UPDATE contents SET data = ? WHERE sha256 = ?", data, rec.SHA256); err != nil {
			t.Fatal(err)
		}
		_, err := s.Content(ctx, rec.SHA256)
		if err == nil || api.KindOf(err) != api.KindStorage || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s: err = %v, want a storage error saying corrupt", name, err)
		}
	}
}

func TestLatestAll(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	want := map[DeviceKey]api.SnapshotRecord{}
	for _, k := range []DeviceKey{{"acme", "r1"}, {"acme", "r2"}, {"globex", "r1"}, {"globex", "sw-9"}} {
		for i := range 3 {
			want[k] = record(t, s, k.Tenant, k.Device, fmt.Sprintf("%s %d", k, i%2))
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
	if len(acme) != 2 || acme[DeviceKey{"acme", "r1"}] != want[DeviceKey{"acme", "r1"}] || acme[DeviceKey{"acme", "r2"}] != want[DeviceKey{"acme", "r2"}] {
		t.Errorf("LatestAll(acme) = %v", acme)
	}
	if none, err := s.LatestAll(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Errorf("LatestAll(nobody) = %v, %v", none, err)
	}
}

func TestLastErrors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
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
	if len(acme) != 1 || acme[DeviceKey{"acme", "r1"}] != e1 {
		t.Errorf("LastErrors(acme) = %+v, want only %+v", acme, e1)
	}
	all, err := s.LastErrors(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if g := all[DeviceKey{"globex", "r1"}]; len(all) != 2 || g.Kind != api.KindAuthFailed || time.Since(g.At) > time.Minute {
		t.Errorf("LastErrors(\"\") = %+v; want 2 entries, globex's with the time filled in", all)
	}

	e2 := api.DeviceError{Kind: api.KindHostKeyMismatch, Error: "host key changed", At: at.Add(time.Hour)}
	if err := s.SetLastError(ctx, "acme", "r1", &e2); err != nil {
		t.Fatal(err)
	}
	if acme, _ := s.LastErrors(ctx, "acme"); acme[DeviceKey{"acme", "r1"}] != e2 {
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

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1, err := OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, s1, "acme", "r1", "a")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir)
	if l, err := s2.Latest(ctx, "acme", "r1"); err != nil || l == nil || *l != rec {
		t.Errorf("after reopening: Latest = %+v, %v; want %+v", l, err, rec)
	}
	if v, err := userVersion(ctx, s2.DB()); err != nil || v != len(migrations) {
		t.Errorf("user_version = %d, %v; want %d", v, err, len(migrations))
	}

	// Many openers of a fresh directory at once: each migration runs once
	// and every opener gets a working store.
	fresh := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			s, err := OpenSQLite(ctx, fresh)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			_, err = s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: fmt.Sprintf("r%d", i)}, []byte("x"))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent open and record: %v", err)
		}
	}
	s3 := openStore(t, fresh)
	if n := count(t, s3, "snapshots"); n != 8 {
		t.Errorf("concurrent openers recorded %d snapshots, want 8", n)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := s.DB().Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	_, err := OpenSQLite(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "upgrade cfgsnap") {
		t.Errorf("opening a newer schema: err = %v, want a message telling to upgrade", err)
	}
}

func TestOpenRejectsBadDir(t *testing.T) {
	if _, err := OpenSQLite(context.Background(), ""); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("empty dir: err = %v, want bad_request", err)
	}
	s := openStore(t, t.TempDir())
	if _, err := OpenSQLite(context.Background(), s.Path()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("dir is a file: err = %v", err)
	}
}

// The DSN is a URI: a data dir with spaces or URI characters must still be
// opened at its literal path.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "on call ?#%20 data")
	s := openStore(t, dir)
	record(t, s, "acme", "r1", "x")
	var seq int
	var name, file string
	if err := s.DB().QueryRow("PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, DBFile); file != want {
		t.Errorf("SQLite opened %q, want %q", file, want)
	}
	if _, err := os.Stat(filepath.Join(dir, DBFile+"-wal")); err != nil {
		t.Errorf("no WAL beside the database at the literal path: %v", err)
	}
}
