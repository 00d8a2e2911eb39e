package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

type demoOptions struct {
	listen   string
	devices  int
	keep     bool
	headless bool
	// dataDir is "" for a new temporary directory.
	dataDir string
	tui     tuiServeOptions
}

// demoDriftEvery is how often the demo's drifting device changes its
// configuration: often enough to see a "changed" backup in a short demo.
const demoDriftEvery = 30 * time.Second

// demoGrace bounds how long Ctrl-C waits for running demo backups.
const demoGrace = 3 * time.Second

func newDemoCmd(g *globals) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--headless] [--listen ADDR] [--devices N]",
		Short: "Everything on one machine: NATS, the backup service and a simulated fleet",
		Long: `Run an embedded NATS server, the backup service and a fleet of simulated
RouterOS devices (tenants acme, globex and initech; RouterOS 6 and 7; lab-*
devices that fail on purpose: a wrong password, one that hangs until the
backup times out, one that cuts its export short, one whose configuration
drifts every 30s, and more), then open the TUI on it.

--headless runs the same without the TUI and prints the NATS URL, the
inventory and example commands, for scripts and other terminals. The data
dir is --data-dir if given, else a temporary directory removed on exit
(--keep keeps it). Ctrl-C stops everything.`,
		Example: `  cfgsnap demo
  cfgsnap demo --headless --listen 127.0.0.1:4333 --devices 200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.devices < 1 {
				return usageErr("--devices must be at least 1")
			}
			if err := checkPrefix(g.nats.prefix); err != nil {
				return err
			}
			if cmd.Flags().Changed("data-dir") {
				o.dataDir = g.dataDir
			}
			return runDemo(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.headless, "headless", false, "no TUI: print the NATS URL and inventory path and run until interrupted")
	f.StringVar(&o.listen, "listen", natsserver.DefaultListen, "HOST:PORT of the embedded NATS server (port 0: any free port)")
	f.IntVar(&o.devices, "devices", 40, "how many simulated devices")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary data dir on exit")
	o.tui.addFlags(f, true)
	f.Lookup("tui-users").Usage += " (default: one written into the data dir for your ~/.ssh keys and a generated one)"
	return cmd
}

func runDemo(ctx context.Context, g *globals, o demoOptions, out io.Writer) error {
	// Ctrl-C must stop everything cleanly whoever started the demo.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, err := startDemo(ctx, g, o)
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "cfgsnap demo:", err)
		}
		if env.removeDir {
			fmt.Fprintf(out, "removed %s\n", env.DataDir)
		}
	}()
	if o.tui.listen != "" {
		stopTUI, err := serveDemoTUI(ctx, g, env, o.tui, out)
		if err != nil {
			return err
		}
		defer stopTUI()
	}
	if !o.headless && isTerminal(os.Stdin) && isTerminal(os.Stdout) {
		nc, err := client.DialNATS(ctx, env.URL, client.NATSOptions{Name: "cfgsnap demo tui", Logger: env.log})
		if err != nil {
			return classifyClientErr(err)
		}
		c := client.NewRemote(nc, g.nats.prefix, client.RemoteOptions{StallTimeout: g.nats.stallTimeout})
		defer c.Close()
		return startUI(ctx, c)
	}
	if !o.headless {
		fmt.Fprintln(out, "no terminal for the TUI: running headless")
	}
	env.describe(out)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
}

// demoEnv is a running demo: the TUI and the headless mode both use it.
type demoEnv struct {
	URL           string
	DataDir       string
	InventoryPath string
	Conn          *nats.Conn // the service's connection
	Stack         *local.Stack
	Fleet         *devicesim.Fleet
	Service       *service.Service

	server    *natsserver.Server
	log       *slog.Logger
	logFile   io.Closer
	removeDir bool
}

// startDemo starts the fleet, writes its inventory into the data dir and
// starts the embedded NATS server and the service on them. On error
// nothing is left running.
func startDemo(ctx context.Context, g *globals, o demoOptions) (_ *demoEnv, err error) {
	env := &demoEnv{DataDir: o.dataDir}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	if env.DataDir == "" {
		if env.DataDir, err = os.MkdirTemp("", "cfgsnap-demo-"); err != nil {
			return nil, &exitError{code: exitFailed, err: fmt.Errorf("demo data dir: %w", err)}
		}
		env.removeDir = !o.keep
	} else if err := os.MkdirAll(env.DataDir, 0o700); err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("demo data dir: %w", err)}
	}
	log, logFile, err := g.logger()
	if err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	env.log, env.logFile = log, logFile

	specs := devicesim.DefaultFleet(o.devices, true)
	for i := range specs {
		if specs[i].ID == devicesim.DriftID {
			specs[i].DriftEvery = demoDriftEvery
		}
	}
	env.Fleet, err = devicesim.Start(ctx, devicesim.Config{StateDir: filepath.Join(env.DataDir, "sim")}, specs)
	if err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("start the simulated fleet: %w", err)}
	}
	env.InventoryPath = filepath.Join(env.DataDir, "inventory.yaml")
	if err := env.Fleet.WriteInventory(env.InventoryPath); err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	env.Stack, err = local.Open(ctx, local.Options{DataDir: env.DataDir, InventoryPath: env.InventoryPath, Timeout: g.timeout})
	if err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	env.server, err = natsserver.Start(ctx, natsserver.Options{Listen: o.listen,
		StoreDir: filepath.Join(env.DataDir, "nats"), Logger: log, Debug: g.debug})
	if err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("embedded NATS: %w (is another server on %s? try --listen 127.0.0.1:0)", err, o.listen)}
	}
	env.URL = env.server.URL()
	log.Warn("demo: the embedded NATS server has no authentication (cfgsnap serve requires credentials)", "url", env.URL)
	env.Conn, err = client.DialNATS(ctx, env.URL, client.NATSOptions{Name: "cfgsnap demo service", Logger: log})
	if err != nil {
		return nil, classifyClientErr(err)
	}
	env.Service = service.New(service.Config{Conn: env.Conn, Stack: env.Stack, Prefix: g.nats.prefix,
		Compat: true, Logger: log, Grace: demoGrace, Version: version})
	if err := env.Service.Start(ctx); err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	return env, nil
}

// describe prints where everything is and what to try.
func (e *demoEnv) describe(w io.Writer) {
	kept := "kept"
	if e.removeDir {
		kept = "temporary: removed on exit, --keep keeps it"
	}
	fmt.Fprintf(w, "nats: %s\ninventory: %s\ndata dir: %s (%s)\n", e.URL, e.InventoryPath, e.DataDir, kept)
	// The demo keeps its server open (no credentials) so that `nats req`
	// works as shown; it says so, and louder when it is not on loopback.
	open := "none: this demo's NATS server lets in anyone who can reach it (cfgsnap serve requires credentials)"
	if !loopbackURL(e.URL) {
		open = "NONE, AND NOT ON LOOPBACK: anyone on the network can read this demo's snapshots"
	}
	fmt.Fprintf(w, "auth: %s\n", open)
	fmt.Fprintf(w, "devices: %d simulated RouterOS devices in tenants acme, globex, initech; lab-* devices fail on purpose\n", len(e.Fleet.Devices()))
	fmt.Fprintf(w, `
Try, in another terminal:
  nats -s %[1]s req config.backup.trigger '{"device_id":"core-rtr-1","tenant_id":"acme"}'
  nats -s %[1]s micro ls
  cfgsnap --nats %[1]s backup acme/core-rtr-1
  cfgsnap --nats %[1]s history acme/core-rtr-1
  cfgsnap --nats %[1]s backup --all --concurrency 16
  cfgsnap --nats %[1]s
Ctrl-C stops everything.
`, e.URL)
}

// Close stops the service (running backups get a short grace), the NATS
// connection and server, the fleet and the store, and removes a temporary
// data dir.
func (e *demoEnv) Close() error {
	var errs []error
	if e.Service != nil {
		ctx, cancel := context.WithTimeout(context.Background(), demoGrace+5*time.Second)
		errs = append(errs, e.Service.Shutdown(ctx))
		if e.Conn != nil {
			errs = append(errs, drain(ctx, e.Conn))
		}
		cancel()
	} else if e.Conn != nil {
		e.Conn.Close()
	}
	if e.server != nil {
		e.server.Shutdown()
	}
	if e.Fleet != nil {
		errs = append(errs, e.Fleet.Close())
	}
	if e.Stack != nil {
		errs = append(errs, e.Stack.Close())
	}
	if e.logFile != nil {
		e.logFile.Close()
	}
	if e.removeDir && e.DataDir != "" {
		errs = append(errs, os.RemoveAll(e.DataDir))
	}
	return errors.Join(errs...)
}

// serveDemoTUI serves the demo's TUI over SSH (--tui-listen), letting in
// the running user's keys unless --tui-users names a file.
func serveDemoTUI(ctx context.Context, g *globals, env *demoEnv, o tuiServeOptions, out io.Writer) (func(), error) {
	var key string
	if o.users == "" {
		users, k, found, err := writeDemoUsers(env.DataDir)
		if err != nil {
			return nil, &exitError{code: exitFailed, err: err}
		}
		o.users, key = users, k
		fmt.Fprintf(out, "served TUI users: %s (keys from %s and %s)\n", users, strings.Join(append(found, "none of ~/.ssh")[:max(len(found), 1)], ", "), k)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	nc, err := client.DialNATS(ctx, env.URL, client.NATSOptions{Name: "cfgsnap demo tui server", Logger: env.log})
	if err != nil {
		return nil, classifyClientErr(err)
	}
	c := client.NewRemote(nc, g.nats.prefix, client.RemoteOptions{StallTimeout: g.nats.stallTimeout})
	stop, addr, err := startTUIServer(o, c, env.DataDir, env.log, out)
	if err != nil {
		c.Close()
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if key != "" {
		fmt.Fprintf(out, "try: ssh -p %s %s   (or: ssh -i %s -p %s %s)\n", port, host, key, port, host)
	}
	return func() { stop(); c.Close() }, nil
}
