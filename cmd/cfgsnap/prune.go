package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/retention"
	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

// retentionFlags are the policy flags of prune and serve.
type retentionFlags struct {
	// prune: restic-style flags.
	last, hourly, daily, weekly, monthly, yearly int
	within                                       string
	// serve: one policy string and per-tenant ones.
	policy  string
	tenants []string
}

func (r *retentionFlags) addPruneFlags(f *pflag.FlagSet) {
	f.IntVar(&r.last, "keep-last", 0, "keep the newest N snapshots of each device (-1: all)")
	f.IntVar(&r.hourly, "keep-hourly", 0, "keep the newest snapshot of each of the newest N hours that have one (-1: all)")
	f.IntVar(&r.daily, "keep-daily", 0, "likewise for N days")
	f.IntVar(&r.weekly, "keep-weekly", 0, "likewise for N ISO weeks")
	f.IntVar(&r.monthly, "keep-monthly", 0, "likewise for N months")
	f.IntVar(&r.yearly, "keep-yearly", 0, "likewise for N years")
	f.StringVar(&r.within, "keep-within", "", "keep every snapshot within this long of the device's newest (e.g. 48h, 30d, 2w)")
}

func (r *retentionFlags) addServeFlags(f *pflag.FlagSet) {
	f.StringVar(&r.policy, "retention", "", `after each scheduled round, prune with this policy, e.g. "last=3,daily=7,weekly=4,monthly=12,within=48h" (rules as prune's --keep-*; needs --schedule)`)
	f.StringArrayVar(&r.tenants, "retention-tenant", nil, `TENANT:POLICY, a tenant's own policy, replacing --retention for it (repeatable; "acme:" spares acme)`)
}

// pruneConfig is the policy of prune's flags, for every tenant.
func (r *retentionFlags) pruneConfig() (retention.Config, error) {
	p := retention.Policy{Last: r.last, Hourly: r.hourly, Daily: r.daily, Weekly: r.weekly, Monthly: r.monthly, Yearly: r.yearly}
	if r.within != "" {
		d, err := retention.ParseDuration(r.within)
		if err != nil {
			return retention.Config{}, usageErr("--keep-within: %v", err)
		}
		p.Within = d
	}
	if err := p.Check(); err != nil {
		return retention.Config{}, usageErr("%v", err)
	}
	return retention.Config{Default: p}, nil
}

// serveConfig is the policy of serve's --retention flags.
func (r *retentionFlags) serveConfig() (retention.Config, error) {
	var c retention.Config
	var err error
	if c.Default, err = retention.Parse(r.policy); err != nil {
		return c, usageErr("--retention: %v", err)
	}
	for _, tp := range r.tenants {
		t, pol, ok := strings.Cut(tp, ":")
		if !ok || !api.ValidID(t) {
			return c, usageErr("--retention-tenant %q: use TENANT:POLICY, e.g. acme:daily=30,monthly=12", tp)
		}
		p, err := retention.Parse(pol)
		if err != nil {
			return c, usageErr("--retention-tenant %s: %v", t, err)
		}
		if c.Tenants == nil {
			c.Tenants = map[string]retention.Policy{}
		}
		c.Tenants[t] = p
	}
	return c, nil
}

// afterRound returns what serve runs after each scheduled round: a prune
// with the --retention policy, or nil without one.
func (r *retentionFlags) afterRound(st store.Store, log *slog.Logger) (func(context.Context), error) {
	cfg, err := r.serveConfig()
	if err != nil || cfg.Empty() {
		return nil, err
	}
	rt, ok := st.(store.Retainer)
	if !ok {
		return nil, fmt.Errorf("--retention: this store cannot prune")
	}
	return func(ctx context.Context) {
		start := time.Now()
		ps, err := store.Prune(ctx, rt, store.PruneOptions{Retention: cfg}, nil)
		if err != nil {
			log.Error("retention: prune failed (it runs again after the next round)", "err", err,
				"removed", ps.Removed, "devices", ps.Devices)
			return
		}
		log.Info("retention: pruned", "devices", ps.Devices, "kept", ps.Kept, "removed", ps.Removed,
			"contents_removed", ps.Content.Contents, "bytes_freed", ps.Content.Bytes, "took", time.Since(start).Round(time.Millisecond))
	}, nil
}

func newPruneCmd(g *globals) *cobra.Command {
	var (
		rf     retentionFlags
		tenant string
		dryRun bool
		asJSON bool
		which  string
	)
	cmd := &cobra.Command{
		Use:   "prune [--keep-... N] [--tenant T] [--dry-run] [--json]",
		Short: "Remove old snapshots by a retention policy; pinned ones stay",
		Long: `Remove snapshots the policy does not keep, as restic's forget does: each
--keep-hourly/daily/weekly/monthly/yearly N keeps the newest snapshot of each
of the newest N hours/days/ISO weeks/months/years (local time) that have one,
--keep-last N the newest N, --keep-within D all within D of the device's
newest. A snapshot kept by any rule is kept. Pinned snapshots (cfgsnap pin)
and each device's newest are never removed. Content no remaining snapshot
uses is removed and its space reclaimed.

It works on the store itself: the data dir (--store sqlite), or the NATS
cluster's JetStream store (--store jetstream, reached with the --nats flags).
Without a --keep flag it refuses (exit 2): an empty policy removes nothing.

Output: one line per device (kept, removed) and a total; with --json one
object per snapshot: tenant_id, device_id, snapshot_id, sha256_hash,
collected_at, pinned, action (keep or remove) and reasons.`,
		Example: `  cfgsnap prune --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  cfgsnap prune --tenant acme --keep-last 10 --keep-within 30d --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := rf.pruneConfig()
			if err != nil {
				return err
			}
			if cfg.Empty() {
				return usageErr("no policy: give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within")
			}
			if tenant != "" && !api.ValidID(tenant) {
				return usageErr("--tenant %q: not a tenant ID", tenant)
			}
			ctx := cmd.Context()
			rt, closeFn, err := openMaintained(ctx, g, which, store.NewKeys(g.keyFile), "cfgsnap prune")
			if err != nil {
				return err
			}
			defer closeFn()
			return runPrune(ctx, rt, store.PruneOptions{Retention: cfg, Tenant: tenant, DryRun: dryRun}, asJSON, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	rf.addPruneFlags(f)
	f.StringVar(&tenant, "tenant", "", "only this tenant")
	f.BoolVar(&dryRun, "dry-run", false, "say what would be removed; remove nothing")
	f.BoolVar(&asJSON, "json", false, "one JSON object per snapshot, with its action and reasons")
	f.StringVar(&which, "store", "sqlite", "which store: sqlite (the data dir) or jetstream (the NATS cluster of --nats)")
	return cmd
}

// pruneLine is one snapshot of prune --json.
type pruneLine struct {
	TenantID    string    `json:"tenant_id"`
	DeviceID    string    `json:"device_id"`
	SnapshotID  string    `json:"snapshot_id"`
	SHA256      string    `json:"sha256_hash"`
	CollectedAt time.Time `json:"collected_at"`
	Pinned      bool      `json:"pinned"`
	Action      string    `json:"action"`
	Reasons     []string  `json:"reasons"`
	DryRun      bool      `json:"dry_run,omitempty"`
}

func runPrune(ctx context.Context, rt store.Retainer, opts store.PruneOptions, asJSON bool, out io.Writer) error {
	enc := json.NewEncoder(out)
	verb := "removed"
	if opts.DryRun {
		verb = "would remove"
	}
	st, err := store.Prune(ctx, rt, opts, func(dp store.DevicePrune) error {
		if !asJSON {
			_, err := fmt.Fprintf(out, "%s: kept %d, %s %d\n", dp.Key, dp.Kept, verb, dp.Removed)
			return err
		}
		for _, d := range dp.Decisions {
			l := pruneLine{TenantID: d.TenantID, DeviceID: d.DeviceID, SnapshotID: d.SnapshotID, SHA256: d.SHA256,
				CollectedAt: d.CollectedAt, Pinned: d.Pinned, Action: "keep", Reasons: d.Reasons, DryRun: opts.DryRun}
			if !d.Keep {
				l.Action, l.Reasons = "remove", []string{}
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if !asJSON {
		fmt.Fprintf(out, "%d devices: kept %d snapshots, %s %d", st.Devices, st.Kept, verb, st.Removed)
		if !opts.DryRun {
			fmt.Fprintf(out, "; removed %d unused contents (%s)", st.Content.Contents, textfmt.Bytes(st.Content.Bytes))
		}
		fmt.Fprintln(out)
	}
	return nil
}

// checkServe refuses a bad --retention, or one without --schedule (it runs
// after scheduled rounds, so it would silently never run).
func (r *retentionFlags) checkServe(scheduled bool) error {
	cfg, err := r.serveConfig()
	if err != nil {
		return err
	}
	if !cfg.Empty() && !scheduled {
		return usageErr("--retention runs after each scheduled round: give --schedule too (or run `cfgsnap prune`)")
	}
	return nil
}
