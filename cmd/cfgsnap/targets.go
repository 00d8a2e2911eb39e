package main

import (
	"context"
	"fmt"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

// errNoSnapshots is what history, show and diff say about a device that
// has never been backed up: one wording, one exit status (1, nothing to
// show), on stderr so a redirected `show` does not capture it.
func errNoSnapshots(t target) error {
	return &exitError{code: exitFailed, err: fmt.Errorf("%s has no snapshots yet: run `cfgsnap backup %s`", t, t)}
}

// unknownTarget explains a not_found about t: an unknown tenant or device
// (a usage error naming the nearest IDs), or nil when both exist (the
// not_found was about a snapshot). A tenant list the caller may not read
// (a NATS user confined to its tenants) only costs the suggestion.
func unknownTarget(ctx context.Context, c client.Client, t target) error {
	devs, err := c.Devices(ctx, t.tenant)
	if err != nil {
		if api.KindOf(err) != api.KindNotFound {
			return classifyClientErr(err)
		}
		var ids []string
		if tenants, err := c.Tenants(ctx); err == nil {
			for _, tn := range tenants {
				ids = append(ids, tn.ID)
			}
		}
		return usageErr("unknown tenant %q%s", t.tenant, didYouMean(t.tenant, ids))
	}
	ids := make([]string, 0, len(devs))
	for _, d := range devs {
		if d.ID == t.device {
			return nil
		}
		ids = append(ids, d.ID)
	}
	return usageErr("unknown device %s%s", t, didYouMean(t.device, ids))
}

// notFound turns a client's not_found for t into the unknown-target error,
// or, for a known device with nothing stored, errNoSnapshots when noneYet
// holds; other errors keep their exit status.
func notFound(ctx context.Context, c client.Client, t target, err error, noneYet bool) error {
	if api.KindOf(err) != api.KindNotFound {
		return classifyClientErr(err)
	}
	if uerr := unknownTarget(ctx, c, t); uerr != nil {
		return uerr
	}
	if noneYet {
		return errNoSnapshots(t)
	}
	return classifyClientErr(err)
}
