package tuiserver

import (
	"cmp"
	"context"
	"fmt"
	"slices"

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

var (
	_ client.Fleet  = (*Confined)(nil)
	_ client.Pinner = (*Confined)(nil)
)

// tenantsFor is the tenants a fleet query may cover: the one asked for
// (checked), else every tenant of the user. The query then goes to the
// service one tenant at a time, so the service's own view of all tenants
// never reaches the session.
func (c *Confined) tenantsFor(ctx context.Context, tenant string) ([]string, error) {
	if tenant != "" {
		if err := c.check(tenant); err != nil {
			return nil, err
		}
		return []string{tenant}, nil
	}
	ts, err := c.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out, nil
}

// Search searches the user's tenants only, never with secrets: a served
// session shows redacted lines, and a pattern must not probe secret values.
func (c *Confined) Search(ctx context.Context, req api.SearchRequest) (api.SearchReply, error) {
	f, err := client.AsFleet(c.inner)
	if err != nil {
		return api.SearchReply{}, err
	}
	tenants, err := c.tenantsFor(ctx, req.TenantID)
	if err != nil {
		return api.SearchReply{}, err
	}
	req.Secrets = false
	limit := cmp.Or(req.Max, api.DefaultSearchMax)
	var out api.SearchReply
	for _, t := range tenants {
		one := req
		one.TenantID, one.Max = t, limit-len(out.Matches)
		rep, err := f.Search(ctx, one)
		if err != nil {
			return api.SearchReply{}, err
		}
		out.Matches = append(out.Matches, rep.Matches...)
		out.Devices += rep.Devices
		out.More = out.More || rep.More
		if len(out.Matches) >= limit {
			out.More = out.More || t != tenants[len(tenants)-1]
			break
		}
	}
	return out, nil
}

// Changes lists the changes of the user's tenants only.
func (c *Confined) Changes(ctx context.Context, req api.ChangesRequest) (api.ChangesReply, error) {
	f, err := client.AsFleet(c.inner)
	if err != nil {
		return api.ChangesReply{}, err
	}
	tenants, err := c.tenantsFor(ctx, req.TenantID)
	if err != nil {
		return api.ChangesReply{}, err
	}
	var out api.ChangesReply
	for _, t := range tenants {
		one := req
		one.TenantID = t
		rep, err := f.Changes(ctx, one)
		if err != nil {
			return api.ChangesReply{}, err
		}
		out.Changes = append(out.Changes, rep.Changes...)
		out.More = out.More || rep.More
	}
	slices.SortStableFunc(out.Changes, func(a, b api.Change) int { return b.CollectedAt.Compare(a.CollectedAt) })
	if limit := cmp.Or(req.Max, api.DefaultSearchMax); len(out.Changes) > limit {
		out.Changes, out.More = out.Changes[:limit], true
	}
	return out, nil
}

// Pin is a write: operators only, in their tenants.
func (c *Confined) Pin(ctx context.Context, tenant, device, ref string, pinned bool, note string) (api.SnapshotRecord, error) {
	if err := c.check(tenant); err != nil {
		return api.SnapshotRecord{}, err
	}
	if c.user.Role != RoleOperator {
		return api.SnapshotRecord{}, api.Errorf(api.KindBadRequest, "%s is a viewer: pinning needs the operator role", c.user.Name)
	}
	p, ok := c.inner.(client.Pinner)
	if !ok {
		return api.SnapshotRecord{}, api.Errorf(api.KindInternal, "this service cannot pin snapshots")
	}
	return p.Pin(ctx, tenant, device, ref, pinned, note)
}
