package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/cluster"
	"github.com/cfgsnap/cfgsnap/backend/hostkey"
)

// forgetTimeout bounds `hostkey forget` on the cluster: a user without the
// JetStream API gets no answer at all, and must not wait for the store's
// longer retries through leader elections.
const forgetTimeout = 10 * time.Second

// forgetClusterHostKey forgets a device's key in the cluster's host key
// bucket. It needs no inventory: the bucket is keyed by tenant/device.
// explicit is --store jetstream; without it (remote mode) a NATS without
// the bucket means the service keeps keys in its data dir.
func forgetClusterHostKey(cmd *cobra.Command, g *globals, t target, explicit bool) error {
	if g.nats.url == "" {
		return usageErr("hostkey forget --store jetstream needs the cluster's NATS: --nats URL (or NATS_URL)")
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), forgetTimeout)
	defer cancel()
	nc, js, err := g.dialJetStream(ctx, "cfgsnap hostkey forget", slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer nc.Close()
	kv, err := hostkey.BindKV(ctx, js, cluster.HostKeysBucket(g.nats.prefix))
	switch {
	case errors.Is(err, hostkey.ErrNoBucket) && !explicit:
		return usageErr("%v, so the backup service keeps host keys in its data dir: run `cfgsnap hostkey forget %s` where `cfgsnap serve` runs (same --data-dir and --inventory), or use --direct", err, t)
	case errors.Is(err, hostkey.ErrNoBucket):
		return &exitError{code: exitFailed, err: fmt.Errorf("%w (is `cfgsnap serve --store jetstream` using this NATS, with the same --subject-prefix?)", err)}
	case err != nil:
		return &exitError{code: exitFailed, err: fmt.Errorf("%w (host keys are kept in JetStream by the service's NATS user: use its credentials)", err)}
	}
	gone, err := kv.Forget(ctx, t.tenant, t.device)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if gone == nil {
		fmt.Fprintf(cmd.OutOrStdout(), "no host key recorded for %s in %s\n", t, kv.Where())
		return nil
	}
	what := "a record that did not decode"
	if gone.Key != nil {
		what = gone.Key.Type() + " " + gone.Fingerprint()
		if gone.By != "" {
			what += ", recorded by " + gone.By
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "forgot the host key of %s (%s) in %s; the next backup by any worker records the key it is shown\n", t, what, kv.Where())
	return nil
}
