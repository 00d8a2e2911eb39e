package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/retention"
)

// Retainer is what both stores offer retention and pins (issue 9), apart
// from Store so that other implementations of Store need not change.
//
// Removal happens in two steps, in this order, so that no record ever
// points at missing content: RemoveRecords deletes records, then
// CollectContent deletes the content no remaining record uses. A crash
// between the two leaves only orphan content, which the next
// CollectContent removes.
type Retainer interface {
	Store
	// SetPin pins (or with pinned false unpins) the device's snapshot with
	// the given ID and returns its record as History shows it. A note is
	// kept with a pin; unpinning drops it. Unknown snapshots are
	// ErrNotFound.
	SetPin(ctx context.Context, tenant, device, snapshotID string, pinned bool, note string) (api.SnapshotRecord, error)
	// DeviceRecords returns every record of the device, oldest first, with
	// its pin.
	DeviceRecords(ctx context.Context, tenant, device string) ([]api.SnapshotRecord, error)
	// RemoveRecords removes the device's records with the given IDs, except
	// pinned ones and the device's latest (checked at removal, whatever the
	// caller planned), and returns the IDs it removed. Their content stays
	// until CollectContent.
	RemoveRecords(ctx context.Context, tenant, device string, ids []string) ([]string, error)
	// CollectContent removes every content no record uses and reclaims its
	// space. A Record of the same content at the same time still ends with
	// the content stored.
	CollectContent(ctx context.Context) (ContentStats, error)
}

// ContentStats says what CollectContent removed.
type ContentStats struct {
	Contents int   `json:"contents"` // distinct contents removed
	Bytes    int64 `json:"bytes"`    // their size in clear
}

// PruneOptions say what Prune applies where.
type PruneOptions struct {
	Retention retention.Config
	// Tenant limits pruning to one tenant; "" is every tenant.
	Tenant string
	// DryRun decides without removing anything.
	DryRun bool
	// Location cuts the hourly/daily/... buckets; nil is time.Local.
	Location *time.Location
}

// DevicePrune is the outcome for one device: every snapshot's decision,
// newest first.
type DevicePrune struct {
	Key       DeviceKey
	Decisions []SnapshotDecision
	Kept      int
	Removed   int
}

// SnapshotDecision is one snapshot's fate.
type SnapshotDecision struct {
	api.SnapshotRecord
	Keep    bool
	Reasons []string
}

// PruneStats sums a prune.
type PruneStats struct {
	Devices int          `json:"devices"`
	Kept    int          `json:"kept"`
	Removed int          `json:"removed"`
	Content ContentStats `json:"content"`
}

// Prune applies opts.Retention to every device of opts.Tenant (or of all
// tenants), one device at a time, calling each (if not nil) with every
// device's outcome, then removes the content no remaining record uses. A
// tenant whose policy is empty is left alone. Unless DryRun, the records
// go first and the content after, so an interrupted prune leaves no record
// without content; CollectContent runs even when no record was removed,
// to clean up after an earlier interrupted prune.
func Prune(ctx context.Context, r Retainer, opts PruneOptions, each func(DevicePrune) error) (PruneStats, error) {
	var st PruneStats
	latest, err := r.LatestAll(ctx, opts.Tenant)
	if err != nil {
		return st, err
	}
	keys := make([]DeviceKey, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		p := opts.Retention.For(k.Tenant)
		if p.Empty() {
			continue
		}
		dp, err := pruneDevice(ctx, r, k, p, opts)
		if err != nil {
			return st, err
		}
		st.Devices++
		st.Kept += dp.Kept
		st.Removed += dp.Removed
		if each != nil {
			if err := each(dp); err != nil {
				return st, err
			}
		}
	}
	if opts.DryRun {
		return st, nil
	}
	st.Content, err = r.CollectContent(ctx)
	return st, err
}

func pruneDevice(ctx context.Context, r Retainer, k DeviceKey, p retention.Policy, opts PruneOptions) (DevicePrune, error) {
	dp := DevicePrune{Key: k}
	recs, err := r.DeviceRecords(ctx, k.Tenant, k.Device)
	if err != nil {
		return dp, err
	}
	byID := make(map[string]api.SnapshotRecord, len(recs))
	snaps := make([]retention.Snapshot, len(recs))
	for i, rec := range recs {
		byID[rec.SnapshotID] = rec
		snaps[i] = retention.Snapshot{ID: rec.SnapshotID, At: rec.CollectedAt, Pinned: rec.Pinned}
	}
	ds := retention.Apply(p, snaps, opts.Location)
	var remove []string
	for _, d := range ds {
		if !d.Keep {
			remove = append(remove, d.ID)
		}
	}
	removed := map[string]bool{}
	if len(remove) > 0 && !opts.DryRun {
		ids, err := r.RemoveRecords(ctx, k.Tenant, k.Device, remove)
		if err != nil {
			return dp, fmt.Errorf("prune %s: %w", k, err)
		}
		for _, id := range ids {
			removed[id] = true
		}
	}
	for _, d := range ds {
		sd := SnapshotDecision{SnapshotRecord: byID[d.ID], Keep: d.Keep, Reasons: d.Reasons}
		if !d.Keep && !opts.DryRun && !removed[d.ID] {
			// Pinned, or become the latest, since the plan was made.
			sd.Keep, sd.Reasons = true, []string{"pinned meanwhile"}
		}
		if sd.Keep {
			dp.Kept++
		} else {
			dp.Removed++
		}
		dp.Decisions = append(dp.Decisions, sd)
	}
	return dp, nil
}

func sortKeys(keys []DeviceKey) {
	slices.SortFunc(keys, func(a, b DeviceKey) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.Device, b.Device))
	})
}
