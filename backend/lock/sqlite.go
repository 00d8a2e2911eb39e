package lock

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// SQLiteLocker keeps leases in a SQLite database shared by every cfgsnap
// process of a data directory (the store's). Every change is one statement
// that checks and writes at once, so leases stay exclusive between
// processes whatever transaction mode the database was opened with. Times
// are this host's clock in unix milliseconds; all processes sharing the
// file share that clock.
type SQLiteLocker struct {
	db *sql.DB
}

var _ Locker = (*SQLiteLocker)(nil)

// NewSQLite returns a locker on db, creating its table if missing.
func NewSQLite(ctx context.Context, db *sql.DB) (*SQLiteLocker, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS locks (
		key        TEXT PRIMARY KEY,  -- tenant/device
		holder     TEXT NOT NULL,
		pid        INTEGER NOT NULL,
		job_id     TEXT NOT NULL,
		since_ms   INTEGER NOT NULL,
		stage      TEXT NOT NULL,
		expires_ms INTEGER NOT NULL
	) WITHOUT ROWID`)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "create locks table")
	}
	return &SQLiteLocker{db: db}, nil
}

// acquireAttempts bounds Acquire's retries when the holder it was refused
// by is gone by the time it looks (released or expired in between).
const acquireAttempts = 5

// Acquire implements Locker.
func (l *SQLiteLocker) Acquire(ctx context.Context, key string, info Info, ttl time.Duration) (Lease, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, api.Errorf(api.KindBadRequest, "lock %s: ttl %v is not positive", key, ttl)
	}
	if info.JobID == "" {
		return nil, api.Errorf(api.KindBadRequest, "lock %s: no job id", key)
	}
	if info.Stage == "" {
		info.Stage = api.StageLockAcquired
	}
	for range acquireAttempts {
		now := time.Now()
		expires := now.Add(ttl)
		// The upsert writes only when the key is free, expired or already
		// this job's (which keeps its original since); RETURNING yields a
		// row exactly when it wrote.
		var since int64
		err := l.db.QueryRowContext(ctx, `INSERT INTO locks (key, holder, pid, job_id, since_ms, stage, expires_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, job_id = excluded.job_id,
				since_ms = CASE WHEN locks.job_id = excluded.job_id THEN locks.since_ms ELSE excluded.since_ms END,
				stage = excluded.stage, expires_ms = excluded.expires_ms
			WHERE locks.expires_ms <= excluded.since_ms OR locks.job_id = excluded.job_id
			RETURNING since_ms`,
			key, info.Holder, info.PID, info.JobID, now.UnixMilli(), string(info.Stage), expires.UnixMilli()).Scan(&since)
		if err == nil {
			info.Since, info.Expires = time.UnixMilli(since), time.UnixMilli(expires.UnixMilli())
			return &sqliteLease{db: l.db, key: key, info: info}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, api.Wrap(api.KindStorage, err, "lock "+key)
		}
		holder, err := l.Holder(ctx, key)
		if err != nil {
			return nil, err
		}
		if holder != nil {
			return nil, &HeldError{Key: key, Info: *holder}
		}
	}
	return nil, api.Errorf(api.KindStorage, "lock %s: the lease changed hands %d times while acquiring", key, acquireAttempts)
}

const infoCols = `holder, pid, job_id, since_ms, stage, expires_ms`

// scanInfo scans infoCols, after the columns of lead.
func scanInfo(sc interface{ Scan(...any) error }, lead ...any) (Info, error) {
	var i Info
	var since, expires int64
	var stage string
	err := sc.Scan(append(lead, &i.Holder, &i.PID, &i.JobID, &since, &stage, &expires)...)
	i.Since, i.Stage, i.Expires = time.UnixMilli(since), api.Stage(stage), time.UnixMilli(expires)
	return i, err
}

// Holder implements Locker.
func (l *SQLiteLocker) Holder(ctx context.Context, key string) (*Info, error) {
	i, err := scanInfo(l.db.QueryRowContext(ctx, `SELECT `+infoCols+` FROM locks WHERE key = ? AND expires_ms > ?`,
		key, time.Now().UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read lock "+key)
	}
	return &i, nil
}

// Holders implements Locker.
func (l *SQLiteLocker) Holders(ctx context.Context) (map[string]Info, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT key, `+infoCols+` FROM locks WHERE expires_ms > ?`, time.Now().UnixMilli())
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read locks")
	}
	defer rows.Close()
	out := make(map[string]Info)
	for rows.Next() {
		var key string
		i, err := scanInfo(rows, &key)
		if err != nil {
			return nil, api.Wrap(api.KindStorage, err, "read locks")
		}
		out[key] = i
	}
	if err := rows.Err(); err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read locks")
	}
	return out, nil
}

type sqliteLease struct {
	db  *sql.DB
	key string

	mu       sync.Mutex // guards info and released; held across the statements so they are ordered
	info     Info
	released bool
}

func (l *sqliteLease) Info() Info {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Renew implements Lease. A lease that expired but was not taken over is
// still the caller's (nobody else held the key meanwhile) and is renewed.
func (l *sqliteLease) Renew(ctx context.Context, stage api.Stage, ttl time.Duration) error {
	if ttl <= 0 {
		return api.Errorf(api.KindBadRequest, "renew lock %s: ttl %v is not positive", l.key, ttl)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("renew lock %s: released: %w", l.key, ErrLost)
	}
	if stage == "" {
		stage = l.info.Stage
	}
	expires := time.Now().Add(ttl).UnixMilli()
	res, err := l.db.ExecContext(ctx, `UPDATE locks SET stage = ?, expires_ms = ? WHERE key = ? AND job_id = ?`,
		string(stage), expires, l.key, l.info.JobID)
	if err != nil {
		return api.Wrap(api.KindStorage, err, "renew lock "+l.key)
	}
	if n, err := res.RowsAffected(); err != nil {
		return api.Wrap(api.KindStorage, err, "renew lock "+l.key)
	} else if n == 0 {
		return fmt.Errorf("renew lock %s for job %s: %w", l.key, l.info.JobID, ErrLost)
	}
	l.info.Stage, l.info.Expires = stage, time.UnixMilli(expires)
	return nil
}

// Release implements Lease.
func (l *sqliteLease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	res, err := l.db.ExecContext(ctx, `DELETE FROM locks WHERE key = ? AND job_id = ?`, l.key, l.info.JobID)
	if err != nil {
		return api.Wrap(api.KindStorage, err, "release lock "+l.key)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return api.Wrap(api.KindStorage, err, "release lock "+l.key)
	}
	l.released = true
	if n == 0 {
		return fmt.Errorf("release lock %s for job %s: %w", l.key, l.info.JobID, ErrLost)
	}
	return nil
}
