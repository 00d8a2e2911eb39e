package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...". The
// default is a semantic version so that `cfgsnap --version`, `cfgsnap
// version` and the service's version in `nats micro info` (which must be
// semver) are the same string.
var version = "0.0.0-dev"

func buildInfo() (rev string, dirty bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown", false
	}
	rev = "unknown"
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	return rev, dirty
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Version, commit, Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, dirty := buildInfo()
			if dirty {
				rev += " (modified)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cfgsnap %s\ncommit %s\n%s %s/%s\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func newHostkeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "hostkey", Short: "Manage recorded SSH host keys"}
	var storeFlag string
	forget := &cobra.Command{
		Use:   "forget TARGET",
		Short: "Forget a device's recorded SSH host key after a legitimate change",
		Long: `Forget a device's recorded SSH host key (in DATA_DIR/known_hosts), so the next
backup records the key it is shown (trust on first use). Do this only when
you know why the key changed (device replaced, reinstalled, key regenerated).
~/.ssh/known_hosts is never modified; a key pinned in the inventory
(host_key) must be changed there.

With a NATS URL (remote mode), or --store jetstream, it forgets the key in
the cluster's host key bucket that every ` + "`cfgsnap serve --store jetstream`" + `
worker checks, for all workers at once.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0], "")
			if err != nil {
				return err
			}
			switch {
			case storeFlag == "jetstream" || (storeFlag == "" && g.remoteMode()):
				return forgetClusterHostKey(cmd, g, t, storeFlag == "jetstream")
			case storeFlag != "" && storeFlag != "sqlite":
				return usageErr("--store %q: use sqlite or jetstream", storeFlag)
			}
			if g.remoteMode() {
				return usageErr("hostkey forget works on the machine that runs the backups: run it where `cfgsnap serve` runs (same --data-dir and --inventory), or use --direct")
			}
			s, err := g.openStack(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			dev, ok := s.Inventory().Device(t.tenant, t.device)
			if !ok {
				return usageErr("unknown device %s", t)
			}
			n, err := s.HostKeys.Forget(dev.Host, dev.Port)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if n == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no host key recorded for %s (%s:%d) in %s\n", t, dev.Host, dev.Port, s.HostKeys.File)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "forgot %d host key(s) of %s (%s:%d); the next backup records the key it is shown\n", n, t, dev.Host, dev.Port)
			return nil
		},
	}
	forget.Flags().StringVar(&storeFlag, "store", "", "where serve keeps host keys: sqlite (DATA_DIR/known_hosts) or jetstream (the cluster's bucket; needs --nats); default: jetstream in remote mode")
	cmd.AddCommand(forget)
	return cmd
}
