package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Direct runs backups in this process on a local stack. Jobs of other
// processes on the same data dir are seen through the shared lock table and
// store, by polling.
type Direct struct {
	s   *local.Stack
	hub hub
	// fleet is the search engine of Search and Changes (search.go).
	fleet fleetEngine
	// PollEvery is how often watchers look for jobs and snapshots of other
	// processes sharing the data dir.
	PollEvery time.Duration
}

// NewDirect returns a direct-mode client on s.
func NewDirect(s *local.Stack) *Direct {
	d := &Direct{s: s, PollEvery: 500 * time.Millisecond}
	s.OnStored(d.hub.snapshot)
	return d
}

func (d *Direct) Mode() Mode           { return ModeDirect }
func (d *Direct) Where() string        { return d.s.DataDir }
func (d *Direct) ConnState() ConnState { return ConnLocal }
func (d *Direct) Close() error         { return nil }

func (d *Direct) Tenants(ctx context.Context) ([]api.Tenant, error) { return d.s.Tenants(), nil }

func (d *Direct) Devices(ctx context.Context, tenant string) ([]api.Device, error) {
	return d.s.Devices(ctx, tenant)
}

func (d *Direct) Backup(ctx context.Context, tenant, device string, opts BackupOptions, progress func(api.ProgressEvent)) (api.TriggerReply, error) {
	req := backup.Request{TenantID: tenant, DeviceID: device, RequestedBy: opts.RequestedBy,
		Reason: opts.Reason, Trigger: api.TriggerManual}
	reply := d.s.Pipeline.Backup(ctx, req, func(ev api.ProgressEvent) {
		if progress != nil {
			progress(ev)
		}
		d.hub.device(tenant, device, Update{Progress: &ev})
	})
	d.hub.device(tenant, device, Update{Final: &reply})
	return reply, nil
}

func (d *Direct) History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error) {
	if _, ok := d.s.Inventory().Device(tenant, device); !ok {
		return nil, false, api.Errorf(api.KindNotFound, "device %s/%s not found", tenant, device)
	}
	recs, more, err := d.s.Store.History(ctx, tenant, device, limit, before)
	if err != nil {
		return nil, false, api.Wrap(api.KindStorage, err, "read history")
	}
	return recs, more, nil
}

func (d *Direct) Snapshot(ctx context.Context, tenant, device, hash string) (api.SnapshotRecord, []byte, error) {
	if _, ok := d.s.Inventory().Device(tenant, device); !ok {
		return api.SnapshotRecord{}, nil, api.Errorf(api.KindNotFound, "device %s/%s not found", tenant, device)
	}
	rec, err := d.s.Store.Find(ctx, tenant, device, hash)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.SnapshotRecord{}, nil, api.Wrap(api.KindNotFound, err, fmt.Sprintf("no snapshot %s of %s/%s", hash, tenant, device))
		}
		return api.SnapshotRecord{}, nil, api.Wrap(api.KindBadRequest, err, "find snapshot")
	}
	content, err := d.s.Store.Content(ctx, rec.SHA256)
	if err != nil {
		return api.SnapshotRecord{}, nil, api.Wrap(api.KindStorage, err, "read snapshot content")
	}
	return rec, content, nil
}

func (d *Direct) ForgetHostKey(ctx context.Context, tenant, device string) error {
	dev, ok := d.s.Inventory().Device(tenant, device)
	if !ok {
		return api.Errorf(api.KindNotFound, "device %s/%s not found", tenant, device)
	}
	if _, _, err := d.s.HostKeys.ForgetDevice(ctx, tenant, device, dev.Host, dev.Port); err != nil {
		return api.Wrap(api.KindStorage, err, "forget host key")
	}
	return nil
}

// WatchDevice reports this process's jobs on the device as they happen and,
// by polling the shared lock table, the stage of another process's job and
// its outcome (the newest record or the last error) once its lock is gone.
func (d *Direct) WatchDevice(ctx context.Context, tenant, device string, fn func(Update)) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	unsub := d.hub.watchDevice(tenant, device, fn)
	go d.pollDevice(ctx, tenant, device, fn)
	return func() { cancel(); unsub() }, nil
}

func (d *Direct) pollDevice(ctx context.Context, tenant, device string, fn func(Update)) {
	key := backup.Key(tenant, device)
	t := time.NewTicker(d.PollEvery)
	defer t.Stop()
	var last *lock.Info
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		info, err := d.s.Locker.Holder(ctx, key)
		if err != nil {
			continue
		}
		if info != nil && d.hub.localJob(info.JobID) {
			last = nil // this process reports its own jobs as they happen
			continue
		}
		switch {
		case info != nil && (last == nil || last.Stage != info.Stage || last.JobID != info.JobID):
			now := time.Now()
			fn(Update{Progress: &api.ProgressEvent{JobID: info.JobID, TenantID: tenant, DeviceID: device,
				Stage: info.Stage, At: now, ElapsedMS: now.Sub(info.Since).Milliseconds(), Detail: "held by " + info.Holder}})
			last = info
		case info == nil && last != nil:
			fn(Update{Final: d.outcome(ctx, tenant, device, *last)})
			last = nil
		}
	}
}

// outcome reconstructs the final reply of another process's job from what
// it left in the store.
func (d *Direct) outcome(ctx context.Context, tenant, device string, held lock.Info) *api.TriggerReply {
	if rec, err := d.s.Store.Latest(ctx, tenant, device); err == nil && rec != nil && !rec.CollectedAt.Before(held.Since) {
		r := api.SuccessReply(held.JobID, *rec)
		return &r
	}
	if errs, err := d.s.Store.LastErrors(ctx, tenant); err == nil {
		if e, ok := errs[store.DeviceKey{Tenant: tenant, Device: device}]; ok && !e.At.Before(held.Since) {
			return &api.TriggerReply{Status: api.StatusFailed, Error: e.Error, ErrorKind: e.Kind,
				JobID: held.JobID, TenantID: tenant, DeviceID: device}
		}
	}
	return &api.TriggerReply{Status: api.StatusFailed, ErrorKind: api.KindInternal,
		Error: "the other job ended without a result (its process may have died)", JobID: held.JobID,
		TenantID: tenant, DeviceID: device}
}

// WatchSnapshots reports snapshots stored by this process at once and those
// of other processes on the next poll.
func (d *Direct) WatchSnapshots(ctx context.Context, tenant string, fn func(api.SnapshotRecord)) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	seen := map[string]bool{}
	var mu sync.Mutex
	deliver := func(rec api.SnapshotRecord) {
		mu.Lock()
		dup := seen[rec.SnapshotID]
		seen[rec.SnapshotID] = true
		mu.Unlock()
		if !dup {
			fn(rec)
		}
	}
	latest, err := d.s.Store.LatestAll(ctx, tenant)
	if err != nil {
		cancel()
		return nil, api.Wrap(api.KindStorage, err, "read last backups")
	}
	for _, r := range latest {
		seen[r.SnapshotID] = true
	}
	unsub := d.hub.watchSnapshots(tenant, deliver)
	go func() {
		t := time.NewTicker(d.PollEvery * 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			latest, err := d.s.Store.LatestAll(ctx, tenant)
			if err != nil {
				continue
			}
			for _, r := range latest {
				deliver(r)
			}
		}
	}()
	return func() { cancel(); unsub() }, nil
}

// ShellLogin is what an interactive ssh to a device needs: where it is,
// the inventory's user, and the known_hosts files the backups trust. The
// password stays in the inventory: the user's ssh asks for it or uses
// their own agent and keys.
type ShellLogin struct {
	Host       string
	Port       int
	User       string
	KnownHosts []string
}

// ShellLogin returns the login of a device of the inventory (the TUI's
// shell key in direct mode).
func (d *Direct) ShellLogin(tenant, device string) (ShellLogin, error) {
	dev, ok := d.s.Inventory().Device(tenant, device)
	if !ok {
		return ShellLogin{}, api.Errorf(api.KindNotFound, "device %s/%s not found", tenant, device)
	}
	l := ShellLogin{Host: dev.Host, Port: dev.Port, User: dev.Username}
	if hk := d.s.HostKeys; hk != nil {
		if hk.File != "" {
			l.KnownHosts = append(l.KnownHosts, hk.File)
		}
		l.KnownHosts = append(l.KnownHosts, hk.ReadOnly...)
	}
	return l, nil
}
