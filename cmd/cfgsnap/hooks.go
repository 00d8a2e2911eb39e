package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/cfgsnap/cfgsnap/backend/gitmirror"
	"github.com/cfgsnap/cfgsnap/backend/hooks"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
)

// hookFlags are the change and failure hooks of backup and serve.
type hookFlags struct {
	onChange, onFailure string
	timeout             time.Duration
	concurrency         int
}

func (h *hookFlags) add(f *pflag.FlagSet) {
	f.StringVar(&h.onChange, "on-change", "", "run this shell command after each snapshot whose configuration changed (CFGSNAP_* env, redacted diff on stdin; docs/hooks.md)")
	f.StringVar(&h.onFailure, "on-failure", "", "run this shell command after each failed backup (CFGSNAP_ERROR_KIND, CFGSNAP_ERROR)")
	f.DurationVar(&h.timeout, "hook-timeout", hooks.DefaultTimeout, "a hook still running after this is killed with its children")
	f.IntVar(&h.concurrency, "hook-concurrency", hooks.DefaultConcurrency, "hooks running at once (more wait in a bounded queue, beyond it they are dropped and counted)")
}

func (h *hookFlags) enabled() bool { return h.onChange != "" || h.onFailure != "" }

func (h *hookFlags) check() error {
	if h.timeout <= 0 || h.concurrency < 1 {
		return usageErr("--hook-timeout must be positive and --hook-concurrency at least 1")
	}
	return nil
}

// start attaches the hooks to the stack's pipeline.
func (h *hookFlags) start(s *local.Stack, log *slog.Logger, m *metrics.Metrics) *hooks.Runner {
	return hooks.ForStack(s, hooks.Config{OnChange: h.onChange, OnFailure: h.onFailure,
		Timeout: h.timeout, Concurrency: h.concurrency, Logger: log, Metrics: m})
}

// finishHooks waits for the hooks a direct-mode backup started (each is
// bounded by --hook-timeout) and says on stderr which did not go well.
func finishHooks(ctx context.Context, r *hooks.Runner, stderr io.Writer, logFile string) {
	if err := r.Close(ctx); err != nil {
		fmt.Fprintf(stderr, "cfgsnap: warning: %v\n", err)
	}
	for _, hook := range []string{hooks.Change, hooks.Failure} {
		var bad []string
		for _, o := range []string{hooks.OutcomeFailed, hooks.OutcomeTimeout, hooks.OutcomeDropped} {
			if n := r.Count(hook, o); n > 0 {
				bad = append(bad, fmt.Sprintf("%d %s", n, o))
			}
		}
		if len(bad) > 0 {
			fmt.Fprintf(stderr, "cfgsnap: warning: on-%s hook: %v (details in %s)\n", hook, bad, logFile)
		}
	}
}

// startHistoryHooks attaches serve's change hooks and git mirror to the
// stack; the returned func, deferred to run after the service has shut
// down, lets running hooks end (each bounded by --hook-timeout) and stops
// the mirror.
func startHistoryHooks(stack *local.Stack, o serveOptions, m *metrics.Metrics, log *slog.Logger) (stop func()) {
	var stops []func()
	if o.hooks.enabled() {
		runner := o.hooks.start(stack, log, m)
		stops = append(stops, func() {
			ctx, cancel := context.WithTimeout(context.Background(), o.hooks.timeout+5*time.Second)
			defer cancel()
			if err := runner.Close(ctx); err != nil {
				log.Warn("hooks at shutdown", "err", err)
			}
		})
	}
	if o.gitMirror != "" {
		mirror := gitmirror.NewMirror(stack.Store, gitmirror.Options{Dir: o.gitMirror, Secrets: o.gitMirrorSecrets}, 0, log)
		stack.OnStored(mirror.Stored)
		// Its own context: SIGTERM must not cut an export short while the
		// last backups are still being stored.
		ctx, cancel := context.WithCancel(context.Background())
		go mirror.Run(ctx)
		stops = append(stops, func() { cancel(); <-mirror.Done() })
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
