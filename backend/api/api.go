// Package api holds the wire types and NATS subjects shared by the backup
// service, its clients and the TUI. The JSON shapes are the contract of
// docs/protocol.md; change them only by adding fields.
package api

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Status is the outcome of a trigger.
type Status string

const (
	StatusSuccess Status = "success"
	StatusFailed  Status = "failed"
	StatusLocked  Status = "locked"
)

// ErrorKind classifies a failed backup so that callers (and people) can
// decide what to do next. The set is fixed by protocol.md §3.
type ErrorKind string

const (
	KindNotFound        ErrorKind = "not_found"
	KindBadRequest      ErrorKind = "bad_request"
	KindUnreachable     ErrorKind = "unreachable"
	KindTimeout         ErrorKind = "timeout"
	KindAuthFailed      ErrorKind = "auth_failed"
	KindHostKeyMismatch ErrorKind = "host_key_mismatch"
	KindTruncated       ErrorKind = "truncated_output"
	KindInvalidOutput   ErrorKind = "invalid_output"
	KindStorage         ErrorKind = "storage"
	KindInternal        ErrorKind = "internal"
	// KindSSHAlgorithms extends protocol.md §3's set: the device and
	// cfgsnap share no SSH algorithm (old RouterOS without strong crypto).
	// Its fix is a setting (ssh_legacy_algorithms: true) or a device
	// command, not a retry, so it is not folded into unreachable.
	KindSSHAlgorithms ErrorKind = "ssh_algorithms"
)

// KindCancelled is an extension of protocol.md §3: the job was stopped by
// this side (Ctrl-C on the CLI, a client that gave up), never the device's
// fault. It is not in ErrorKinds, the protocol's set: a cancelled job is not
// recorded as the device's last error, and no stored record carries it.
const KindCancelled ErrorKind = "cancelled"

// KindRateLimited extends protocol.md §3: a trigger refused because its
// requester (a TUI user, a tenant) used its budget; the text says when to
// retry. Like cancelled, it is not in ErrorKinds: nothing records it as a
// device's last error.
const KindRateLimited ErrorKind = "rate_limited"

// ErrorKinds lists every kind, in the order of protocol.md §3, then the
// kinds added since (ssh_algorithms).
var ErrorKinds = []ErrorKind{KindNotFound, KindBadRequest, KindUnreachable, KindTimeout,
	KindAuthFailed, KindHostKeyMismatch, KindTruncated, KindInvalidOutput, KindStorage, KindInternal,
	KindSSHAlgorithms}

// Stage is a step of a running backup job, in the order they happen.
type Stage string

const (
	StageQueued         Stage = "queued"
	StageLockAcquired   Stage = "lock_acquired"
	StageConnecting     Stage = "connecting"
	StageAuthenticating Stage = "authenticating"
	StageExporting      Stage = "exporting"
	StageStoring        Stage = "storing"
)

// Stages lists the stages in order.
var Stages = []Stage{StageQueued, StageLockAcquired, StageConnecting, StageAuthenticating, StageExporting, StageStoring}

// Index returns the position of s in Stages, or -1.
func (s Stage) Index() int {
	for i, x := range Stages {
		if x == s {
			return i
		}
	}
	return -1
}

// Trigger says what started a backup.
type Trigger string

const (
	TriggerManual    Trigger = "manual"
	TriggerScheduled Trigger = "scheduled"
)

// NormalizationVersion is the version of the normalisation rules that the
// hashes of this build are computed with (docs/normalization.md).
const NormalizationVersion = 1

// MessageCollected is the seed-compatible success message.
const MessageCollected = "Config snapshot collected"

// MessageLocked is the seed-compatible locked message.
const MessageLocked = "backup already in progress"

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id may be used as a tenant or device ID, and so
// as a NATS subject token.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// CheckID returns a bad_request error when id is not a valid ID.
func CheckID(what, id string) error {
	if !ValidID(id) {
		return Errorf(KindBadRequest, "invalid %s %q: use 1-64 letters, digits, '_' or '-'", what, id)
	}
	return nil
}

// CompatTriggerRequest is the body of the seed-compatible
// config.backup.trigger request.
type CompatTriggerRequest struct {
	DeviceID string `json:"device_id"`
	TenantID string `json:"tenant_id"`
}

// TriggerRequest is the body of cfgsnap.backup.trigger.<tenant>. TenantID
// is optional; when present it must equal the subject's tenant.
type TriggerRequest struct {
	DeviceID    string `json:"device_id"`
	TenantID    string `json:"tenant_id,omitempty"`
	RequestedBy string `json:"requested_by,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// LockInfo says who holds a device's lock, for a locked reply.
type LockInfo struct {
	Holder string    `json:"holder"`
	JobID  string    `json:"job_id"`
	Since  time.Time `json:"since"`
	Stage  Stage     `json:"stage"`
}

// TriggerReply is the final reply to a trigger (protocol.md §1 and §3).
// Fields other than the first four are omitted when empty so that the
// seed-compatible reply keeps its original shape.
type TriggerReply struct {
	Status    Status    `json:"status"`
	SHA256    string    `json:"sha256_hash,omitempty"`
	Message   string    `json:"message,omitempty"`
	Error     string    `json:"error,omitempty"`
	ErrorKind ErrorKind `json:"error_kind,omitempty"`
	Lock      *LockInfo `json:"lock,omitempty"`

	JobID                string    `json:"job_id,omitempty"`
	TenantID             string    `json:"tenant_id,omitempty"`
	DeviceID             string    `json:"device_id,omitempty"`
	Changed              *bool     `json:"changed,omitempty"`
	PreviousHash         string    `json:"previous_hash,omitempty"`
	SnapshotID           string    `json:"snapshot_id,omitempty"`
	CollectedAt          time.Time `json:"collected_at,omitzero"`
	SizeBytes            int64     `json:"size_bytes,omitempty"`
	DurationMS           int64     `json:"duration_ms,omitempty"`
	RouterOSVersion      string    `json:"routeros_version,omitempty"`
	NormalizationVersion int       `json:"normalization_version,omitempty"`
}

// IsChanged reports whether a successful backup found a new configuration.
func (r TriggerReply) IsChanged() bool { return r.Changed != nil && *r.Changed }

// SuccessReply builds the reply for a stored snapshot.
func SuccessReply(jobID string, rec SnapshotRecord) TriggerReply {
	changed := rec.Changed
	return TriggerReply{
		Status: StatusSuccess, SHA256: rec.SHA256, Message: MessageCollected,
		JobID: jobID, TenantID: rec.TenantID, DeviceID: rec.DeviceID,
		Changed: &changed, PreviousHash: rec.PreviousHash, SnapshotID: rec.SnapshotID,
		CollectedAt: rec.CollectedAt, SizeBytes: rec.SizeBytes, DurationMS: rec.DurationMS,
		RouterOSVersion: rec.RouterOSVersion, NormalizationVersion: rec.NormalizationVersion,
	}
}

// FailedReply builds the reply for err, classified by KindOf.
func FailedReply(jobID, tenant, device string, err error) TriggerReply {
	return TriggerReply{Status: StatusFailed, Error: err.Error(), ErrorKind: KindOf(err),
		JobID: jobID, TenantID: tenant, DeviceID: device}
}

// LockedReply builds the reply for a device held by another job.
func LockedReply(tenant, device string, l LockInfo) TriggerReply {
	return TriggerReply{Status: StatusLocked, Message: MessageLocked, Lock: &l,
		TenantID: tenant, DeviceID: device}
}

// ProgressEvent reports a running job's stage (protocol.md §4).
type ProgressEvent struct {
	JobID     string    `json:"job_id"`
	TenantID  string    `json:"tenant_id"`
	DeviceID  string    `json:"device_id"`
	Stage     Stage     `json:"stage"`
	At        time.Time `json:"at"`
	ElapsedMS int64     `json:"elapsed_ms"`
	Bytes     int64     `json:"bytes,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// SnapshotRecord is one backup of one device (protocol.md §5).
type SnapshotRecord struct {
	SnapshotID           string    `json:"snapshot_id"`
	TenantID             string    `json:"tenant_id"`
	DeviceID             string    `json:"device_id"`
	SHA256               string    `json:"sha256_hash"`
	CollectedAt          time.Time `json:"collected_at"`
	SizeBytes            int64     `json:"size_bytes"`
	Changed              bool      `json:"changed"`
	PreviousHash         string    `json:"previous_hash"`
	Trigger              Trigger   `json:"trigger"`
	RequestedBy          string    `json:"requested_by"`
	Reason               string    `json:"reason"`
	RouterOSVersion      string    `json:"routeros_version"`
	NormalizationVersion int       `json:"normalization_version"`
	DurationMS           int64     `json:"duration_ms"`
	// Pinned snapshots are never removed by retention (issue 9); PinNote
	// says why. Added fields: omitted when unpinned, as before.
	Pinned  bool   `json:"pinned,omitempty"`
	PinNote string `json:"pin_note,omitempty"`
}

// DeviceError is the last failure of a device.
type DeviceError struct {
	Kind  ErrorKind `json:"kind"`
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

// Device is a device as clients see it: no credentials, ever.
type Device struct {
	ID         string          `json:"id"`
	TenantID   string          `json:"tenant_id"`
	Name       string          `json:"name"`
	Host       string          `json:"host"`
	Port       int             `json:"port"`
	Model      string          `json:"model"`
	Tags       []string        `json:"tags"`
	LastBackup *SnapshotRecord `json:"last_backup"`
	LastError  *DeviceError    `json:"last_error"`
	Busy       bool            `json:"busy"`
}

// Tenant is a tenant with its device count.
type Tenant struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DeviceCount int    `json:"device_count"`
}

// TenantsReply answers cfgsnap.inventory.tenants.
type TenantsReply struct {
	Tenants []Tenant `json:"tenants"`
}

// DevicesReply answers cfgsnap.inventory.devices.<tenant>.
type DevicesReply struct {
	Devices []Device `json:"devices"`
}

// ListRequest asks for a device's history, newest first.
type ListRequest struct {
	DeviceID string `json:"device_id"`
	Limit    int    `json:"limit,omitempty"`
	Before   string `json:"before,omitempty"`
}

// ListReply answers cfgsnap.snapshot.list.<tenant>.
type ListReply struct {
	Snapshots []SnapshotRecord `json:"snapshots"`
	More      bool             `json:"more"`
}

// GetRequest asks for one snapshot's content.
type GetRequest struct {
	DeviceID string `json:"device_id"`
	SHA256   string `json:"sha256_hash"`
}

// GetReply answers cfgsnap.snapshot.get.<tenant>.
type GetReply struct {
	SnapshotRecord
	Content string `json:"content"`
}

// ErrorReply is the body of a refused request on the query subjects
// (inventory.*, snapshot.*). It also carries the micro error headers
// (Nats-Service-Error, Nats-Service-Error-Code) so `nats micro stats`
// counts it. Refused triggers answer with a failed trigger reply instead.
type ErrorReply struct {
	Error     string    `json:"error"`
	ErrorKind ErrorKind `json:"error_kind"`
}

// Error is an error with a kind from protocol.md §3. Msg is written for a
// person: what went wrong and, where it helps, what to do.
type Error struct {
	Kind ErrorKind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind with a formatted message.
func Errorf(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns err as an *Error of kind with msg in front, or nil for nil.
func Wrap(kind ErrorKind, err error, msg string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Msg: msg, Err: err}
}

// KindOf returns the kind of the first *Error in err's chain, or internal.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
