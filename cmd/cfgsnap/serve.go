package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/cluster"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
	"github.com/cfgsnap/cfgsnap/backend/schedule"
	"github.com/cfgsnap/cfgsnap/backend/service"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

type serveOptions struct {
	listen     string
	natsConfig string
	workers    int
	queue      int
	compat     bool
	grace      time.Duration
	heartbeat  time.Duration
	// Scale-out (issue 5): where snapshots and locks live, scheduled
	// backups, and the metrics endpoint.
	store            string
	replicas         int
	historyPerDevice int64
	schedule         time.Duration
	scheduleConc     int
	metricsListen    string
	noAuth           bool // embedded server without credentials (labs)
	keyFileGiven     bool // --content-key-file (or its env/config) was set
	// Issue 9: change hooks and a git mirror kept current.
	hooks            hookFlags
	gitMirror        string
	gitMirrorSecrets bool
	// Issue 11: reply subject prefixes besides _INBOX. (TENANT=PREFIX or
	// PREFIX).
	inboxPrefixes []string
	// The TUI served over SSH and trigger budgets (issue 10).
	tui        tuiServeOptions
	tenantRate int
	retention  retentionFlags
}

func newServeCmd(g *globals) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the backup service on NATS",
		Long: `Run the backup service: it answers the NATS subjects of docs/protocol.md
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
			o.keyFileGiven = cmd.Flags().Changed("content-key-file")
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
	f.StringVar(&o.store, "store", "sqlite", "where snapshots, history and locks live: sqlite (the data dir, one machine) or jetstream (the NATS cluster, any number of workers)")
	f.IntVar(&o.replicas, "replicas", 1, "with --store jetstream: replicas of the stream and buckets (3 on a cluster)")
	f.Int64Var(&o.historyPerDevice, "history-per-device", 0, "with --store jetstream: snapshots kept per device (0: all)")
	f.DurationVar(&o.schedule, "schedule", 0, "back up every device once per this interval (e.g. 6h), spread over it; 0: only on request")
	f.IntVar(&o.scheduleConc, "schedule-concurrency", 0, "scheduled backups this worker runs at once (0: the scheduler's default)")
	f.BoolVar(&o.noAuth, "no-auth", false, "embedded server: let anyone who can reach it in, without credentials (labs only; warns)")
	o.retention.addServeFlags(f)
	f.StringVar(&o.metricsListen, "metrics-listen", "", "HOST:PORT for Prometheus /metrics and /healthz (e.g. 127.0.0.1:9108)")
	o.hooks.add(f)
	f.StringVar(&o.gitMirror, "git-mirror", "", "keep a git repository of the history in DIR current as snapshots arrive (as cfgsnap export git DIR)")
	f.BoolVar(&o.gitMirrorSecrets, "git-mirror-secrets", false, "the git mirror holds secret values unmasked (its directory must be private)")
	f.StringArrayVar(&o.inboxPrefixes, "inbox-prefix", nil, "reply subject prefix allowed besides _INBOX. (repeatable): PREFIX for every request, TENANT=PREFIX for that tenant's requests only, which may then reply nowhere else (e.g. acme=_INBOX_acme)")
	o.tui.addFlags(f, true)
	f.IntVar(&o.tenantRate, "tenant-rate-limit", 0, "backups each tenant may trigger per minute over NATS, whoever asks (0: no limit; the scheduler is not counted)")
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
	if err := o.hooks.check(); err != nil {
		return err
	}
	if err := o.tui.check(); err != nil {
		return err
	}
	if o.tenantRate < 0 {
		return usageErr("--tenant-rate-limit must not be negative")
	}
	if err := o.retention.checkServe(o.schedule > 0); err != nil {
		return err
	}
	log, logFile, err := g.logger()
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	defer logFile.Close()
	inboxAll, inboxTenant, err := service.ParseInboxPrefixes(o.inboxPrefixes)
	if err != nil {
		return usageErr("--inbox-prefix: %v", err)
	}
	if o.store != "sqlite" && o.store != "jetstream" {
		return usageErr("--store %q: use sqlite or jetstream", o.store)
	}
	url := g.nats.url
	natsOpts := g.natsOptions("cfgsnap serve "+local.Holder(), log)
	if url == "" {
		auth, err := embeddedAuth(g, o.noAuth, o.natsConfig, log)
		if err != nil {
			return err
		}
		nso := natsserver.Options{Listen: o.listen, ConfigFile: o.natsConfig,
			StoreDir: filepath.Join(g.dataDir, "nats"), Logger: log, Debug: g.debug}
		if auth != nil {
			nso.NKeys = auth.Users(g.nats.prefix, g.nats.inboxPrefix)
		}
		ns, err := natsserver.Start(ctx, nso)
		if err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("embedded NATS: %w (another server on that port? use --listen or --nats)", err)}
		}
		defer ns.Shutdown()
		url = ns.URL()
		if auth != nil {
			if err := serviceAuth(auth, &natsOpts, url); err != nil {
				return err
			}
			defer reloadClientsOnHUP(ns, auth, g.nats.prefix, g.nats.inboxPrefix, log)()
			fmt.Fprintf(os.Stderr, "cfgsnap serve: NATS requires credentials; yours: %s; other users' keys: %s (cfgsnap credential allow, then SIGHUP)\n",
				auth.ClientSeed, auth.ClientsFile)
		} else if !o.noAuth {
			warnOpen(ns, log)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	nc, err := client.DialNATS(dctx, url, natsOpts)
	cancel()
	if err != nil {
		return classifyClientErr(err)
	}
	defer nc.Close()

	m := metrics.New()
	m.AddCheck("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS %s", nc.Status())
		}
		return nil
	})
	var parts *cluster.Parts
	if o.store == "jetstream" {
		js, err := jetstream.New(nc)
		if err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("jetstream: %w", err)}
		}
		if parts, err = cluster.Open(ctx, js, cluster.Options{Prefix: g.nats.prefix, Replicas: o.replicas, HistoryPerDevice: o.historyPerDevice, Keys: store.NewKeys(g.keyFile)}); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("open the JetStream store: %w", err)}
		}
		m.AddCheck("jetstream", parts.Check)
		if !o.keyFileGiven {
			// Each worker would otherwise create a key of its own and fail
			// to read what the others sealed.
			fmt.Fprintf(os.Stderr, "cfgsnap serve: warning: --store jetstream with this worker's own content key %s: "+
				"give every worker the same --content-key-file\n", g.keyFile)
			log.Warn("content key not shared", "file", g.keyFile)
		}
		// Records and leases that are not what their subject or key says
		// are skipped; say so (issue 11).
		parts.Store.SetLogger(log)
		parts.Locker.SetLogger(log)
		m.CounterFunc("cfgsnap_invalid_entries_total", "History records and lock values skipped as not matching their subject or key.",
			func() float64 { return float64(parts.Store.Skipped()) }, "kind", "history")
		m.CounterFunc("cfgsnap_invalid_entries_total", "History records and lock values skipped as not matching their subject or key.",
			func() float64 { return float64(parts.Locker.Skipped()) }, "kind", "lock")
	}
	stack, err := g.openStack(ctx, func(lo *local.Options) {
		if parts != nil {
			lo.Store, lo.Locker = parts.Store, parts.Locker
			lo.HostKeys = parts.HostKeys
		}
	})
	if err != nil {
		return err
	}
	defer stack.Close()
	defer startHistoryHooks(stack, o, m, log)()

	svc := service.New(service.Config{Conn: nc, Stack: stack, Prefix: g.nats.prefix, Workers: o.workers,
		QueueDepth: o.queue, Compat: o.compat, Logger: log, Heartbeat: o.heartbeat, Grace: o.grace,
		Version: version, Metrics: m, InboxPrefixes: inboxAll, TenantInboxPrefixes: inboxTenant,
		TriggerLimit: ratelimit.New(o.tenantRate)})
	if err := svc.Start(ctx); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if o.tui.listen != "" {
		// The sessions talk to this service like any client, on their own
		// connection with the service's credentials; each is confined to
		// its user's tenants by tuiserver.
		tuiOpts := natsOpts
		tuiOpts.Name = "cfgsnap serve tui " + local.Holder()
		tnc, err := client.DialNATS(ctx, url, tuiOpts)
		if err != nil {
			return classifyClientErr(err)
		}
		tc := client.NewRemote(tnc, g.nats.prefix, client.RemoteOptions{StallTimeout: g.nats.stallTimeout})
		defer tc.Close()
		stopTUI, _, err := startTUIServer(o.tui, tc, g.dataDir, log, os.Stderr)
		if err != nil {
			return err
		}
		defer stopTUI()
	}
	if o.metricsListen != "" {
		stopMetrics, err := serveMetrics(o.metricsListen, m, log)
		if err != nil {
			return usageErr("--metrics-listen %s: %v", o.metricsListen, err)
		}
		defer stopMetrics()
	}
	schedDone := make(chan struct{})
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	if o.schedule > 0 {
		sched, err := newScheduler(schedCtx, stack, parts, o, m, log)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		go func() {
			defer close(schedDone)
			if err := sched.Run(schedCtx); err != nil && schedCtx.Err() == nil {
				log.Error("scheduler stopped", "err", err)
			}
		}()
	} else {
		close(schedDone)
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
	stopSched()
	<-schedDone
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
	return onHUP(func() { reload(stack, log, stderr) })
}

// onHUP runs fn on each SIGHUP, one at a time, until stop is called; the
// inventory, the NATS client keys and the TUI users all reload this way.
func onHUP(fn func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				fn()
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

// newScheduler builds the scheduled backups of --schedule. Its state lives
// where the snapshots do, so any number of workers on one store back each
// device up once per interval.
func newScheduler(ctx context.Context, stack *local.Stack, parts *cluster.Parts, o serveOptions, m *metrics.Metrics, log *slog.Logger) (*schedule.Scheduler, error) {
	var state schedule.State
	if parts != nil {
		state = parts.Schedule
	} else {
		sq, ok := stack.Store.(*store.SQLite)
		if !ok {
			return nil, fmt.Errorf("schedule: no state store")
		}
		st, err := schedule.OpenSQLite(ctx, sq.DB())
		if err != nil {
			return nil, fmt.Errorf("schedule state: %w", err)
		}
		state = st
	}
	devices := func() []store.DeviceKey {
		var out []store.DeviceKey
		for _, d := range stack.Inventory().Devices() {
			out = append(out, store.DeviceKey{Tenant: d.TenantID, Device: d.ID})
		}
		return out
	}
	after, err := o.retention.afterRound(stack.Store, log)
	if err != nil {
		return nil, err
	}
	return schedule.New(schedule.Config{Interval: o.schedule, Devices: devices, Backup: stack.Pipeline,
		State: state, Worker: fmt.Sprintf("%s:%d", local.Holder(), os.Getpid()), Concurrency: o.scheduleConc,
		Metrics: m, Logger: log, AfterRound: after}), nil
}

// serveMetrics serves /metrics and /healthz until stop is called.
func serveMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
