package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

type serveOptions struct {
	listen     string
	natsConfig string
	workers    int
	queue      int
	compat     bool
	grace      time.Duration
	heartbeat  time.Duration
}

func newServeCmd(g *globals) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the backup service on NATS",
		Long: `Run the backup service: it answers the NATS subjects of protocol.md
(config.backup.trigger and cfgsnap.*) for the devices of --inventory, with the
snapshots, history and locks of --data-dir. Direct-mode backups on the same
data dir share its locks.

Without --nats it embeds a NATS server listening on --listen; with --nats it
joins that server or cluster, and any number of serve processes share the
work (one queue group: each request is answered once).

SIGHUP reloads the inventory (running backups keep going; an invalid file is
refused and the old inventory stays). SIGINT or SIGTERM stop taking triggers,
let running backups finish for up to --grace, then stop. Logs go to --log-file.`,
		Example: `  cfgsnap serve --inventory fleet.yaml
  cfgsnap serve --inventory fleet.yaml --nats nats://nats1:4222 --nats-creds svc.creds --workers 32
  cfgsnap serve --inventory fleet.yaml --nats-config examples/nats-tenants.conf \
      --nats-user cfgsnap-service --nats-password "$PW" --compat-subject=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("nats-config") && !cmd.Flags().Changed("listen") {
				o.listen = "" // the config's listen address
			}
			return runServe(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", natsserver.DefaultListen, "HOST:PORT of the embedded NATS server (without --nats)")
	f.StringVar(&o.natsConfig, "nats-config", "", "nats-server configuration for the embedded server (users, permissions), e.g. examples/nats-tenants.conf")
	f.IntVar(&o.workers, "workers", service.DefaultWorkers(), "backups at once")
	f.IntVar(&o.queue, "queue", service.DefaultQueueDepth, "backups waiting for a worker before triggers are refused as busy")
	f.BoolVar(&o.compat, "compat-subject", true, "also answer the seed-compatible config.backup.trigger (switch off where tenants must be isolated)")
	f.DurationVar(&o.grace, "grace", service.DefaultGrace, "on shutdown, how long running backups may finish")
	f.DurationVar(&o.heartbeat, "heartbeat", service.DefaultHeartbeat, "how often a running backup's stage is re-sent")
	return cmd
}

func runServe(ctx context.Context, g *globals, o serveOptions) error {
	// A service must shut down gracefully on SIGTERM whoever started it,
	// not only under main's signal context.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if g.inventory == "" {
		return usageErr("serve needs the inventory: --inventory FILE (or CFGSNAP_INVENTORY)")
	}
	if o.workers < 1 || o.queue < 1 || o.grace <= 0 || o.heartbeat <= 0 {
		return usageErr("--workers and --queue must be at least 1, --grace and --heartbeat positive")
	}
	if err := checkPrefix(g.nats.prefix); err != nil {
		return err
	}
	log, logFile, err := g.logger()
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	defer logFile.Close()
	stack, err := g.openStack(ctx)
	if err != nil {
		return err
	}
	defer stack.Close()

	url := g.nats.url
	if url == "" {
		ns, err := natsserver.Start(ctx, natsserver.Options{Listen: o.listen, ConfigFile: o.natsConfig,
			StoreDir: filepath.Join(g.dataDir, "nats"), Logger: log, Debug: g.debug})
		if err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("embedded NATS: %w (another server on that port? use --listen or --nats)", err)}
		}
		defer ns.Shutdown()
		url = ns.URL()
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	nc, err := client.DialNATS(dctx, url, g.natsOptions("cfgsnap serve "+local.Holder(), log))
	cancel()
	if err != nil {
		return classifyClientErr(err)
	}
	defer nc.Close()
	svc := service.New(service.Config{Conn: nc, Stack: stack, Prefix: g.nats.prefix, Workers: o.workers,
		QueueDepth: o.queue, Compat: o.compat, Logger: log, Heartbeat: o.heartbeat, Grace: o.grace, Version: version})
	if err := svc.Start(ctx); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	how := "joined"
	if g.nats.url == "" {
		how = "embedded NATS, listening on"
	}
	fmt.Fprintf(os.Stderr, "cfgsnap serve: %s %s; %d workers; log %s\n", how, nc.ConnectedUrlRedacted(), o.workers, g.logFile)

	stopReload := reloadOnHUP(stack, log, os.Stderr)
	defer stopReload()
	<-ctx.Done()

	fmt.Fprintf(os.Stderr, "cfgsnap serve: stopping; running backups have up to %s to finish\n", o.grace)
	sctx, cancel := context.WithTimeout(context.Background(), o.grace+10*time.Second)
	defer cancel()
	err = svc.Shutdown(sctx)
	if derr := drain(sctx, nc); derr != nil {
		err = errors.Join(err, derr)
	}
	if err != nil {
		log.Error("shutdown", "err", err)
		return &exitError{code: exitFailed, err: fmt.Errorf("shutdown: %w", err)}
	}
	return nil
}

// reloadOnHUP reloads the inventory on each SIGHUP until stop is called.
func reloadOnHUP(stack *local.Stack, log *slog.Logger, stderr io.Writer) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				reload(stack, log, stderr)
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

func reload(stack *local.Stack, log *slog.Logger, stderr io.Writer) {
	warnings, err := stack.Reload()
	if err != nil {
		var ve *inventory.ValidationError
		if errors.As(err, &ve) {
			log.Error("inventory reload refused; the old inventory stays", "problems", err.Error())
		} else {
			log.Error("inventory reload failed; the old inventory stays", "err", err)
		}
		fmt.Fprintf(stderr, "cfgsnap serve: inventory reload refused, the old inventory stays:\n%v\n", err)
		return
	}
	for _, w := range warnings {
		log.Warn("inventory", "warning", w)
	}
	inv := stack.Inventory()
	log.Info("inventory reloaded", "tenants", len(inv.Tenants), "devices", len(inv.Devices()))
}

// drain lets the connection deliver what it holds, then closes it.
func drain(ctx context.Context, nc *nats.Conn) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("drain NATS connection: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain NATS connection: %w", ctx.Err())
	}
}
