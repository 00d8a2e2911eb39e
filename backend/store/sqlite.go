package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/seal"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// DBFile is the name of the database in the data directory.
const DBFile = "cfgsnap.db"

// dsnParams make every connection safe to share the file with other
// processes: writers wait up to 10 s for each other instead of failing with
// "database is locked", readers never block writers (WAL), and every
// transaction begins IMMEDIATE so a read-modify-write never has to upgrade
// its lock (an upgrade cannot wait, it fails with SQLITE_BUSY).
const dsnParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// SQLite is the Store of one machine: a SQLite database in the data
// directory, shared safely by every cfgsnap process using that directory.
type SQLite struct {
	db   *sql.DB
	path string
	keys *Keys
}

// SQLiteOption changes how OpenSQLite opens the store.
type SQLiteOption func(*SQLite)

// WithKeys seals content under keys instead of the data directory's
// content.key (--content-key-file, rotation).
func WithKeys(k *Keys) SQLiteOption { return func(s *SQLite) { s.keys = k } }

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating when missing) the store in dir and brings its
// schema up to date. The directory is created 0700 and the database file
// 0600, whatever the umask, because snapshots may hold secrets
// (show-sensitive exports); an existing database file loses any group or
// other access, an existing directory is left as it is. Content is sealed
// under DIR/content.key (created on the first write) unless WithKeys says
// otherwise.
func OpenSQLite(ctx context.Context, dir string, opts ...SQLiteOption) (*SQLite, error) {
	if dir == "" {
		return nil, api.Errorf(api.KindBadRequest, "open store: no data directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "open store")
	}
	if err := ensureDir(abs); err != nil {
		return nil, api.Wrap(api.KindStorage, err, "open store")
	}
	path := filepath.Join(abs, DBFile)
	if err := ensureFile(path); err != nil {
		return nil, api.Wrap(api.KindStorage, err, "open store")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: dsnParams}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "open store "+path)
	}
	db.SetConnMaxIdleTime(time.Minute)
	if err := openRetry(ctx, func() error { return migrate(ctx, db) }); err != nil {
		db.Close()
		return nil, api.Wrap(api.KindStorage, err, "open store "+path)
	}
	s := &SQLite{db: db, path: path}
	for _, o := range opts {
		o(s)
	}
	if s.keys == nil {
		s.keys = NewKeys(KeyFileIn(abs))
	}
	return s, nil
}

// Keys returns the content keys the store seals and opens with.
func (s *SQLite) Keys() *Keys { return s.keys }

// openRetry retries fn while SQLite reports the database busy. The busy
// timeout does not cover a connection's first statements on a new database
// (switching it to WAL needs a lock no handler waits for), so several
// processes opening one fresh data dir at once would otherwise fail.
func openRetry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(15 * time.Second)
	wait := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil || !IsBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// IsBusy reports whether err is SQLite's "database is locked": the primary
// result code SQLITE_BUSY, under any of its extended codes (SQLITE_BUSY_
// RECOVERY, _SNAPSHOT, _TIMEOUT), read from the driver's error rather than
// its text.
func IsBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// DB returns the database, which the lock package shares.
func (s *SQLite) DB() *sql.DB { return s.db }

// Path returns the database file's path.
func (s *SQLite) Path() string { return s.path }

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		// The user chose it (it may be their home); its files are 0600.
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// MkdirAll's mode passes through the umask; set it exactly.
	return os.Chmod(dir, 0o700)
}

// ensureFile creates the database file 0600 before SQLite does, because
// SQLite creates it with 0644 minus the umask and then gives the -wal and
// -shm files the database file's mode.
//
// The file is opened only when this call creates it: closing any descriptor
// of a database file drops every POSIX lock this process holds on it, so
// opening and closing a file another connection of this process is using
// would silently unlock that connection's transaction.
func ensureFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		err = f.Chmod(0o600)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := tighten(p); err != nil {
			return err
		}
	}
	return nil
}

// tighten removes group and other access from path, if it exists.
func tighten(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		if err := os.Chmod(path, m&^0o077); err != nil {
			return fmt.Errorf("restrict %s to its owner: %w", path, err)
		}
	}
	return nil
}

// migrations are applied in order; migration i brings the schema from
// user_version i to i+1. Append only: a released migration never changes.
var migrations = [][]string{
	{ // 1: snapshots, content once per hash, the latest snapshot of each device, last errors.
		`CREATE TABLE contents (
			sha256 TEXT PRIMARY KEY,  -- lowercase hex of the uncompressed content
			codec  TEXT NOT NULL,     -- how data is compressed
			size   INTEGER NOT NULL,  -- uncompressed length
			data   BLOB NOT NULL
		)`,
		`CREATE TABLE snapshots (
			tenant_id             TEXT NOT NULL,
			device_id             TEXT NOT NULL,
			snapshot_id           TEXT NOT NULL,  -- ULID: string order is time order
			sha256                TEXT NOT NULL REFERENCES contents (sha256),
			collected_at          INTEGER NOT NULL,  -- unix nanoseconds
			size_bytes            INTEGER NOT NULL,
			changed               INTEGER NOT NULL,
			previous_hash         TEXT NOT NULL,
			trigger_type          TEXT NOT NULL,
			requested_by          TEXT NOT NULL,
			reason                TEXT NOT NULL,
			routeros_version      TEXT NOT NULL,
			normalization_version INTEGER NOT NULL,
			duration_ms           INTEGER NOT NULL,
			PRIMARY KEY (tenant_id, device_id, snapshot_id)
		) WITHOUT ROWID`,
		`CREATE INDEX snapshots_by_hash ON snapshots (tenant_id, device_id, sha256, snapshot_id)`,
		// latest holds a copy of each device's newest snapshot row, written
		// by Record in the same transaction, so that LatestAll reads one
		// small table instead of joining or scanning the history.
		`CREATE TABLE latest (
			tenant_id             TEXT NOT NULL,
			device_id             TEXT NOT NULL,
			snapshot_id           TEXT NOT NULL,
			sha256                TEXT NOT NULL,
			collected_at          INTEGER NOT NULL,
			size_bytes            INTEGER NOT NULL,
			changed               INTEGER NOT NULL,
			previous_hash         TEXT NOT NULL,
			trigger_type          TEXT NOT NULL,
			requested_by          TEXT NOT NULL,
			reason                TEXT NOT NULL,
			routeros_version      TEXT NOT NULL,
			normalization_version INTEGER NOT NULL,
			duration_ms           INTEGER NOT NULL,
			PRIMARY KEY (tenant_id, device_id),
			FOREIGN KEY (tenant_id, device_id, snapshot_id) REFERENCES snapshots (tenant_id, device_id, snapshot_id)
		) WITHOUT ROWID`,
		`CREATE TABLE device_errors (
			tenant_id TEXT NOT NULL,
			device_id TEXT NOT NULL,
			kind      TEXT NOT NULL,
			error     TEXT NOT NULL,
			at        INTEGER NOT NULL,  -- unix nanoseconds
			PRIMARY KEY (tenant_id, device_id)
		) WITHOUT ROWID`,
	},
	{ // 2: pins; content looked up by hash alone (retention, issue 9).
		`CREATE TABLE pins (
			tenant_id   TEXT NOT NULL,
			device_id   TEXT NOT NULL,
			snapshot_id TEXT NOT NULL,
			note        TEXT NOT NULL,
			pinned_at   INTEGER NOT NULL,  -- unix nanoseconds
			PRIMARY KEY (tenant_id, device_id, snapshot_id),
			FOREIGN KEY (tenant_id, device_id, snapshot_id) REFERENCES snapshots (tenant_id, device_id, snapshot_id)
		) WITHOUT ROWID`,
		// Hash first: CollectContent asks whether any record uses a hash,
		// and Find's prefix range is as narrow on it (a prefix matches
		// almost no other device's hashes). It replaces the index that led
		// with the device, so a record costs no more to store.
		`DROP INDEX snapshots_by_hash`,
		`CREATE INDEX snapshots_by_sha ON snapshots (sha256, tenant_id, device_id, snapshot_id)`,
	},
}

// migrate brings the schema to len(migrations). Each step runs in its own
// IMMEDIATE transaction and rereads user_version inside it, so processes
// opening the store at once apply each migration exactly once.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateStep(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB) (done bool, err error) {
	// The common case, an up-to-date schema, needs no write lock.
	v, err := userVersion(ctx, db)
	if err != nil {
		return false, err
	}
	if v == len(migrations) {
		return true, nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if v, err = userVersion(ctx, tx); err != nil {
		return false, err
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("schema version %d is newer than this cfgsnap knows (%d): upgrade cfgsnap", v, len(migrations))
	case v == len(migrations):
		return true, nil
	}
	for _, stmt := range migrations[v] {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
	}
	// PRAGMA takes no parameters; v+1 is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	return false, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func userVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return v, fmt.Errorf("schema version %d is newer than this cfgsnap knows (%d): upgrade cfgsnap", v, len(migrations))
	}
	return v, nil
}

// recordCols are the columns scanRecord reads, common to the snapshots and
// latest tables.
const recordCols = `snapshot_id, tenant_id, device_id, sha256, collected_at, size_bytes,
	changed, previous_hash, trigger_type, requested_by, reason, routeros_version,
	normalization_version, duration_ms`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(sc scanner) (api.SnapshotRecord, error) {
	var r api.SnapshotRecord
	var at int64
	var trigger string
	err := sc.Scan(&r.SnapshotID, &r.TenantID, &r.DeviceID, &r.SHA256, &at, &r.SizeBytes,
		&r.Changed, &r.PreviousHash, &trigger, &r.RequestedBy, &r.Reason, &r.RouterOSVersion,
		&r.NormalizationVersion, &r.DurationMS)
	r.CollectedAt = time.Unix(0, at).UTC()
	r.Trigger = api.Trigger(trigger)
	return r, err
}

// unixNano converts t for storage, rejecting times int64 nanoseconds cannot
// hold rather than storing garbage.
func unixNano(what string, t time.Time) (int64, error) {
	if t.Year() < 1970 || t.Year() > 2261 {
		return 0, api.Errorf(api.KindBadRequest, "%s %s is out of range", what, t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

// Record implements Store.
func (s *SQLite) Record(ctx context.Context, rec api.SnapshotRecord, content []byte) (api.SnapshotRecord, error) {
	rec, err := Prepare(rec, content)
	if err != nil {
		return api.SnapshotRecord{}, err
	}
	key := DeviceKey{rec.TenantID, rec.DeviceID}
	// Compress and seal outside the transaction, which holds the
	// database's one write lock; skip it when the content is there sealed
	// already (CollectContent may delete it meanwhile: recordTx checks
	// again under the write lock). A row an older cfgsnap stored in clear is
	// sealed now, since the content is at hand.
	var packed []byte
	var codec string
	err = s.db.QueryRowContext(ctx, `SELECT codec FROM contents WHERE sha256 = ?`, rec.SHA256).Scan(&codec)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "record snapshot of "+key.String())
	}
	if codec != CodecSealed {
		if packed, err = s.keys.SealContent(rec.SHA256, content); err != nil {
			return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "record snapshot of "+key.String())
		}
	}
	for {
		out, err := s.recordTx(ctx, rec, packed)
		if errors.Is(err, errContentGone) && packed == nil {
			// CollectContent removed it since the check: store it again.
			if packed, err = s.keys.SealContent(rec.SHA256, content); err != nil {
				return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "record snapshot of "+key.String())
			}
			continue
		}
		return out, err
	}
}

func (s *SQLite) recordTx(ctx context.Context, rec api.SnapshotRecord, packed []byte) (api.SnapshotRecord, error) {
	key := DeviceKey{rec.TenantID, rec.DeviceID}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "record snapshot of "+key.String())
	}
	defer tx.Rollback()
	if packed == nil {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM contents WHERE sha256 = ?`, rec.SHA256).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return api.SnapshotRecord{}, errContentGone
		}
		if err != nil {
			return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "record snapshot of "+key.String())
		}
	}
	if rec, err = insertRecord(ctx, tx, rec, packed); err != nil {
		return api.SnapshotRecord{}, err
	}
	if err := tx.Commit(); err != nil {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "record snapshot of "+key.String())
	}
	return rec, nil
}

// Prepare checks rec and content and fills in what Record assigns before
// it looks at the device's history: the rules every Store follows.
func Prepare(rec api.SnapshotRecord, content []byte) (api.SnapshotRecord, error) {
	if err := api.CheckID("tenant", rec.TenantID); err != nil {
		return rec, err
	}
	if err := api.CheckID("device", rec.DeviceID); err != nil {
		return rec, err
	}
	sum := Sum(content)
	if rec.SHA256 != "" && strings.ToLower(rec.SHA256) != sum {
		return rec, api.Errorf(api.KindBadRequest, "record snapshot of %s/%s: sha256 %s is not the content's (%s)",
			rec.TenantID, rec.DeviceID, Short(rec.SHA256), Short(sum))
	}
	rec.SHA256 = sum
	if rec.SnapshotID != "" && !api.IsID(rec.SnapshotID) {
		return rec, api.Errorf(api.KindBadRequest, "record snapshot of %s/%s: snapshot id %q is not a ULID",
			rec.TenantID, rec.DeviceID, rec.SnapshotID)
	}
	if rec.NormalizationVersion == 0 {
		rec.NormalizationVersion = api.NormalizationVersion
	}
	if rec.CollectedAt.IsZero() {
		rec.CollectedAt = time.Now()
	}
	if y := rec.CollectedAt.Year(); y < 1970 || y > 2261 {
		return rec, api.Errorf(api.KindBadRequest, "collected_at %s is out of range", rec.CollectedAt.Format(time.RFC3339))
	}
	rec.CollectedAt = rec.CollectedAt.UTC()
	rec.SizeBytes = int64(len(content))
	// Pins are set with SetPin, never with the record.
	rec.Pinned, rec.PinNote = false, ""
	return rec, nil
}

// insertRecord is Record's transaction body: packed is the sealed content,
// or nil when it is stored sealed already.
func insertRecord(ctx context.Context, tx *sql.Tx, rec api.SnapshotRecord, packed []byte) (api.SnapshotRecord, error) {
	key := DeviceKey{rec.TenantID, rec.DeviceID}
	wrap := func(err error) error { return api.Wrap(api.KindStorage, err, "record snapshot of "+key.String()) }
	at, err := unixNano("collected_at", rec.CollectedAt)
	if err != nil {
		return rec, err
	}
	prev, err := latest(ctx, tx, key.Tenant, key.Device)
	if err != nil {
		return rec, wrap(err)
	}
	switch {
	case rec.SnapshotID == "":
		// Made under the write lock, so it is later than prev's unless
		// another process made prev in this same millisecond.
		rec.SnapshotID = api.NewID()
		if prev != nil && rec.SnapshotID <= prev.SnapshotID {
			next, ok := api.NextID(prev.SnapshotID)
			if !ok {
				return rec, wrap(fmt.Errorf("no snapshot id after %s", prev.SnapshotID))
			}
			rec.SnapshotID = next
		}
	case prev != nil && rec.SnapshotID <= prev.SnapshotID:
		return rec, api.Errorf(api.KindBadRequest, "record snapshot of %s: snapshot id %s is not newer than the latest, %s",
			key, rec.SnapshotID, prev.SnapshotID)
	}
	rec.Changed = prev == nil || prev.SHA256 != rec.SHA256
	rec.PreviousHash = ""
	if prev != nil {
		rec.PreviousHash = prev.SHA256
	}
	if packed != nil {
		// A sealed row stays (another writer may have sealed it meanwhile,
		// under the same key or one being rotated); a plain one is replaced.
		_, err := tx.ExecContext(ctx, `INSERT INTO contents (sha256, codec, size, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (sha256) DO UPDATE SET codec = excluded.codec, size = excluded.size, data = excluded.data
			WHERE contents.codec <> excluded.codec`, rec.SHA256, CodecSealed, rec.SizeBytes, packed)
		if err != nil {
			return rec, wrap(fmt.Errorf("store content: %w", err))
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO snapshots (snapshot_id, tenant_id, device_id, sha256, collected_at,
		size_bytes, changed, previous_hash, trigger_type, requested_by, reason, routeros_version,
		normalization_version, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rec.SnapshotID, rec.TenantID, rec.DeviceID, rec.SHA256, at, rec.SizeBytes, rec.Changed,
		rec.PreviousHash, string(rec.Trigger), rec.RequestedBy, rec.Reason, rec.RouterOSVersion,
		rec.NormalizationVersion, rec.DurationMS)
	if err != nil {
		return rec, wrap(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO latest (`+recordCols+`) SELECT `+recordCols+`
		FROM snapshots WHERE tenant_id = ? AND device_id = ? AND snapshot_id = ?`,
		rec.TenantID, rec.DeviceID, rec.SnapshotID)
	if err != nil {
		return rec, wrap(err)
	}
	return rec, nil
}

func latest(ctx context.Context, q queryer, tenant, device string) (*api.SnapshotRecord, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, `SELECT `+recordCols+` FROM latest
		WHERE tenant_id = ? AND device_id = ?`, tenant, device))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read latest snapshot: %w", err)
	}
	return &r, nil
}

// Latest implements Store.
func (s *SQLite) Latest(ctx context.Context, tenant, device string) (*api.SnapshotRecord, error) {
	r, err := latest(ctx, s.db, tenant, device)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, DeviceKey{tenant, device}.String())
	}
	return r, nil
}

// LatestAll implements Store.
func (s *SQLite) LatestAll(ctx context.Context, tenant string) (map[DeviceKey]api.SnapshotRecord, error) {
	q, args := `SELECT `+recordCols+` FROM latest`, []any(nil)
	if tenant != "" {
		q, args = q+` WHERE tenant_id = ?`, []any{tenant}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read latest snapshots")
	}
	defer rows.Close()
	out := make(map[DeviceKey]api.SnapshotRecord)
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, api.Wrap(api.KindStorage, err, "read latest snapshots")
		}
		out[DeviceKey{r.TenantID, r.DeviceID}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read latest snapshots")
	}
	return out, nil
}

// History implements Store. Limits above MaxHistoryLimit are reduced to it.
func (s *SQLite) History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error) {
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	limit = min(limit, MaxHistoryLimit)
	q := `SELECT ` + recordCols + ` FROM snapshots WHERE tenant_id = ? AND device_id = ?`
	args := []any{tenant, device}
	if before != "" {
		q += ` AND snapshot_id < ?`
		args = append(args, before)
	}
	// One row more than asked tells whether there are more.
	q += ` ORDER BY snapshot_id DESC LIMIT ?`
	args = append(args, limit+1)
	key := DeviceKey{tenant, device}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, api.Wrap(api.KindStorage, err, "read history of "+key.String())
	}
	defer rows.Close()
	var out []api.SnapshotRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, false, api.Wrap(api.KindStorage, err, "read history of "+key.String())
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, api.Wrap(api.KindStorage, err, "read history of "+key.String())
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if err := s.addPins(ctx, tenant, device, out); err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// maxCandidates is how many matches of an ambiguous prefix Find lists.
const maxCandidates = 10

// Find implements Store.
func (s *SQLite) Find(ctx context.Context, tenant, device, ref string) (api.SnapshotRecord, error) {
	key := DeviceKey{tenant, device}
	ref = strings.TrimSpace(ref)
	if strings.EqualFold(ref, "latest") {
		r, err := s.Latest(ctx, tenant, device)
		if err != nil {
			return api.SnapshotRecord{}, err
		}
		if r == nil {
			return api.SnapshotRecord{}, fmt.Errorf("%s has no snapshots: %w", key, ErrNotFound)
		}
		return *r, nil
	}
	if api.IsID(ref) {
		r, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordCols+` FROM snapshots
			WHERE tenant_id = ? AND device_id = ? AND snapshot_id = ?`, tenant, device, ref))
		switch {
		case err == nil:
			one := []api.SnapshotRecord{r}
			err := s.addPins(ctx, tenant, device, one)
			return one[0], err
		case !errors.Is(err, sql.ErrNoRows):
			return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, fmt.Sprintf("find %q in %s", ref, key))
		case !IsHex(strings.ToLower(ref)):
			return api.SnapshotRecord{}, fmt.Errorf("find snapshot %s in %s: %w", ref, key, ErrNotFound)
		}
		// An upper-case hash prefix that looks like an ID: a prefix it is.
	}
	prefix := strings.ToLower(ref)
	if len(prefix) < MinPrefix || len(prefix) > 64 || !IsHex(prefix) {
		return api.SnapshotRecord{}, api.Errorf(api.KindBadRequest,
			"snapshot %q: use \"latest\", a snapshot ID, a sha256 or at least %d of its leading hex digits", ref, MinPrefix)
	}
	// Every hash starting with prefix sorts in [prefix, prefix+"g"): 'g'
	// follows every hex digit. The bare columns come from the MAX row.
	rows, err := s.db.QueryContext(ctx, `SELECT sha256, MAX(snapshot_id), collected_at FROM snapshots
		WHERE tenant_id = ? AND device_id = ? AND sha256 >= ? AND sha256 < ?
		GROUP BY sha256 ORDER BY 2 DESC LIMIT ?`, tenant, device, prefix, prefix+"g", maxCandidates+1)
	if err != nil {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, fmt.Sprintf("find %q in %s", ref, key))
	}
	defer rows.Close()
	type candidate struct {
		sum, id string
		at      time.Time
	}
	var cands []candidate
	for rows.Next() {
		var c candidate
		var at int64
		if err := rows.Scan(&c.sum, &c.id, &at); err != nil {
			return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, fmt.Sprintf("find %q in %s", ref, key))
		}
		c.at = time.Unix(0, at).UTC()
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, fmt.Sprintf("find %q in %s", ref, key))
	}
	rows.Close()
	switch len(cands) {
	case 0:
		return api.SnapshotRecord{}, fmt.Errorf("find %q in %s: %w", ref, key, ErrNotFound)
	case 1:
	default:
		var list []string
		for i, c := range cands {
			if i == maxCandidates {
				list = append(list, "and more")
				break
			}
			list = append(list, fmt.Sprintf("%s (latest %s)", c.sum, c.at.Format(time.RFC3339)))
		}
		return api.SnapshotRecord{}, fmt.Errorf("find %q in %s: %w: it matches %s", ref, key, ErrAmbiguous, strings.Join(list, ", "))
	}
	r, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordCols+` FROM snapshots
		WHERE tenant_id = ? AND device_id = ? AND snapshot_id = ?`, tenant, device, cands[0].id))
	if err != nil {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, fmt.Sprintf("find %q in %s", ref, key))
	}
	one := []api.SnapshotRecord{r}
	if err := s.addPins(ctx, tenant, device, one); err != nil {
		return api.SnapshotRecord{}, err
	}
	return one[0], nil
}

// Content implements Store.
func (s *SQLite) Content(ctx context.Context, sum string) ([]byte, error) {
	sum, ok := NormHash(sum)
	if !ok {
		return nil, api.Errorf(api.KindBadRequest, "content %q: not a sha256 in hex", Short(sum))
	}
	var codec string
	var size int64
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT codec, size, data FROM contents WHERE sha256 = ?`, sum).Scan(&codec, &size, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("content %s: %w", Short(sum), ErrNotFound)
	}
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read content "+Short(sum))
	}
	return s.unpack(sum, codec, size, data)
}

// unpack returns the content of a contents row: sealed, or compressed
// only (written before sealing existed).
func (s *SQLite) unpack(sum, codec string, size int64, data []byte) ([]byte, error) {
	if codec == CodecSealed {
		return s.keys.OpenContent(sum, size, data)
	}
	return decompress(sum, codec, size, data)
}

// sealBatch is how many contents `store seal` rewrites per transaction:
// small enough that backups running meanwhile wait little for the lock.
const sealBatch = 64

// SealAll seals every content row stored in clear (by an older cfgsnap),
// and re-seals under the current key what the old keys of s.Keys() sealed.
// It works in batches, each in its own transaction that rewrites a row
// only if it is unchanged since it was read, so it can run beside backups
// and again after an interruption. When it rewrote anything it vacuums the
// database and truncates the WAL, so the clear pages do not linger on disk.
func (s *SQLite) SealAll(ctx context.Context) (SealStats, error) {
	var st SealStats
	after := ""
	for {
		type row struct {
			sum, codec string
			size       int64
			data       []byte
		}
		rows, err := s.db.QueryContext(ctx, `SELECT sha256, codec, size, data FROM contents
			WHERE sha256 > ? ORDER BY sha256 LIMIT ?`, after, sealBatch)
		if err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal contents")
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.sum, &r.codec, &r.size, &r.data); err != nil {
				rows.Close()
				return st, api.Wrap(api.KindStorage, err, "seal contents")
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal contents")
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].sum
		st.Total += len(batch)
		type update struct {
			row
			sealed []byte
		}
		var ups []update
		for _, r := range batch {
			id, _ := seal.KeyID(r.data)
			act, err := s.keys.Action(r.codec, id)
			if err != nil {
				return st, err
			}
			if act == SealForeign {
				st.Foreign++
			}
			if act != SealNow && act != SealRekey {
				continue
			}
			plain, err := s.unpack(r.sum, r.codec, r.size, r.data)
			if err != nil {
				return st, err
			}
			sealed, err := s.keys.SealContent(r.sum, plain)
			if err != nil {
				return st, err
			}
			ups = append(ups, update{r, sealed})
		}
		if len(ups) == 0 {
			continue
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal contents")
		}
		var sealed, rekeyed int
		for _, u := range ups {
			res, err := tx.ExecContext(ctx, `UPDATE contents SET codec = ?, data = ?
				WHERE sha256 = ? AND codec = ? AND data = ?`, CodecSealed, u.sealed, u.sum, u.codec, u.data)
			if err != nil {
				tx.Rollback()
				return st, api.Wrap(api.KindStorage, err, "seal content "+Short(u.sum))
			}
			if n, _ := res.RowsAffected(); n == 1 {
				if u.codec == CodecSealed {
					rekeyed++
				} else {
					sealed++
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal contents")
		}
		st.Sealed += sealed
		st.Rekeyed += rekeyed
	}
	if st.Sealed+st.Rekeyed > 0 {
		if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal contents: vacuum (the contents are sealed; the old pages stay until the next vacuum)")
		}
		if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal contents: checkpoint")
		}
	}
	return st, nil
}

// SetLastError implements Store.
func (s *SQLite) SetLastError(ctx context.Context, tenant, device string, e *api.DeviceError) error {
	key := DeviceKey{tenant, device}
	if e == nil {
		_, err := s.db.ExecContext(ctx, `DELETE FROM device_errors WHERE tenant_id = ? AND device_id = ?`, tenant, device)
		return api.Wrap(api.KindStorage, err, "clear last error of "+key.String())
	}
	if err := api.CheckID("tenant", tenant); err != nil {
		return err
	}
	if err := api.CheckID("device", device); err != nil {
		return err
	}
	kind, at := e.Kind, e.At
	if kind == "" {
		kind = api.KindInternal
	}
	if at.IsZero() {
		at = time.Now()
	}
	n, err := unixNano("error time", at)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO device_errors (tenant_id, device_id, kind, error, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, device_id) DO UPDATE SET kind = excluded.kind, error = excluded.error, at = excluded.at`,
		tenant, device, string(kind), e.Error, n)
	return api.Wrap(api.KindStorage, err, "set last error of "+key.String())
}

// LastErrors implements Store.
func (s *SQLite) LastErrors(ctx context.Context, tenant string) (map[DeviceKey]api.DeviceError, error) {
	q, args := `SELECT tenant_id, device_id, kind, error, at FROM device_errors`, []any(nil)
	if tenant != "" {
		q, args = q+` WHERE tenant_id = ?`, []any{tenant}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read last errors")
	}
	defer rows.Close()
	out := make(map[DeviceKey]api.DeviceError)
	for rows.Next() {
		var k DeviceKey
		var e api.DeviceError
		var kind string
		var at int64
		if err := rows.Scan(&k.Tenant, &k.Device, &kind, &e.Error, &at); err != nil {
			return nil, api.Wrap(api.KindStorage, err, "read last errors")
		}
		e.Kind, e.At = api.ErrorKind(kind), time.Unix(0, at).UTC()
		out[k] = e
	}
	if err := rows.Err(); err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read last errors")
	}
	return out, nil
}
