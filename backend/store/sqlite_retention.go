package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

var _ Retainer = (*SQLite)(nil)

// errContentGone tells Record that the content it found before taking the
// write lock was collected meanwhile.
var errContentGone = errors.New("content collected meanwhile")

// addPins sets the pin fields of the device's records in recs.
func (s *SQLite) addPins(ctx context.Context, tenant, device string, recs []api.SnapshotRecord) error {
	if len(recs) == 0 {
		return nil
	}
	key := DeviceKey{tenant, device}
	rows, err := s.db.QueryContext(ctx, `SELECT snapshot_id, note FROM pins WHERE tenant_id = ? AND device_id = ?`, tenant, device)
	if err != nil {
		return api.Wrap(api.KindStorage, err, "read pins of "+key.String())
	}
	defer rows.Close()
	pins := map[string]string{}
	for rows.Next() {
		var id, note string
		if err := rows.Scan(&id, &note); err != nil {
			return api.Wrap(api.KindStorage, err, "read pins of "+key.String())
		}
		pins[id] = note
	}
	if err := rows.Err(); err != nil {
		return api.Wrap(api.KindStorage, err, "read pins of "+key.String())
	}
	for i := range recs {
		recs[i].PinNote, recs[i].Pinned = pins[recs[i].SnapshotID]
	}
	return nil
}

// SetPin implements Retainer.
func (s *SQLite) SetPin(ctx context.Context, tenant, device, snapshotID string, pinned bool, note string) (api.SnapshotRecord, error) {
	key := DeviceKey{tenant, device}
	wrap := func(err error) error { return api.Wrap(api.KindStorage, err, "pin snapshot of "+key.String()) }
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return api.SnapshotRecord{}, wrap(err)
	}
	defer tx.Rollback()
	r, err := scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordCols+` FROM snapshots
		WHERE tenant_id = ? AND device_id = ? AND snapshot_id = ?`, tenant, device, snapshotID))
	if errors.Is(err, sql.ErrNoRows) {
		return api.SnapshotRecord{}, fmt.Errorf("snapshot %s of %s: %w", snapshotID, key, ErrNotFound)
	}
	if err != nil {
		return api.SnapshotRecord{}, wrap(err)
	}
	if pinned {
		_, err = tx.ExecContext(ctx, `INSERT INTO pins (tenant_id, device_id, snapshot_id, note, pinned_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET note = excluded.note, pinned_at = excluded.pinned_at`,
			tenant, device, snapshotID, note, time.Now().UnixNano())
		r.Pinned, r.PinNote = true, note
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM pins WHERE tenant_id = ? AND device_id = ? AND snapshot_id = ?`, tenant, device, snapshotID)
	}
	if err != nil {
		return api.SnapshotRecord{}, wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return api.SnapshotRecord{}, wrap(err)
	}
	return r, nil
}

// DeviceRecords implements Retainer.
func (s *SQLite) DeviceRecords(ctx context.Context, tenant, device string) ([]api.SnapshotRecord, error) {
	key := DeviceKey{tenant, device}
	rows, err := s.db.QueryContext(ctx, `SELECT `+recordCols+` FROM snapshots
		WHERE tenant_id = ? AND device_id = ? ORDER BY snapshot_id`, tenant, device)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read records of "+key.String())
	}
	defer rows.Close()
	var out []api.SnapshotRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, api.Wrap(api.KindStorage, err, "read records of "+key.String())
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read records of "+key.String())
	}
	rows.Close()
	return out, s.addPins(ctx, tenant, device, out)
}

// RemoveRecords implements Retainer: one transaction, each delete
// conditioned on the record being neither pinned nor the latest.
func (s *SQLite) RemoveRecords(ctx context.Context, tenant, device string, ids []string) ([]string, error) {
	key := DeviceKey{tenant, device}
	wrap := func(err error) error { return api.Wrap(api.KindStorage, err, "remove records of "+key.String()) }
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM snapshots WHERE tenant_id = ?1 AND device_id = ?2 AND snapshot_id = ?3
		AND NOT EXISTS (SELECT 1 FROM pins p WHERE p.tenant_id = ?1 AND p.device_id = ?2 AND p.snapshot_id = ?3)
		AND NOT EXISTS (SELECT 1 FROM latest l WHERE l.tenant_id = ?1 AND l.device_id = ?2 AND l.snapshot_id = ?3)`)
	if err != nil {
		return nil, wrap(err)
	}
	defer stmt.Close()
	var removed []string
	for _, id := range ids {
		res, err := stmt.ExecContext(ctx, tenant, device, id)
		if err != nil {
			return nil, wrap(err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			removed = append(removed, id)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap(err)
	}
	return removed, nil
}

// vacuumShare is the share of free pages above which CollectContent
// returns them to the file system (VACUUM); below it SQLite reuses them.
const vacuumShare = 0.25

// CollectContent implements Retainer. The check that no record uses a
// content and its deletion are one statement under the write lock, so a
// Record running meanwhile either sees the content gone (and stores it
// again) or has inserted its record first (and the content stays).
func (s *SQLite) CollectContent(ctx context.Context) (ContentStats, error) {
	var st ContentStats
	wrap := func(err error) error { return api.Wrap(api.KindStorage, err, "remove unused content") }
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return st, wrap(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `DELETE FROM contents
		WHERE NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.sha256 = contents.sha256) RETURNING size`)
	if err != nil {
		return st, wrap(err)
	}
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			rows.Close()
			return st, wrap(err)
		}
		st.Contents++
		st.Bytes += size
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return st, wrap(err)
	}
	var free, pages int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
		return st, wrap(err)
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return st, wrap(err)
	}
	if pages > 0 && float64(free)/float64(pages) > vacuumShare {
		// The records and content are gone already; a failed vacuum only
		// leaves the space for SQLite to reuse.
		if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
			return st, api.Wrap(api.KindStorage, err, "remove unused content: vacuum (the content is removed; its space is reused but not returned)")
		}
		if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return st, wrap(err)
		}
	}
	return st, nil
}
