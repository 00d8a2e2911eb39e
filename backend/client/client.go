// Package client is what the CLI and the TUI talk to: one interface with a
// remote implementation (NATS, the backup service) and a direct one (the
// backup pipeline in this process, over SSH, with the local store).
package client

import (
	"context"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// Mode says where backups run.
type Mode string

const (
	ModeRemote Mode = "remote"
	ModeDirect Mode = "direct"
)

// ConnState is the state of the connection to the backup service. Direct
// mode is always ConnLocal.
type ConnState string

const (
	ConnLocal        ConnState = "local"
	ConnConnected    ConnState = "connected"
	ConnReconnecting ConnState = "reconnecting"
	ConnDisconnected ConnState = "disconnected"
)

// BackupOptions are the optional fields of a manual trigger.
type BackupOptions struct {
	RequestedBy string
	Reason      string
}

// Update is what a watcher of a device sees: progress events of whatever
// job runs on it, then that job's final reply.
type Update struct {
	Progress *api.ProgressEvent
	Final    *api.TriggerReply
}

// Client is the one interface the CLI and the TUI use. Callbacks may be
// called from other goroutines and must not block: the TUI bridges them into
// its event loop through a bounded channel.
type Client interface {
	Mode() Mode
	// Where is the NATS URL (remote) or the data directory (direct).
	Where() string
	ConnState() ConnState

	Tenants(ctx context.Context) ([]api.Tenant, error)
	Devices(ctx context.Context, tenant string) ([]api.Device, error)

	// Backup runs one backup and returns its final reply. Failures of the
	// backup itself (locked, auth_failed, ...) are in the reply; the error
	// is for when no reply could be had (service unreachable, stalled).
	Backup(ctx context.Context, tenant, device string, opts BackupOptions, progress func(api.ProgressEvent)) (api.TriggerReply, error)

	History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error)
	// Snapshot returns a snapshot's record and content. ref is "latest", a
	// full hash or a unique hash prefix of at least 7 characters.
	Snapshot(ctx context.Context, tenant, device, ref string) (api.SnapshotRecord, []byte, error)

	// WatchDevice calls fn with the progress and final reply of jobs on one
	// device, whoever started them, until stop is called or ctx ends.
	WatchDevice(ctx context.Context, tenant, device string, fn func(Update)) (stop func(), err error)
	// WatchSnapshots calls fn with every snapshot stored for the tenant.
	WatchSnapshots(ctx context.Context, tenant string, fn func(api.SnapshotRecord)) (stop func(), err error)

	// ForgetHostKey forgets a device's recorded SSH host key (direct mode;
	// remote mode returns an error saying to run it on the service host).
	ForgetHostKey(ctx context.Context, tenant, device string) error

	Close() error
}
