package client

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/search"
)

// Fleet is the fleet-wide questions both clients answer: search of the
// latest configurations and what changed. It is kept apart from Client so
// that implementations of Client elsewhere (test fakes) need not grow; the
// CLI and the TUI get it from their Client with AsFleet.
type Fleet interface {
	// Search matches req.Pattern against every line of the latest snapshot
	// of every device of req.TenantID ("" = every tenant this client may
	// list), redacted unless req.Secrets. Matches are ordered by tenant,
	// device and line; the reply's More says that matches beyond
	// api.LimitMax(req.Max) exist.
	Search(ctx context.Context, req api.SearchRequest) (api.SearchReply, error)
	// Changes lists the configuration changes (and first snapshots) of
	// req.TenantID ("" = every tenant) since req.Since, newest first.
	Changes(ctx context.Context, req api.ChangesRequest) (api.ChangesReply, error)
}

var (
	_ Fleet = (*Direct)(nil)
	_ Fleet = (*Remote)(nil)
)

// AsFleet returns c's fleet queries, or an error when c has none.
func AsFleet(c Client) (Fleet, error) {
	if f, ok := c.(Fleet); ok {
		return f, nil
	}
	return nil, api.Errorf(api.KindInternal, "this client cannot search the fleet")
}

// fleetEngine is a direct client's search engine, made on first use: it
// holds the interned latest configurations between calls (the TUI searches
// as the user types).
type fleetEngine struct {
	once sync.Once
	e    *search.Engine
}

func (d *Direct) engine() *search.Engine {
	d.fleet.once.Do(func() { d.fleet.e = search.New(d.s.Store) })
	return d.fleet.e
}

// scope confines a direct query to the inventory: one tenant (which must
// exist) or all, and only devices the inventory still has.
func (d *Direct) scope(tenant string) (search.Scope, error) {
	return search.InventoryScope(d.s.Inventory(), tenant)
}

func (d *Direct) Search(ctx context.Context, req api.SearchRequest) (api.SearchReply, error) {
	sc, err := d.scope(req.TenantID)
	if err != nil {
		return api.SearchReply{}, err
	}
	return d.engine().Search(ctx, sc, req)
}

func (d *Direct) Changes(ctx context.Context, req api.ChangesRequest) (api.ChangesReply, error) {
	sc, err := d.scope(req.TenantID)
	if err != nil {
		return api.ChangesReply{}, err
	}
	return d.engine().Changes(ctx, sc, req)
}

// tenantIDs is the tenant asked for, or every tenant this user may list.
func (r *Remote) tenantIDs(ctx context.Context, tenant string) ([]string, error) {
	if tenant != "" {
		if err := api.CheckID("tenant ID", tenant); err != nil {
			return nil, err
		}
		return []string{tenant}, nil
	}
	ts, err := r.Tenants(ctx)
	if err != nil {
		if api.KindOf(err) == api.KindBadRequest {
			return nil, &api.Error{Kind: api.KindBadRequest, Msg: "name the tenant to search (--tenant)", Err: err}
		}
		return nil, err
	}
	ids := make([]string, 0, len(ts))
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// FleetTimeout is how long a search or changes request may wait for its
// reply: the service's first one reads every latest configuration (a few
// seconds at 10,000 devices when the service has not warmed its index
// yet), far past the per-message RequestTimeout. The service gives up
// after 60 s and says so; this leaves room for that reply.
const FleetTimeout = 65 * time.Second

func (r *Remote) fleetWait() time.Duration { return max(r.opts.RequestTimeout, FleetTimeout) }

// Search asks each tenant's search subject in turn (the tenant is a
// subject token, so the NATS permissions of the user decide) and merges
// the replies in tenant order.
func (r *Remote) Search(ctx context.Context, req api.SearchRequest) (api.SearchReply, error) {
	ids, err := r.tenantIDs(ctx, req.TenantID)
	if err != nil {
		return api.SearchReply{}, err
	}
	limit := api.LimitMax(req.Max)
	out := api.SearchReply{Matches: []api.SearchMatch{}}
	for _, t := range ids {
		if len(out.Matches) == limit {
			out.More = true
			break
		}
		q := req
		q.TenantID = t
		q.Max = limit - len(out.Matches)
		var rep api.SearchReply
		if err := r.queryWait(ctx, r.subj.Search(t), "use tenant "+t, q, &rep, r.fleetWait()); err != nil {
			return api.SearchReply{}, err
		}
		out.Matches = append(out.Matches, rep.Matches...)
		out.More = out.More || rep.More
		out.Devices += rep.Devices
	}
	return out, nil
}

// Changes asks each tenant's changes subject and merges newest first.
func (r *Remote) Changes(ctx context.Context, req api.ChangesRequest) (api.ChangesReply, error) {
	ids, err := r.tenantIDs(ctx, req.TenantID)
	if err != nil {
		return api.ChangesReply{}, err
	}
	limit := api.LimitMax(req.Max)
	out := api.ChangesReply{Changes: []api.Change{}}
	for _, t := range ids {
		q := req
		q.TenantID = t
		q.Max = limit
		var rep api.ChangesReply
		if err := r.queryWait(ctx, r.subj.Changes(t), "use tenant "+t, q, &rep, r.fleetWait()); err != nil {
			return api.ChangesReply{}, err
		}
		out.Changes = append(out.Changes, rep.Changes...)
		out.More = out.More || rep.More
	}
	slices.SortStableFunc(out.Changes, func(a, b api.Change) int {
		return cmp.Or(b.CollectedAt.Compare(a.CollectedAt), cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.DeviceID, b.DeviceID))
	})
	if len(out.Changes) > limit {
		out.Changes, out.More = out.Changes[:limit], true
	}
	return out, nil
}
