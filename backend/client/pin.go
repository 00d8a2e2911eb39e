package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Pinner pins and unpins snapshots (issue 9). Both clients implement it;
// it is apart from Client so that other Client implementations need not.
type Pinner interface {
	// Pin pins (pinned) or unpins the device's snapshot ref ("latest", a
	// hash or a unique prefix) and returns its record with the pin fields.
	Pin(ctx context.Context, tenant, device, ref string, pinned bool, note string) (api.SnapshotRecord, error)
}

var (
	_ Pinner = (*Direct)(nil)
	_ Pinner = (*Remote)(nil)
)

// Pin implements Pinner on the local store.
func (d *Direct) Pin(ctx context.Context, tenant, device, ref string, pinned bool, note string) (api.SnapshotRecord, error) {
	if _, ok := d.s.Inventory().Device(tenant, device); !ok {
		return api.SnapshotRecord{}, api.Errorf(api.KindNotFound, "device %s/%s not found", tenant, device)
	}
	return PinIn(ctx, d.s.Store, tenant, device, ref, pinned, note)
}

// PinIn resolves ref in st and pins or unpins it: the one implementation
// the direct client and the service share.
func PinIn(ctx context.Context, st store.Store, tenant, device, ref string, pinned bool, note string) (api.SnapshotRecord, error) {
	if len(note) > api.MaxPinNote {
		return api.SnapshotRecord{}, api.Errorf(api.KindBadRequest, "pin note is %d bytes: at most %d", len(note), api.MaxPinNote)
	}
	r, ok := st.(store.Retainer)
	if !ok {
		return api.SnapshotRecord{}, api.Errorf(api.KindInternal, "this store cannot pin snapshots")
	}
	rec, err := st.Find(ctx, tenant, device, ref)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.SnapshotRecord{}, api.Wrap(api.KindNotFound, err, fmt.Sprintf("no snapshot %s of %s/%s", ref, tenant, device))
		}
		return api.SnapshotRecord{}, err
	}
	out, err := r.SetPin(ctx, tenant, device, rec.SnapshotID, pinned, note)
	if errors.Is(err, store.ErrNotFound) {
		// Pruned between Find and SetPin.
		return api.SnapshotRecord{}, api.Wrap(api.KindNotFound, err, fmt.Sprintf("snapshot %s of %s/%s", ref, tenant, device))
	}
	return out, err
}

// Pin implements Pinner over NATS (cfgsnap.snapshot.pin.<tenant>).
func (r *Remote) Pin(ctx context.Context, tenant, device, ref string, pinned bool, note string) (api.SnapshotRecord, error) {
	if err := checkIDs(tenant, device); err != nil {
		return api.SnapshotRecord{}, err
	}
	var rep api.SnapshotRecord
	req := api.PinRequest{DeviceID: device, Ref: ref, Pinned: pinned, Note: note}
	if err := r.query(ctx, r.subj.Pin(tenant), "pin snapshots of tenant "+tenant, req, &rep); err != nil {
		return api.SnapshotRecord{}, err
	}
	return rep, nil
}
