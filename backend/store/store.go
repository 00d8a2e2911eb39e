// Package store keeps snapshot records, their content and each device's last
// error. Store is the contract the backup pipeline, the service and the
// direct client use; SQLite implements it for one machine (several cfgsnap
// processes may share one data directory), a JetStream store will implement
// it for many workers.
package store

import (
	"context"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// DeviceKey names one device of one tenant.
type DeviceKey struct{ Tenant, Device string }

// String returns "tenant/device", the form used in messages and lock keys.
func (k DeviceKey) String() string { return k.Tenant + "/" + k.Device }

// ErrNotFound is wrapped by Find and Content when nothing matches. It is an
// *api.Error of kind not_found, so api.KindOf classifies it too.
var ErrNotFound error = &api.Error{Kind: api.KindNotFound, Msg: "snapshot not found"}

// ErrAmbiguous is wrapped by Find when a hash prefix matches several
// snapshots; the wrapping message lists the candidates.
var ErrAmbiguous error = &api.Error{Kind: api.KindBadRequest, Msg: "ambiguous snapshot reference"}

// MinPrefix is the shortest hash prefix Find accepts, as git's short hashes.
const MinPrefix = 7

// DefaultHistoryLimit is the page size of History when the caller gives none;
// MaxHistoryLimit caps larger requests (the reply says more exist).
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 1000
)

// Store is what every backend fulfils. Errors other than ErrNotFound and
// ErrAmbiguous are *api.Error of kind storage or bad_request.
type Store interface {
	// Record stores a snapshot. In one transaction it reads the device's
	// latest record, sets PreviousHash and Changed from it, stores the
	// content only when its hash is new and inserts the record. Empty
	// SnapshotID, zero NormalizationVersion, empty SHA256 and zero
	// CollectedAt are filled in; SizeBytes is len(content). A given SHA256
	// must be the hash of content. Returns the stored record.
	Record(ctx context.Context, rec api.SnapshotRecord, content []byte) (api.SnapshotRecord, error)
	// Latest returns the device's newest record, or nil, nil when it has none.
	Latest(ctx context.Context, tenant, device string) (*api.SnapshotRecord, error)
	// LatestAll returns the newest record of every device of tenant, or of
	// all tenants when tenant is "".
	LatestAll(ctx context.Context, tenant string) (map[DeviceKey]api.SnapshotRecord, error)
	// History returns up to limit records newest first, older than the
	// snapshot ID before when it is not "", and whether older ones exist.
	// limit <= 0 means DefaultHistoryLimit.
	History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error)
	// Find resolves ref to a record of the device: "latest"; a snapshot ID
	// (that very record, say the older of two with the same hash); or a full
	// hash or a unique prefix of at least MinPrefix hex digits (the newest
	// record with that hash).
	Find(ctx context.Context, tenant, device, ref string) (api.SnapshotRecord, error)
	// Content returns the content whose sha256 is the given hash, verified.
	// It does not check tenants: callers resolve the hash with Find first.
	Content(ctx context.Context, sha256 string) ([]byte, error)
	// SetLastError records the device's last failure; nil clears it.
	SetLastError(ctx context.Context, tenant, device string, e *api.DeviceError) error
	// LastErrors returns the last failure of every failing device of tenant,
	// or of all tenants when tenant is "".
	LastErrors(ctx context.Context, tenant string) (map[DeviceKey]api.DeviceError, error)
	Close() error
}
