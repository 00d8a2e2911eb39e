package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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

// exportText returns about size bytes of RouterOS-like configuration.
func exportText(size int) []byte {
	var b strings.Builder
	b.WriteString("# 2026-11-28 10:15:02 by RouterOS 7.16\n/ip firewall address-list\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "add address=10.%d.%d.%d/32 comment=\"customer %d\" list=allowed\n", i>>16&255, i>>8&255, i&255, i*7919%100000)
	}
	return []byte(b.String())
}

// The contents table holds deflate streams: a 4 MB export takes far less.
func TestContentIsCompressed(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	big := exportText(4 << 20)
	rec, err := s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "r1"}, big)
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := s.DB().QueryRow("SELECT length(data) FROM contents WHERE sha256 = ?", rec.SHA256).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored >= len(big)/2 {
		t.Errorf("4 MB export stored as %d bytes; want it compressed", stored)
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

// IsBusy reads SQLite's result code: a real lock conflict between two
// connections is busy, a syntax error and an error that merely says
// "database is locked" are not.
func TestIsBusyByCode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	ctx := context.Background()
	if _, err := a.ExecContext(ctx, "CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	ca, err := a.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if _, err := ca.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, err = b.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	if err == nil || !IsBusy(err) {
		t.Fatalf("a write while another connection holds the write lock: %v, IsBusy false", err)
	}
	if !IsBusy(fmt.Errorf("store: %w", err)) {
		t.Error("a wrapped busy error is not busy")
	}
	if _, err := ca.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	_, err = b.ExecContext(ctx, "SELEKT 1")
	if err == nil || IsBusy(err) {
		t.Errorf("a syntax error: %v, IsBusy true", err)
	}
	if IsBusy(errors.New("database is locked")) {
		t.Error("an error is busy by its text alone")
	}
}
