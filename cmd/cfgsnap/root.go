package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/adrg/xdg"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/cfgsnap/cfgsnap/backend/store"
)

// globals are the flags every command shares (cli.md "Global flags").
type globals struct {
	config    string
	inventory string
	dataDir   string
	keyFile   string
	direct    bool
	timeout   time.Duration
	logFile   string
	debug     bool
	nats      natsFlags
}

// natsFlags say how to reach the backup service's NATS.
type natsFlags struct {
	url, creds, nkey, user, password, token string
	tlsCA, tlsCert, tlsKey                  string
	inboxPrefix                             string
	prefix                                  string
	stallTimeout                            time.Duration
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "cfgsnap",
		Short: "Verified backups of MikroTik RouterOS configurations, now",
		Long: `cfgsnap backs up MikroTik RouterOS routers and keeps each device's snapshot
history: SHA-256 of the normalised configuration, what changed, diffs.

Without a command it opens the terminal UI. With a NATS URL (--nats or NATS_URL)
it talks to the backup service; otherwise, or with --direct, it backs up the
devices of --inventory itself over SSH.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.complete(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runTUI(cmd, g) },
	}
	f := root.PersistentFlags()
	f.StringVar(&g.config, "config", "", "config file (default $XDG_CONFIG_HOME/cfgsnap/config.yaml; env CFGSNAP_CONFIG)")
	f.StringVar(&g.inventory, "inventory", "", "inventory file, for direct mode and serve (env CFGSNAP_INVENTORY)")
	f.StringVar(&g.dataDir, "data-dir", "", "snapshots, history, locks, known hosts (default $XDG_DATA_HOME/cfgsnap; env CFGSNAP_DATA_DIR)")
	f.StringVar(&g.keyFile, "content-key-file", "", "key that seals snapshot content at rest; share one among cluster workers (default DATA_DIR/content.key; env CFGSNAP_CONTENT_KEY_FILE)")
	f.StringVar(&g.nats.url, "nats", "", "the backup service's NATS URL; enables remote mode (env NATS_URL)")
	f.StringVar(&g.nats.creds, "nats-creds", "", "NATS credentials file (env NATS_CREDS)")
	f.StringVar(&g.nats.nkey, "nats-nkey", "", "NATS nkey seed file (env NATS_NKEY)")
	f.StringVar(&g.nats.user, "nats-user", "", "NATS user (env NATS_USER)")
	f.StringVar(&g.nats.password, "nats-password", "", "NATS password (env NATS_PASSWORD)")
	f.StringVar(&g.nats.token, "nats-token", "", "NATS token (env NATS_TOKEN)")
	f.StringVar(&g.nats.tlsCA, "tls-ca", "", "CA certificate for TLS to NATS")
	f.StringVar(&g.nats.tlsCert, "tls-cert", "", "client certificate for TLS to NATS")
	f.StringVar(&g.nats.tlsKey, "tls-key", "", "client key for TLS to NATS")
	f.StringVar(&g.nats.inboxPrefix, "inbox-prefix", "", "custom NATS inbox prefix (for accounts that restrict _INBOX)")
	f.StringVar(&g.nats.prefix, "subject-prefix", "cfgsnap", "first token of cfgsnap's NATS subjects")
	f.DurationVar(&g.nats.stallTimeout, "stall-timeout", 15*time.Second, "remote mode: give up on a backup when the service is silent this long (it sends a heartbeat every 2s)")
	f.BoolVar(&g.direct, "direct", false, "back up over SSH from this machine even when a NATS URL is configured")
	f.DurationVar(&g.timeout, "timeout", 60*time.Second, "bound on one backup")
	f.StringVar(&g.logFile, "log-file", "", "log file (default $XDG_STATE_HOME/cfgsnap/cfgsnap.log); logs never go to the TUI")
	f.BoolVar(&g.debug, "debug", false, "debug logging")

	root.AddCommand(
		newBackupCmd(g), newHistoryCmd(g), newShowCmd(g), newDiffCmd(g), newDevicesCmd(g),
		newSimCmd(g), newHostkeyCmd(g), newVersionCmd(),
		newServeCmd(g), newDemoCmd(g), newCredentialCmd(g), newStoreCmd(g),
		newPruneCmd(g), newPinCmd(g), newUnpinCmd(g),
	)
	return root
}

// envFor maps flags to the environment variables of cli.md.
var envFor = map[string]string{
	"config": "CFGSNAP_CONFIG", "inventory": "CFGSNAP_INVENTORY", "data-dir": "CFGSNAP_DATA_DIR",
	"content-key-file": "CFGSNAP_CONTENT_KEY_FILE",
	"nats":             "NATS_URL", "nats-creds": "NATS_CREDS", "nats-nkey": "NATS_NKEY", "nats-user": "NATS_USER",
	"nats-password": "NATS_PASSWORD", "nats-token": "NATS_TOKEN",
}

// complete fills flags not given on the command line from the environment,
// then from the config file, then from XDG defaults.
func (g *globals) complete(cmd *cobra.Command) error {
	flags := cmd.Flags()
	for name, env := range envFor {
		if v := os.Getenv(env); v != "" && !flags.Changed(name) {
			if err := flags.Set(name, v); err != nil {
				return usageErr("%s=%q: %v", env, v, err)
			}
		}
	}
	cfgPath, explicit := g.config, g.config != ""
	if !explicit {
		cfgPath = filepath.Join(xdg.ConfigHome, "cfgsnap", "config.yaml")
	}
	if err := applyConfigFile(flags, cfgPath, explicit); err != nil {
		return err
	}
	if g.dataDir == "" {
		g.dataDir = filepath.Join(xdg.DataHome, "cfgsnap")
	}
	if g.logFile == "" {
		g.logFile = filepath.Join(xdg.StateHome, "cfgsnap", "cfgsnap.log")
	}
	g.dataDir = expandHome(g.dataDir)
	if g.keyFile == "" {
		g.keyFile = store.KeyFileIn(g.dataDir)
	}
	g.keyFile = expandHome(g.keyFile)
	g.inventory = expandHome(g.inventory)
	return nil
}

// applyConfigFile sets flags from a YAML map of flag names to values (e.g.
// `nats: nats://10.0.0.5:4222`, `inventory: ~/lab.yaml`); the command line and
// the environment win. A missing default file is fine; a missing explicit one
// is not.
func applyConfigFile(flags *pflag.FlagSet, path string, explicit bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) && !explicit {
			return nil
		}
		return usageErr("read config %s: %v", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return usageErr("config %s: %v", path, err)
	}
	for k, v := range m {
		name := strings.ReplaceAll(k, "_", "-")
		fl := flags.Lookup(name)
		if fl == nil || name == "config" {
			return usageErr("config %s: unknown setting %q (settings are the global flags' names, e.g. nats, inventory, data_dir)", path, k)
		}
		if fl.Changed || os.Getenv(envFor[name]) != "" {
			continue
		}
		if err := flags.Set(name, fmt.Sprint(v)); err != nil {
			return usageErr("config %s: %s: %v", path, k, err)
		}
	}
	return nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}
