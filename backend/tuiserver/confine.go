package tuiserver

import (
	"context"
	"fmt"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
)

// Confined is the client.Client one SSH session uses: every call goes
// through it, so a user's tenants and role are enforced here, below the
// TUI, whatever the TUI asks for. A tenant outside the user's set is "not
// found", exactly like a tenant that does not exist, so names of other
// tenants do not leak.
type Confined struct {
	inner client.Client
	user  *User
	// requestedBy is recorded with every backup ("alice@jump1"); what the
	// TUI sends is ignored.
	requestedBy string
	limit       *ratelimit.Limiter
}

var _ client.Client = (*Confined)(nil)

// Confine wraps inner for user. limit (nil: none) is shared by all of the
// server's sessions so that a user's budget holds across sessions.
func Confine(inner client.Client, user *User, requestedBy string, limit *ratelimit.Limiter) *Confined {
	return &Confined{inner: inner, user: user, requestedBy: requestedBy, limit: limit}
}

func (c *Confined) check(tenant string) error {
	if err := api.CheckID("tenant", tenant); err != nil {
		return err
	}
	if !c.user.MayUse(tenant) {
		return api.Errorf(api.KindNotFound, "tenant %q not found", tenant)
	}
	return nil
}

func (c *Confined) Mode() client.Mode           { return c.inner.Mode() }
func (c *Confined) Where() string               { return c.inner.Where() }
func (c *Confined) ConnState() client.ConnState { return c.inner.ConnState() }

// Close does not close the shared client the sessions run on.
func (c *Confined) Close() error { return nil }

func (c *Confined) Tenants(ctx context.Context) ([]api.Tenant, error) {
	all, err := c.inner.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Tenant, 0, len(all))
	for _, t := range all {
		if c.user.MayUse(t.ID) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (c *Confined) Devices(ctx context.Context, tenant string) ([]api.Device, error) {
	if err := c.check(tenant); err != nil {
		return nil, err
	}
	return c.inner.Devices(ctx, tenant)
}

// Backup refuses viewers and outside tenants, spends one of the user's
// rate-limit tokens, and records the session's user as the requester.
func (c *Confined) Backup(ctx context.Context, tenant, device string, opts client.BackupOptions, progress func(api.ProgressEvent)) (api.TriggerReply, error) {
	err := c.check(tenant)
	if err == nil && c.user.Role != RoleOperator {
		err = api.Errorf(api.KindBadRequest, "%s is a viewer: backups need the operator role (ask whoever runs cfgsnap serve)", c.user.Name)
	}
	if err == nil {
		err = c.limit.Allow(c.user.Name, "user "+c.user.Name)
	}
	if err != nil {
		return api.FailedReply("", tenant, device, err), err
	}
	opts.RequestedBy = c.requestedBy
	return c.inner.Backup(ctx, tenant, device, opts, progress)
}

func (c *Confined) History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error) {
	if err := c.check(tenant); err != nil {
		return nil, false, err
	}
	return c.inner.History(ctx, tenant, device, limit, before)
}

func (c *Confined) Snapshot(ctx context.Context, tenant, device, ref string) (api.SnapshotRecord, []byte, error) {
	if err := c.check(tenant); err != nil {
		return api.SnapshotRecord{}, nil, err
	}
	return c.inner.Snapshot(ctx, tenant, device, ref)
}

func (c *Confined) WatchDevice(ctx context.Context, tenant, device string, fn func(client.Update)) (func(), error) {
	if err := c.check(tenant); err != nil {
		return nil, err
	}
	return c.inner.WatchDevice(ctx, tenant, device, fn)
}

func (c *Confined) WatchSnapshots(ctx context.Context, tenant string, fn func(api.SnapshotRecord)) (func(), error) {
	if err := c.check(tenant); err != nil {
		return nil, err
	}
	return c.inner.WatchSnapshots(ctx, tenant, fn)
}

// ForgetHostKey is an operator's act on the service host; from a shared
// TUI it is refused outright (the remote client refuses it too).
func (c *Confined) ForgetHostKey(ctx context.Context, tenant, device string) error {
	if err := c.check(tenant); err != nil {
		return err
	}
	return api.Errorf(api.KindBadRequest, "forgetting %s/%s's host key is done on the service host (cfgsnap hostkey forget), not from a shared TUI session", tenant, device)
}

// String names the session's user, for logs.
func (c *Confined) String() string { return fmt.Sprintf("%s (%s)", c.user.Name, c.user.Role) }
