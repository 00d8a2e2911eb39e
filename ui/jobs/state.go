package jobs

import (
	"charm.land/lipgloss/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Row state.

// StateKind is what a device row shows.
type StateKind int

const (
	StRunning StateKind = iota
	StWaiting
	StLocked
	StFailed
	// StStale: idle, and no successful backup within the stale threshold
	// (the fleet decides; the jobs do not know the clock's threshold).
	StStale
	StOK
	StIdle
)

// Rank orders states for the sort by state: busy and failing first.
func (k StateKind) Rank() int { return int(k) }

// RowState is the state cell of a device row.
type RowState struct {
	Kind  StateKind
	Stage api.Stage
	Err   api.ErrorKind // StFailed; "" when no reply came
}

// State is what the row of device d of tenant shows: our running job
// first, then the latest result of this session, then what the inventory
// says.
func (q *Model) State(tenant string, d api.Device) RowState {
	key := Key{tenant, d.ID}
	if j := q.active[key]; j != nil {
		if j.state == Waiting {
			return RowState{Kind: StWaiting}
		}
		return RowState{Kind: StRunning, Stage: j.stage}
	}
	if r := q.results[key]; r != nil && (d.LastBackup == nil || !d.LastBackup.CollectedAt.After(r.At)) {
		switch {
		case r.Err != nil:
			return RowState{Kind: StFailed}
		case r.Reply.Status == api.StatusSuccess:
			return RowState{Kind: StOK}
		case r.Reply.Status == api.StatusLocked:
			return RowState{Kind: StLocked}
		default:
			return RowState{Kind: StFailed, Err: r.Reply.ErrorKind}
		}
	}
	if d.Busy {
		return RowState{Kind: StLocked}
	}
	if e := d.LastError; e != nil && (d.LastBackup == nil || e.At.After(d.LastBackup.CollectedAt)) {
		return RowState{Kind: StFailed, Err: e.Kind}
	}
	return RowState{Kind: StIdle}
}

var stageShort = map[api.Stage]string{
	api.StageQueued: "queued", api.StageLockAcquired: "lock", api.StageConnecting: "connect",
	api.StageAuthenticating: "auth", api.StageExporting: "export", api.StageStoring: "store",
}

// StageLabel names a stage in a table cell.
func StageLabel(s api.Stage) string {
	if l, ok := stageShort[s]; ok {
		return l
	}
	if s == "" {
		return "starting"
	}
	return common.Clean(string(s))
}

// KindShort names an error kind in a table cell.
func KindShort(k api.ErrorKind) string {
	switch k {
	case "":
		return "no reply"
	case api.KindNotFound:
		return "not found"
	case api.KindBadRequest:
		return "bad request"
	case api.KindUnreachable:
		return "unreachable"
	case api.KindTimeout:
		return "timeout"
	case api.KindAuthFailed:
		return "auth failed"
	case api.KindHostKeyMismatch:
		return "host key"
	case api.KindTruncated:
		return "truncated"
	case api.KindInvalidOutput:
		return "bad output"
	case api.KindStorage:
		return "storage"
	case api.KindInternal:
		return "internal"
	case api.KindSSHAlgorithms:
		return "old ssh"
	case api.KindCancelled:
		return "cancelled"
	}
	return common.Clean(string(k))
}

// StateText is the state cell: the symbol carries the meaning without
// colour, the word says which.
func StateText(s RowState, spin string, long bool) string {
	switch s.Kind {
	case StRunning:
		return spin + " " + StageLabel(s.Stage)
	case StWaiting:
		return "… waiting"
	case StLocked:
		return "⊘ locked"
	case StFailed:
		if long && s.Err != "" {
			return "✗ " + common.Clean(string(s.Err))
		}
		return "✗ " + KindShort(s.Err)
	case StStale:
		return "◷ stale"
	case StOK:
		return "✓ ok"
	}
	return "idle"
}

// StateStyle is the colour of a state cell.
func StateStyle(k StateKind, st *common.Styles) lipgloss.Style {
	switch k {
	case StRunning:
		return st.Running
	case StWaiting, StIdle:
		return st.Dim
	case StLocked, StStale:
		return st.Warn
	case StFailed:
		return st.Bad
	case StOK:
		return st.OK
	}
	return lipgloss.NewStyle()
}

// StageTitle says what a stage does, for the detail pane.
func StageTitle(s api.Stage) string {
	switch s {
	case api.StageQueued:
		return "queued at the service"
	case api.StageLockAcquired:
		return "device locked for the backup"
	case api.StageConnecting:
		return "connecting over SSH"
	case api.StageAuthenticating:
		return "logging in"
	case api.StageExporting:
		return "exporting the configuration"
	case api.StageStoring:
		return "storing the snapshot"
	case "":
		return "starting"
	}
	return common.Clean(string(s))
}

// KindTitle says what happened, for a person in a hurry.
func KindTitle(k api.ErrorKind) string {
	switch k {
	case "":
		return "No reply from the backup service"
	case api.KindAuthFailed:
		return "Wrong credentials: the router refused the login"
	case api.KindHostKeyMismatch:
		return "Host key mismatch: the router's SSH key is not the recorded one"
	case api.KindUnreachable:
		return "Unreachable: no SSH connection to the router"
	case api.KindTimeout:
		return "Timed out: the router did not finish in time"
	case api.KindTruncated:
		return "Truncated export: the configuration arrived incomplete"
	case api.KindInvalidOutput:
		return "Not a RouterOS export: the router answered something else"
	case api.KindNotFound:
		return "Unknown device: the service has no such device in this tenant"
	case api.KindBadRequest:
		return "Request rejected by the service"
	case api.KindStorage:
		return "The snapshot could not be stored"
	case api.KindInternal:
		return "Internal error in the backup pipeline"
	case api.KindSSHAlgorithms:
		return "No common SSH algorithm: the router offers only old ones"
	case api.KindCancelled:
		return "Cancelled on this side"
	}
	return "Backup failed (" + common.Clean(string(k)) + ")"
}
