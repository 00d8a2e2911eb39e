package schedule

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// SQLiteState keeps the schedule state in the local store's database, for
// schedulers of one machine (several serve processes on one data dir).
type SQLiteState struct {
	db *sql.DB
}

var _ State = (*SQLiteState)(nil)

// OpenSQLite returns the state in db (the store's), creating its table if
// missing.
func OpenSQLite(ctx context.Context, db *sql.DB) (*SQLiteState, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schedule_state (
		tenant_id TEXT NOT NULL,
		device_id TEXT NOT NULL,
		revision  INTEGER NOT NULL,  -- bumped by every write: the compare-and-swap token
		entry     TEXT NOT NULL,     -- Entry as JSON
		PRIMARY KEY (tenant_id, device_id)
	) WITHOUT ROWID`)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "create schedule table")
	}
	return &SQLiteState{db: db}, nil
}

// Get implements State.
func (s *SQLiteState) Get(ctx context.Context, key store.DeviceKey) (Entry, uint64, error) {
	var rev uint64
	var data string
	err := s.db.QueryRowContext(ctx, `SELECT revision, entry FROM schedule_state WHERE tenant_id = ? AND device_id = ?`,
		key.Tenant, key.Device).Scan(&rev, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, 0, nil
	}
	if err != nil {
		return Entry{}, 0, api.Wrap(api.KindStorage, err, "read schedule state of "+key.String())
	}
	var e Entry
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return Entry{}, 0, api.Wrap(api.KindStorage, fmt.Errorf("not a schedule entry: %w", err), "read schedule state of "+key.String())
	}
	return e, rev, nil
}

// Put implements State: one statement that writes only when the revision
// is the expected one (an insert when rev is 0), so two processes cannot
// both win.
func (s *SQLiteState) Put(ctx context.Context, key store.DeviceKey, e Entry, rev uint64) (uint64, error) {
	if !api.ValidID(key.Tenant) || !api.ValidID(key.Device) {
		return 0, api.Errorf(api.KindBadRequest, "schedule state of %s: invalid ID", key)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "write schedule state of "+key.String())
	}
	var res sql.Result
	if rev == 0 {
		res, err = s.db.ExecContext(ctx, `INSERT INTO schedule_state (tenant_id, device_id, revision, entry)
			VALUES (?, ?, 1, ?) ON CONFLICT (tenant_id, device_id) DO NOTHING`, key.Tenant, key.Device, string(data))
	} else {
		res, err = s.db.ExecContext(ctx, `UPDATE schedule_state SET revision = revision + 1, entry = ?
			WHERE tenant_id = ? AND device_id = ? AND revision = ?`, string(data), key.Tenant, key.Device, rev)
	}
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "write schedule state of "+key.String())
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "write schedule state of "+key.String())
	}
	if n == 0 {
		return 0, ErrConflict
	}
	return rev + 1, nil
}
