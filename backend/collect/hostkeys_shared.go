package collect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/hostkey"
)

// canVerify reports whether h can check a host key that is not pinned.
func (h *HostKeys) canVerify() bool {
	return h != nil && (h.Shared != nil || h.File != "")
}

// splitLabel returns the tenant and device of a "tenant/device" label.
func splitLabel(t Target) (tenant, device string, err error) {
	tenant, device, ok := strings.Cut(t.Label, "/")
	if !ok || !api.ValidID(tenant) || !api.ValidID(device) {
		return "", "", api.Errorf(api.KindInternal, "cannot check the host key of %s in the shared store: it is keyed by tenant/device and the target is labelled %q", t.addr(), t.Label)
	}
	return tenant, device, nil
}

// verifyShared applies the rules of the files to the shared store: a
// recorded key must match; with none recorded, the key is recorded by
// create-if-absent, and a worker that loses that race checks the key the
// winner recorded, so racing workers agree on one key or fail.
func (h *HostKeys) verifyShared(ctx context.Context, t Target, key ssh.PublicKey) error {
	tenant, device, err := splitLabel(t)
	if err != nil {
		return err
	}
	cur, err := h.Shared.Get(ctx, tenant, device)
	if err != nil {
		return h.sharedReadError(t, err)
	}
	if cur != nil {
		return h.sharedVerdict(t, key, *cur)
	}
	rec, created, err := h.Shared.Create(ctx, hostkey.Entry{Tenant: tenant, Device: device, Key: key,
		Addr: t.addr(), At: time.Now(), By: h.Worker})
	if err != nil {
		return h.sharedReadError(t, err)
	}
	if !created {
		return h.sharedVerdict(t, key, rec)
	}
	if h.OnLearn != nil {
		h.OnLearn(t.Label, t.addr(), ssh.FingerprintSHA256(key))
	}
	return nil
}

// sharedReadError explains a store failure. A record that does not decode
// stops the job: trusting it would trust garbage, and ignoring it would let
// the next key presented take its place.
func (h *HostKeys) sharedReadError(t Target, err error) error {
	if errors.Is(err, hostkey.ErrUndecodable) {
		return api.Wrap(api.KindStorage, err, fmt.Sprintf(
			"the host key recorded for %s in %s is not a valid record, so nothing was trusted "+
				"(someone or something wrote it other than cfgsnap); look at it with `nats kv get`, and once understood remove it with: %s",
			t.name(), h.Shared.Where(), forgetCommand(t)))
	}
	if _, ok := errors.AsType[*api.Error](err); ok {
		return err // the store's own words and kind
	}
	return api.Wrap(api.KindStorage, err, "check the host key of "+t.name()+" in "+h.Shared.Where())
}

func (h *HostKeys) sharedVerdict(t Target, key ssh.PublicKey, rec hostkey.Entry) error {
	if hostkey.SameKey(rec.Key, key) {
		return nil
	}
	var about []string
	if rec.By != "" {
		about = append(about, "by "+rec.By)
	}
	if !rec.At.IsZero() {
		about = append(about, "at "+rec.At.UTC().Format(time.RFC3339))
	}
	if rec.Addr != "" {
		about = append(about, "first seen at "+rec.Addr)
	}
	detail := ""
	if len(about) > 0 {
		detail = " (recorded " + strings.Join(about, ", ") + ")"
	}
	return api.Errorf(api.KindHostKeyMismatch,
		"host key mismatch for %s (%s): the device presented %s %s, but %s records %s %s%s. "+
			"Either the device's key was regenerated (reinstall, reset) or someone is intercepting the connection. "+
			"Check with whoever runs the device; if the change is legitimate, run: %s (for every worker), then back up again to record the new key.",
		t.name(), t.addr(), key.Type(), ssh.FingerprintSHA256(key), h.Shared.Where(),
		rec.Key.Type(), rec.Fingerprint(), detail, forgetCommand(t))
}

// knownAlgorithmsFor is knownAlgorithms for t, from the shared store when
// there is one. A failing lookup returns nil: the check that follows reports it.
func (h *HostKeys) knownAlgorithmsFor(ctx context.Context, t Target) []string {
	if h == nil || h.Shared == nil || t.hop != nil {
		return h.knownAlgorithms(t.addr())
	}
	tenant, device, err := splitLabel(t)
	if err != nil {
		return nil
	}
	cur, err := h.Shared.Get(ctx, tenant, device)
	if err != nil || cur == nil {
		return nil
	}
	return algorithmsForKeyType(cur.Key.Type())
}

// ForgetDevice forgets the key recorded for a device where h records keys:
// the shared store under tenant/device, else File under host:port. It
// returns how many keys it forgot and where, for the message.
func (h *HostKeys) ForgetDevice(ctx context.Context, tenant, device, host string, port int) (int, string, error) {
	if h.Shared != nil {
		gone, err := h.Shared.Forget(ctx, tenant, device)
		if err != nil {
			return 0, h.Shared.Where(), err
		}
		if gone == nil {
			return 0, h.Shared.Where(), nil
		}
		return 1, h.Shared.Where(), nil
	}
	n, err := h.Forget(host, port)
	return n, h.File, err
}
