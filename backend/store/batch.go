package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// RecordBatch records many snapshots in one transaction, each as Record
// would (in order: a device's later snapshots chain on its earlier ones).
// It is for imports and benchmarks (scripts/bench-store.sh): one commit
// instead of one per snapshot. On error nothing is recorded.
func (s *SQLite) RecordBatch(ctx context.Context, recs []api.SnapshotRecord, contents [][]byte) ([]api.SnapshotRecord, error) {
	if len(recs) != len(contents) {
		return nil, api.Errorf(api.KindBadRequest, "record batch: %d records, %d contents", len(recs), len(contents))
	}
	wrap := func(err error) error { return api.Wrap(api.KindStorage, err, "record batch") }
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap(err)
	}
	defer tx.Rollback()
	out := make([]api.SnapshotRecord, len(recs))
	for i, rec := range recs {
		if rec, err = Prepare(rec, contents[i]); err != nil {
			return nil, err
		}
		var codec string
		err := tx.QueryRowContext(ctx, `SELECT codec FROM contents WHERE sha256 = ?`, rec.SHA256).Scan(&codec)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, wrap(err)
		}
		var packed []byte
		if codec != CodecSealed {
			if packed, err = s.keys.SealContent(rec.SHA256, contents[i]); err != nil {
				return nil, wrap(err)
			}
		}
		if out[i], err = insertRecord(ctx, tx, rec, packed); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap(err)
	}
	return out, nil
}
