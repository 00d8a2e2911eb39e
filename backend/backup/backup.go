// Package backup is the backup pipeline: validate → lock → connect → detect
// the RouterOS version → export → validate → normalise → hash → store. One
// piece of code serves the CLI's direct mode and the NATS service; they
// differ only in where the inventory, store and lock live and where the
// progress events go.
package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/collect"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout   = 60 * time.Second
	DefaultLockTTL   = 30 * time.Second
	DefaultMaxOutput = 64 << 20
)

// resourceLimits bound /system resource print: a few hundred bytes on a
// real device, so 64 KiB is generous, and it answers at once.
var resourceLimits = collect.Limits{MaxBytes: 64 << 10, Timeout: 20 * time.Second}

// Inventory gives the pipeline the current inventory; the service swaps it
// on SIGHUP, so the pipeline asks for it per job.
type Inventory interface {
	Device(tenant, id string) (*inventory.Device, bool)
}

// Config is what a Pipeline needs. Store, Locker, Dialer and Inventory are
// required.
type Config struct {
	Inventory func() Inventory
	Store     store.Store
	Locker    lock.Locker
	Dialer    *collect.Dialer
	// Holder names who runs the jobs, "user@host", shown to whoever collides.
	Holder string
	PID    int
	// Timeout bounds one job from connecting to storing.
	Timeout time.Duration
	// LockTTL is the lease length; the lease is renewed every LockTTL/3.
	LockTTL time.Duration
	// MaxOutput bounds the bytes read from one export, so a device that
	// streams garbage forever cannot exhaust memory.
	MaxOutput int64
	// OnStored is called after each stored snapshot (the service publishes
	// snapshot.created from it). It must not block.
	OnStored func(api.SnapshotRecord)
	// OnFailed is called after each failed backup, once its error is
	// recorded (the --on-failure hooks run from it). It must not block.
	OnFailed func(Failure)
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Request asks for one backup.
type Request struct {
	TenantID, DeviceID string
	RequestedBy        string
	Reason             string
	Trigger            api.Trigger
}

// Failure is a backup that failed, for OnFailed. Err is the error the
// reply carries: its text is free of secrets.
type Failure struct {
	JobID              string
	TenantID, DeviceID string
	RequestedBy        string
	Reason             string
	Trigger            api.Trigger
	Err                error
	At                 time.Time
}

// Sink receives progress events. It is called from the job's goroutine and
// must not block for long.
type Sink func(api.ProgressEvent)

// Pipeline runs backups.
type Pipeline struct{ cfg Config }

// New returns a pipeline with cfg's zero fields defaulted.
func New(cfg Config) *Pipeline {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = DefaultLockTTL
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pipeline{cfg: cfg}
}

// Dialer is the SSH dialer the pipeline uses.
func (p *Pipeline) Dialer() *collect.Dialer { return p.cfg.Dialer }

// Timeout is the per-job bound the pipeline applies.
func (p *Pipeline) Timeout() time.Duration { return p.cfg.Timeout }

// Backup prepares and runs one job; it always returns a final reply.
func (p *Pipeline) Backup(ctx context.Context, req Request, sink Sink) api.TriggerReply {
	job, reply := p.Prepare(ctx, req, sink)
	if reply != nil {
		return *reply
	}
	return job.Run(ctx)
}

// Job is a backup that holds its device's lock and waits to run. Exactly
// one of Run or Abort must be called.
type Job struct {
	p       *Pipeline
	id      string
	req     Request
	dev     inventory.Device
	sink    Sink
	start   time.Time
	lease   lock.Lease
	stopKey func()
	lost    <-chan error
	stage   atomic.Value // api.Stage
}

// Key is the lock key of a device.
func Key(tenant, device string) string { return lock.Key(tenant, device) }

// Prepare validates req and takes the device's lock at once. It returns a
// job ready to run (the queued stage has been reported), or a final reply
// (locked or failed) and no job. It never waits for the device.
func (p *Pipeline) Prepare(ctx context.Context, req Request, sink Sink) (*Job, *api.TriggerReply) {
	if sink == nil {
		sink = func(api.ProgressEvent) {}
	}
	if req.Trigger == "" {
		req.Trigger = api.TriggerManual
	}
	jobID := api.NewID()
	fail := func(err error) (*Job, *api.TriggerReply) {
		r := api.FailedReply(jobID, req.TenantID, req.DeviceID, err)
		return nil, &r
	}
	if err := api.CheckID("tenant ID", req.TenantID); err != nil {
		return fail(err)
	}
	if err := api.CheckID("device ID", req.DeviceID); err != nil {
		return fail(err)
	}
	inv := p.cfg.Inventory()
	dev, ok := inv.Device(req.TenantID, req.DeviceID)
	if !ok {
		// The same answer whether the device is unknown or belongs to another
		// tenant: a tenant must not learn what other tenants have.
		return fail(api.Errorf(api.KindNotFound, "device %s not found in tenant %s", req.DeviceID, req.TenantID))
	}
	now := p.cfg.Now()
	info := lock.Info{Holder: p.cfg.Holder, PID: p.cfg.PID, JobID: jobID, Since: now, Stage: api.StageQueued}
	lease, err := p.cfg.Locker.Acquire(ctx, Key(req.TenantID, req.DeviceID), info, p.cfg.LockTTL)
	if err != nil {
		var held *lock.HeldError
		if errors.As(err, &held) {
			r := api.LockedReply(req.TenantID, req.DeviceID, held.LockInfo())
			return nil, &r
		}
		return fail(api.Wrap(api.KindStorage, err, "take the device lock"))
	}
	j := &Job{p: p, id: jobID, req: req, dev: *dev, sink: sink, start: now, lease: lease}
	j.stage.Store(api.StageQueued)
	j.stopKey, j.lost = lock.Keep(context.WithoutCancel(ctx), lease, p.cfg.LockTTL, j.Stage)
	j.emit(api.StageQueued, 0, "")
	return j, nil
}

// ID is the job's ID.
func (j *Job) ID() string { return j.id }

// Stage is the job's current stage.
func (j *Job) Stage() api.Stage { return j.stage.Load().(api.Stage) }

func (j *Job) emit(stage api.Stage, bytes int64, detail string) {
	if stage != j.Stage() {
		j.stage.Store(stage)
		// Record the stage in the lease now, not at the next renewal, so
		// whoever collides with this job sees where it is. A failure here is
		// left to lock.Keep, which notices a lost lease on its own.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = j.lease.Renew(ctx, stage, j.p.cfg.LockTTL)
		cancel()
	}
	now := j.p.cfg.Now()
	j.sink(api.ProgressEvent{JobID: j.id, TenantID: j.req.TenantID, DeviceID: j.req.DeviceID,
		Stage: stage, At: now, ElapsedMS: now.Sub(j.start).Milliseconds(), Bytes: bytes, Detail: detail})
}

// Abort ends a prepared job that will not run (shutdown, full queue) with a
// failed reply and releases its lock.
func (j *Job) Abort(ctx context.Context, err error) api.TriggerReply {
	j.finish(ctx)
	reply := api.FailedReply(j.id, j.req.TenantID, j.req.DeviceID, err)
	j.recordError(ctx, err)
	return reply
}

func (j *Job) finish(ctx context.Context) {
	j.stopKey()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = j.lease.Release(rctx) // an expired lease is released already
}

// Run performs the backup and returns the final reply. The lock is released
// before Run returns.
func (j *Job) Run(ctx context.Context) api.TriggerReply {
	defer j.finish(ctx)
	ctx, cancel := context.WithTimeout(ctx, j.p.cfg.Timeout)
	defer cancel()
	// A job that lost its lock must stop: another job may be running now.
	go func() {
		select {
		case err := <-j.lost:
			if err != nil {
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	j.emit(api.StageLockAcquired, 0, "")
	rec, err := j.run(ctx)
	if err != nil {
		err = j.explain(ctx, err)
		if api.KindOf(err) != api.KindCancelled { // stopped by us: says nothing about the device
			j.recordError(ctx, err)
		}
		return api.FailedReply(j.id, j.req.TenantID, j.req.DeviceID, err)
	}
	return api.SuccessReply(j.id, rec)
}

// explain turns a context error into the kind a person understands: the
// job's own deadline is a timeout, a lost lock is internal.
func (j *Job) explain(ctx context.Context, err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	select {
	case lostErr := <-j.lost:
		if lostErr != nil {
			return api.Wrap(api.KindInternal, lostErr, "the device lock was lost while the backup ran (the store was unreachable for longer than the lease)")
		}
	default:
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return api.Wrap(api.KindTimeout, err, fmt.Sprintf("backup did not finish within %s", j.p.cfg.Timeout))
	}
	if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
		return api.Wrap(api.KindCancelled, err, "backup cancelled")
	}
	return api.Wrap(api.KindInternal, err, "backup failed")
}

func (j *Job) recordError(ctx context.Context, err error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = j.p.cfg.Store.SetLastError(rctx, j.req.TenantID, j.req.DeviceID,
		&api.DeviceError{Kind: api.KindOf(err), Error: err.Error(), At: j.p.cfg.Now()})
	if j.p.cfg.OnFailed != nil {
		j.p.cfg.OnFailed(Failure{JobID: j.id, TenantID: j.req.TenantID, DeviceID: j.req.DeviceID,
			RequestedBy: j.req.RequestedBy, Reason: j.req.Reason, Trigger: j.req.Trigger, Err: err, At: j.p.cfg.Now()})
	}
}

func (j *Job) run(ctx context.Context) (api.SnapshotRecord, error) {
	target, err := j.target()
	if err != nil {
		return api.SnapshotRecord{}, err
	}
	d := *j.p.cfg.Dialer
	d.OnStage = func(s api.Stage) { j.emit(s, 0, "") }
	// Behind bastions the connecting stage lasts one handshake per hop;
	// naming the hop tells the watcher which one is slow or failing.
	d.OnHop = func(detail string) { j.emit(api.StageConnecting, 0, detail) }
	conn, err := d.Dial(ctx, target)
	if err != nil {
		return api.SnapshotRecord{}, err
	}
	defer conn.Close()

	var res bytes.Buffer
	if err := conn.Run(ctx, routeros.ResourceCommand, resourceLimits, &res); err != nil {
		return api.SnapshotRecord{}, fmt.Errorf("detect RouterOS version: %w", err)
	}
	version, err := routeros.ParseResource(res.Bytes())
	if err != nil {
		// The parse error quotes the device's version value: keep that a
		// short excerpt, since a rogue device chooses it (up to the 64 KiB cap).
		msg := err.Error()
		if len(msg) > 160 {
			msg = strings.ToValidUTF8(msg[:160], "") + "…"
		}
		return api.SnapshotRecord{}, api.Errorf(api.KindInvalidOutput, "the device did not answer %s like RouterOS: %s", routeros.ResourceCommand, msg)
	}
	cmd := routeros.ExportCommand(version, j.dev.Secrets != "hide")
	j.emit(api.StageExporting, 0, cmd)

	var raw bytes.Buffer
	counter := collect.NewCountingWriter(&raw, 200*time.Millisecond, func(n int64) {
		j.emit(api.StageExporting, n, "")
	})
	// The export's cap is MaxOutput; its deadline is the job's.
	if err := conn.Run(ctx, cmd, collect.Limits{MaxBytes: j.p.cfg.MaxOutput, Timeout: j.p.cfg.Timeout}, counter); err != nil {
		return api.SnapshotRecord{}, err
	}
	conn.Close()

	norm := routeros.Normalize(raw.Bytes())
	if err := routeros.Validate(norm); err != nil {
		// Validate may quote the RouterOS error line it found inside the
		// export; mask anything secret-shaped in it before it travels.
		var ae *api.Error
		if errors.As(err, &ae) {
			ae.Msg = redact.Line("", ae.Msg)
		}
		return api.SnapshotRecord{}, err
	}
	hash := routeros.Hash(norm)
	j.emit(api.StageStoring, int64(raw.Len()), "")
	rec := api.SnapshotRecord{
		TenantID: j.req.TenantID, DeviceID: j.req.DeviceID, SHA256: hash,
		CollectedAt: j.p.cfg.Now().UTC(), Trigger: j.req.Trigger,
		RequestedBy: j.req.RequestedBy, Reason: j.req.Reason,
		RouterOSVersion: version.String(), NormalizationVersion: api.NormalizationVersion,
		DurationMS: j.p.cfg.Now().Sub(j.start).Milliseconds(),
	}
	stored, err := j.p.cfg.Store.Record(ctx, rec, norm)
	if err != nil {
		return api.SnapshotRecord{}, api.Wrap(api.KindStorage, err, "store the snapshot")
	}
	_ = j.p.cfg.Store.SetLastError(ctx, j.req.TenantID, j.req.DeviceID, nil)
	if j.p.cfg.OnStored != nil {
		j.p.cfg.OnStored(stored)
	}
	return stored, nil
}

func (j *Job) target() (collect.Target, error) {
	c := j.dev.Credentials
	pw, err := c.ResolvePassword()
	if err != nil {
		return collect.Target{}, api.Wrap(api.KindAuthFailed, err, "read the device's password")
	}
	return collect.Target{
		Label: Key(j.req.TenantID, j.req.DeviceID),
		Host:  j.dev.Host, Port: j.dev.Port,
		Auth: collect.Auth{Username: j.dev.Username, Password: pw,
			IdentityFile: c.IdentityFile, UseAgent: c.UseAgent},
		HostKeyPin:        j.dev.HostKey,
		ProxyJump:         j.dev.ProxyJump,
		ProxyIdentityFile: j.dev.ProxyIdentityFile,
		LegacyAlgorithms:  j.dev.LegacyAlgorithms,
		Implicit:          collect.Implicit{Username: j.dev.UsernameIsDefault, Port: j.dev.PortIsDefault},
	}, nil
}
