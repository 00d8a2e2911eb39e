package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/gitmirror"
	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

func newExportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export snapshot history to other tools",
	}
	cmd.AddCommand(newExportGitCmd(g))
	return cmd
}

func newExportGitCmd(g *globals) *cobra.Command {
	var (
		tenant  string
		secrets bool
	)
	cmd := &cobra.Command{
		Use:   "git DIR [--tenant T] [--secrets]",
		Short: "Write the history of --data-dir as a git repository, one commit per change",
		Long: `Write snapshot history as a git repository in DIR (created if missing):
TENANT/DEVICE.rsc holds what cfgsnap show prints, secrets masked unless
--secrets. One commit per changed snapshot, in the order they were
collected, across devices; the author is who requested the backup, the
dates are when it was collected, the message names the trigger and the
reason, and the trailers Cfgsnap-Hash and Cfgsnap-Snapshot name the
snapshot.

Run it again to add only what is new: the last exported snapshot of each
device is kept in the repository (.cfgsnap/state/), committed with each
commit. The branch moves only once every object is written, so a run that
is killed leaves the repository as it was. cfgsnap serve --git-mirror DIR
keeps a mirror current as snapshots arrive.

--secrets writes device passwords in plain text: it is refused unless DIR
is private (no group or other permissions).

It reads the SQLite store of --data-dir (the machine that runs serve, or
direct mode); it needs the git binary.`,
		Example: `  cfgsnap export git ~/cfgsnap-git
  cfgsnap export git /srv/configs --tenant acme
  git -C ~/cfgsnap-git log --stat -- acme/core-rtr-1.rsc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant != "" && !api.ValidID(tenant) {
				return usageErr("--tenant %q: tenant IDs are 1-64 letters, digits, '_' or '-'", tenant)
			}
			ctx := cmd.Context()
			var opts []store.SQLiteOption
			if g.keyFile != "" {
				opts = append(opts, store.WithKeys(store.NewKeys(g.keyFile)))
			}
			st, err := store.OpenSQLite(ctx, g.dataDir, opts...)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("open store in %s: %w", g.dataDir, err)}
			}
			defer st.Close()
			start := time.Now()
			res, err := gitmirror.Export(ctx, st, gitmirror.Options{Dir: args[0], Tenant: tenant, Secrets: secrets})
			if err != nil {
				if api.KindOf(err) == api.KindBadRequest {
					return &exitError{code: exitUsage, err: err}
				}
				return &exitError{code: exitFailed, err: err}
			}
			out := cmd.OutOrStdout()
			switch {
			case res.Commits == 0 && res.Head == "":
				fmt.Fprintf(out, "%s: no snapshots to export yet\n", args[0])
				return nil
			case res.Commits == 0:
				fmt.Fprintf(out, "%s is up to date (%s %s)\n", args[0], res.Ref, textfmt.ShortHash(res.Head))
				return nil
			}
			fmt.Fprintf(out, "%s: %d commits for %d devices in %s (%s %s)\n", args[0], res.Commits, res.Devices,
				time.Since(start).Round(time.Millisecond), res.Ref, textfmt.ShortHash(res.Head))
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "export only this tenant")
	cmd.Flags().BoolVar(&secrets, "secrets", false, "write secret values unmasked (DIR must be private)")
	return cmd
}
