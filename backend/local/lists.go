package local

import (
	"context"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Tenants lists the inventory's tenants, as direct mode and the service's
// inventory.tenants endpoint both answer them. Never nil, so the JSON reply
// is `[]` for an empty inventory.
func (s *Stack) Tenants() []api.Tenant {
	inv := s.Inventory()
	out := make([]api.Tenant, 0, len(inv.Tenants))
	for _, t := range inv.Tenants {
		out = append(out, api.Tenant{ID: t.ID, Name: t.Name, DeviceCount: len(t.Devices)})
	}
	return out
}

// Devices joins a tenant's inventory with its last backups, last errors and
// running jobs: three queries whatever the fleet size. An unknown tenant is
// not_found.
func (s *Stack) Devices(ctx context.Context, tenant string) ([]api.Device, error) {
	t, ok := s.Inventory().Tenant(tenant)
	if !ok {
		return nil, api.Errorf(api.KindNotFound, "tenant %s not found", tenant)
	}
	latest, err := s.Store.LatestAll(ctx, t.ID)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read last backups")
	}
	errs, err := s.Store.LastErrors(ctx, t.ID)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read last errors")
	}
	holders, err := s.Locker.Holders(ctx)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read running jobs")
	}
	out := make([]api.Device, 0, len(t.Devices))
	for _, dev := range t.Devices {
		k := store.DeviceKey{Tenant: t.ID, Device: dev.ID}
		ad := api.Device{ID: dev.ID, TenantID: t.ID, Name: dev.Name, Host: dev.Host, Port: dev.Port,
			Model: "routeros", Tags: dev.Tags}
		if ad.Tags == nil {
			ad.Tags = []string{}
		}
		if r, ok := latest[k]; ok {
			ad.LastBackup = &r
		}
		if e, ok := errs[k]; ok {
			ad.LastError = &e
		}
		_, ad.Busy = holders[backup.Key(t.ID, dev.ID)]
		out = append(out, ad)
	}
	return out, nil
}
