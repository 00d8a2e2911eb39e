package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/adrg/xdg"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	sshConfig string // --ssh-config: "" = ~/.ssh/config if present, "none" = off
	nats      natsFlags

	// inventoryGiven: --inventory was on the command line (or in
	// CFGSNAP_INVENTORY), not only in the config file.
	inventoryGiven bool
	// natsFrom says where the NATS URL came from, for messages.
	natsFrom string
}

// natsFlags say how to reach the backup service's NATS.
type natsFlags struct {
	url, creds, nkey, user, password, token string
	tlsCA, tlsCert, tlsKey                  string
	inboxPrefix                             string
	prefix                                  string
	stallTimeout                            time.Duration
	context                                 string
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
devices of --inventory itself over SSH.

Config file keys (` + "`--config`" + `, YAML) and the commands they apply to:
` + configTable() + `
Documentation in the repository: docs/cli.md (commands, flags, exit status,
inventory), docs/protocol.md (NATS subjects), docs/normalization.md (what is
hashed), docs/deploy.md (running the service), docs/security.md, docs/hooks.md.`,
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
	f.StringVarP(&g.nats.url, "nats", "s", "", "the backup service's NATS URL; enables remote mode (env NATS_URL)")
	f.StringVar(&g.nats.context, "context", "", "NATS CLI context to connect with (default: the one selected with 'nats context select'; env NATS_CONTEXT)")
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
	f.StringVar(&g.sshConfig, "ssh-config", "", "OpenSSH client config for HostName, Port, User, IdentityFile, ProxyJump of devices the inventory leaves open (default ~/.ssh/config; none = do not read one)")

	root.AddCommand(
		newBackupCmd(g), newHistoryCmd(g), newShowCmd(g), newDiffCmd(g), newDevicesCmd(g),
		newSimCmd(g), newHostkeyCmd(g), newVersionCmd(),
		newServeCmd(g), newDemoCmd(g), newCredentialCmd(g), newStoreCmd(g),
		newExportCmd(g), newSearchCmd(g), newChangesCmd(g), newPruneCmd(g), newPinCmd(g), newUnpinCmd(g),
	)
	root.Version = version
	root.SetVersionTemplate("cfgsnap {{.Version}}\n")
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			// Without this, an unknown shell prints help and exits 0.
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usageErr("completion: unknown shell %q: use bash, zsh, fish or powershell", args[0])
				}
				return usageErr("completion: name a shell: bash, zsh, fish or powershell")
			}
		}
	}
	return root
}

// envFor maps flags to the environment variables of cli.md.
var envFor = map[string]string{
	"config": "CFGSNAP_CONFIG", "inventory": "CFGSNAP_INVENTORY", "data-dir": "CFGSNAP_DATA_DIR",
	"content-key-file": "CFGSNAP_CONTENT_KEY_FILE",
	"nats":             "NATS_URL", "nats-creds": "NATS_CREDS", "nats-nkey": "NATS_NKEY", "nats-user": "NATS_USER",
	"nats-password": "NATS_PASSWORD", "nats-token": "NATS_TOKEN", "context": "NATS_CONTEXT",
}

// complete fills flags not given on the command line from the environment,
// then from the config file, then from a NATS CLI context, then from XDG
// defaults.
func (g *globals) complete(cmd *cobra.Command) error {
	flags := cmd.Flags()
	for name, env := range envFor {
		if v := os.Getenv(env); v != "" && !flags.Changed(name) {
			if err := flags.Set(name, v); err != nil {
				return usageErr("%s=%q: %v", env, v, err)
			}
		}
	}
	g.inventoryGiven = g.inventory != ""
	g.natsFrom = natsSource(flags, "nats")
	cfgPath, explicit := g.config, g.config != ""
	if !explicit {
		cfgPath = filepath.Join(xdg.ConfigHome, "cfgsnap", "config.yaml")
	}
	if err := applyConfigFile(flags, cfgPath, explicit, cmd.Name()); err != nil {
		return err
	}
	if g.natsFrom == "" && g.nats.url != "" {
		g.natsFrom = "config file " + cfgPath
	}
	if err := g.applyNATSContext(flags, cmd.Name()); err != nil {
		return err
	}
	if !explicit {
		// The jump host's system-wide file fills what the user's own file
		// and NATS context left open: applied second, it never overrides a flag already set.
		if err := applyConfigFile(flags, systemConfig, false, cmd.Name()); err != nil {
			return err
		}
		if g.natsFrom == "" && g.nats.url != "" {
			g.natsFrom = "config file " + systemConfig
		}
	}
	if g.nats.url != "" {
		if err := checkNATSURL(g.nats.url); err != nil {
			return usageErr("%s: %v", g.natsFrom, err)
		}
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

// natsSource names where a set flag came from: the command line or its
// environment variable; "" when neither set it.
func natsSource(flags *pflag.FlagSet, name string) string {
	if !flags.Changed(name) {
		return ""
	}
	if env := envFor[name]; env != "" && os.Getenv(env) != "" {
		if fl := flags.Lookup(name); fl != nil && fl.Value.String() == os.Getenv(env) {
			return env
		}
	}
	return "--" + name
}

// contextCommands use the selected NATS CLI context without being told:
// the client commands. `serve` uses one only when named (--context): a
// service's connection must not change because someone ran `nats context
// select`; demo and sim run their own servers.
var contextCommands = []string{"cfgsnap", "backup", "history", "show", "diff", "devices", "hostkey", "forget"}

// applyNATSContext fills the NATS flags still unset from a NATS CLI
// context: the one named by --context (or NATS_CONTEXT, or `context:` in
// the config), else the selected one. A named context must exist; a
// selected one that is gone is ignored, as it was not chosen for cfgsnap.
func (g *globals) applyNATSContext(flags *pflag.FlagSet, command string) error {
	name, named := g.nats.context, g.nats.context != ""
	if !named {
		if !slices.Contains(contextCommands, command) {
			return nil
		}
		name = selectedNATSContext()
		if name == "" {
			return nil
		}
	}
	c, path, err := loadNATSContext(name)
	if err != nil {
		if !named {
			return nil
		}
		return usageErr("%v", err)
	}
	for flag, v := range c.flags() {
		fl := flags.Lookup(flag)
		if v == "" || fl == nil || fl.Changed {
			continue
		}
		if err := flags.Set(flag, v); err != nil {
			return usageErr("NATS context %s: %s: %v", path, flag, err)
		}
		if flag == "nats" {
			g.natsFrom = "NATS context " + name + " (" + path + ")"
		}
	}
	return nil
}

// systemConfig is the jump host's config file for every user (docs/deploy.md);
// the user's XDG file wins over it. A variable so tests can point it elsewhere.
var systemConfig = "/etc/cfgsnap/config.yaml"

// applyConfigFile sets flags from the config file (see Config); the command
// line and the environment win. A missing default file is fine; a missing
// explicit one is not.
func applyConfigFile(flags *pflag.FlagSet, path string, explicit bool, command string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) && !explicit {
			return nil
		}
		return usageErr("read config %s: %v", path, err)
	}
	lc, err := parseConfig(path, b)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := lc.apply(flags, command); err != nil {
		return usageErr("%v", err)
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
