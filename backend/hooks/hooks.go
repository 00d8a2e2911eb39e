// Package hooks runs the commands people attach to backups: --on-change
// after a snapshot whose configuration changed (a mail, a chat message, a
// ticket), --on-failure after a failed backup. A hook learns what happened
// from CFGSNAP_* environment variables and, for a change, reads the
// redacted unified diff on stdin.
//
// Hooks are someone else's code, so they are fenced in: each runs under
// `/bin/sh -c` with a time limit (then its whole process group is killed),
// at most Concurrency at once, behind a bounded queue (beyond it a hook is
// dropped and counted), with an environment stripped of cfgsnap's and the
// inventory's secrets. A hook never fails or delays a backup: the pipeline
// only enqueues.
package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/textdiff"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultConcurrency = 4
	DefaultQueue       = 256
	DefaultShell       = "/bin/sh"
)

// Hook names, the hook label of cfgsnap_hook_runs_total.
const (
	Change  = "change"
	Failure = "failure"
)

// Outcomes, the outcome label of cfgsnap_hook_runs_total.
const (
	OutcomeOK      = "ok"      // exit status 0
	OutcomeFailed  = "failed"  // non-zero exit, or it could not start
	OutcomeTimeout = "timeout" // killed at the time limit
	OutcomeDropped = "dropped" // the queue was full, or the runner closed
)

var (
	hookNames = []string{Change, Failure}
	outcomes  = []string{OutcomeOK, OutcomeFailed, OutcomeTimeout, OutcomeDropped}
)

// maxOutput bounds how much of a hook's stdout and stderr is kept for the
// log: enough to see why it failed, not a way to fill the log.
const maxOutput = 2048

// ContentFunc returns the stored content of a hash (store.Store.Content).
type ContentFunc func(ctx context.Context, sha256 string) ([]byte, error)

// Config says which hooks run and how they are fenced.
type Config struct {
	// OnChange and OnFailure are shell commands; "" runs nothing.
	OnChange, OnFailure string
	// Timeout bounds one run, including reading the contents for the diff.
	Timeout time.Duration
	// Concurrency is the number of hooks running at once.
	Concurrency int
	// Queue is the number of hooks waiting for a slot; more are dropped.
	Queue int
	// Content reads snapshot contents for the diff. Required with OnChange.
	Content ContentFunc
	// SecretEnv names environment variables that hold secrets, read per run
	// because the inventory (password_env) is reloaded on SIGHUP.
	SecretEnv func() []string
	Logger    *slog.Logger
	// Metrics gets cfgsnap_hook_runs_total{hook,outcome}; nil is fine.
	Metrics *metrics.Metrics
	// Shell runs the commands with -c; default /bin/sh.
	Shell string
	// Environ is the environment hooks start from; default os.Environ.
	Environ func() []string
}

// Runner runs hooks in the background.
type Runner struct {
	cfg   Config
	queue chan job
	wg    sync.WaitGroup

	mu     sync.Mutex
	closed bool

	counts [2][4]atomic.Int64 // [hook][outcome]
}

type job struct {
	hook    string
	command string
	env     []string
	tenant  string
	device  string
	// stdin builds what the hook reads, within the run's time limit.
	stdin func(ctx context.Context) ([]byte, error)
}

// New starts a runner's workers. A runner with neither hook configured
// still works and does nothing.
func New(cfg Config) *Runner {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Shell == "" {
		cfg.Shell = DefaultShell
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{cfg: cfg, queue: make(chan job, cfg.Queue)}
	for hi, h := range hookNames {
		if r.command(h) == "" {
			continue
		}
		for oi, o := range outcomes {
			c := &r.counts[hi][oi]
			cfg.Metrics.CounterFunc("cfgsnap_hook_runs_total",
				"Change and failure hooks run, by hook and outcome (ok, failed, timeout, dropped).",
				func() float64 { return float64(c.Load()) }, "hook", h, "outcome", o)
		}
	}
	for range cfg.Concurrency {
		r.wg.Add(1)
		go r.work()
	}
	return r
}

func (r *Runner) command(hook string) string {
	if hook == Change {
		return r.cfg.OnChange
	}
	return r.cfg.OnFailure
}

// Enabled reports whether any hook is configured.
func (r *Runner) Enabled() bool { return r.cfg.OnChange != "" || r.cfg.OnFailure != "" }

// Count returns how many runs of hook ended with outcome.
func (r *Runner) Count(hook, outcome string) int64 {
	for hi, h := range hookNames {
		for oi, o := range outcomes {
			if h == hook && o == outcome {
				return r.counts[hi][oi].Load()
			}
		}
	}
	return 0
}

func (r *Runner) count(hook, outcome string) {
	for hi, h := range hookNames {
		for oi, o := range outcomes {
			if h == hook && o == outcome {
				r.counts[hi][oi].Add(1)
			}
		}
	}
}

// Stored is the pipeline's OnStored: a snapshot whose configuration
// changed runs the change hook. A device's first snapshot counts as a
// change: it runs with an empty CFGSNAP_PREVIOUS_HASH and the whole
// (redacted) configuration as added lines. It never blocks.
func (r *Runner) Stored(rec api.SnapshotRecord) {
	if r.cfg.OnChange == "" || !rec.Changed {
		return
	}
	env := hookEnv(Change, rec.TenantID, rec.DeviceID, rec.Trigger, rec.RequestedBy, rec.Reason,
		"CFGSNAP_HASH="+rec.SHA256,
		"CFGSNAP_PREVIOUS_HASH="+rec.PreviousHash,
		"CFGSNAP_SNAPSHOT_ID="+rec.SnapshotID,
		"CFGSNAP_COLLECTED_AT="+rec.CollectedAt.UTC().Format(time.RFC3339),
		"CFGSNAP_ROUTEROS_VERSION="+rec.RouterOSVersion)
	r.enqueue(job{hook: Change, command: r.cfg.OnChange, env: env, tenant: rec.TenantID, device: rec.DeviceID,
		stdin: func(ctx context.Context) ([]byte, error) { return r.diff(ctx, rec) }})
}

// Failed is the pipeline's OnFailed: it runs the failure hook. The error
// text is the reply's, which carries no secrets. It never blocks.
func (r *Runner) Failed(f backup.Failure) {
	if r.cfg.OnFailure == "" {
		return
	}
	env := hookEnv(Failure, f.TenantID, f.DeviceID, f.Trigger, f.RequestedBy, f.Reason,
		"CFGSNAP_JOB_ID="+f.JobID,
		"CFGSNAP_FAILED_AT="+f.At.UTC().Format(time.RFC3339),
		"CFGSNAP_ERROR_KIND="+string(api.KindOf(f.Err)),
		"CFGSNAP_ERROR="+errText(f.Err))
	r.enqueue(job{hook: Failure, command: r.cfg.OnFailure, env: env, tenant: f.TenantID, device: f.DeviceID})
}

// hookEnv is a hook's environment: what every hook is told (which hook,
// the device, who asked for the backup and why), then the hook's own.
func hookEnv(hook, tenant, device string, trigger api.Trigger, requestedBy, reason string, own ...string) []string {
	return append([]string{
		"CFGSNAP_HOOK=" + hook,
		"CFGSNAP_TENANT=" + tenant,
		"CFGSNAP_DEVICE=" + device,
		"CFGSNAP_TRIGGER=" + string(trigger),
		"CFGSNAP_REQUESTED_BY=" + requestedBy,
		"CFGSNAP_REASON=" + reason,
	}, own...)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (r *Runner) enqueue(j job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.dropped(j, "the hook runner is shutting down")
		return
	}
	select {
	case r.queue <- j:
	default:
		r.dropped(j, fmt.Sprintf("%d hooks already wait for a slot", cap(r.queue)))
	}
}

func (r *Runner) dropped(j job, why string) {
	r.count(j.hook, OutcomeDropped)
	r.cfg.Logger.Warn("hook dropped", "hook", j.hook, "tenant", j.tenant, "device", j.device, "why", why)
}

// Close stops taking hooks and waits for queued and running ones to end,
// or for ctx. Each run ends by its own time limit, so the wait is bounded
// by (queued/Concurrency + 1) * Timeout even with a context that never ends.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hooks still running: %w", ctx.Err())
	}
}

func (r *Runner) work() {
	defer r.wg.Done()
	for j := range r.queue {
		r.run(j)
	}
}

func (r *Runner) run(j job) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	log := r.cfg.Logger.With("hook", j.hook, "tenant", j.tenant, "device", j.device)
	var stdin []byte
	if j.stdin != nil {
		var err error
		if stdin, err = j.stdin(ctx); err != nil {
			outcome := OutcomeFailed
			if ctx.Err() != nil {
				outcome = OutcomeTimeout
			}
			r.count(j.hook, outcome)
			log.Error("hook not run: its input could not be built", "outcome", outcome, "err", err)
			return
		}
	}
	cmd := exec.CommandContext(ctx, r.cfg.Shell, "-c", j.command)
	cmd.Env = append(ScrubEnv(r.cfg.Environ(), r.secretEnv()), j.env...)
	cmd.Stdin = bytes.NewReader(stdin)
	out := &headBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	ownGroup(cmd)
	// A grandchild that keeps the output pipe open must not hold the
	// worker past the limit.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case ctx.Err() != nil:
		r.count(j.hook, OutcomeTimeout)
		log.Error("hook killed at its time limit", "outcome", OutcomeTimeout, "limit", r.cfg.Timeout, "output", out.String())
	case err != nil:
		r.count(j.hook, OutcomeFailed)
		log.Error("hook failed", "outcome", OutcomeFailed, "took", took, "err", err, "output", out.String())
	default:
		r.count(j.hook, OutcomeOK)
		log.Info("hook ran", "outcome", OutcomeOK, "took", took)
	}
}

func (r *Runner) secretEnv() []string {
	if r.cfg.SecretEnv == nil {
		return nil
	}
	return r.cfg.SecretEnv()
}

// diff is the redacted unified diff of a changed snapshot against its
// previous configuration (against nothing for a first snapshot).
func (r *Runner) diff(ctx context.Context, rec api.SnapshotRecord) ([]byte, error) {
	if r.cfg.Content == nil {
		return nil, errors.New("no content reader configured")
	}
	cur, err := r.cfg.Content(ctx, rec.SHA256)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", rec.SHA256, err)
	}
	var prev []byte
	if rec.PreviousHash != "" {
		if prev, err = r.cfg.Content(ctx, rec.PreviousHash); err != nil {
			return nil, fmt.Errorf("read previous snapshot %s: %w", rec.PreviousHash, err)
		}
	}
	return []byte(Diff(rec.TenantID+"/"+rec.DeviceID, rec.PreviousHash, string(prev), rec.SHA256, string(cur))), nil
}

// Diff is the unified diff (3 lines of context, RouterOS menus in the hunk
// headers) from one configuration of a device to the next, secrets masked
// as `cfgsnap diff` masks them. An empty prevHash means a first snapshot:
// the old side is /dev/null.
func Diff(target, prevHash, prev, curHash, cur string) string {
	al, bl := textdiff.SplitLines(prev), textdiff.SplitLines(cur)
	am, bm := routeros.Menus(al), routeros.Menus(bl)
	hunks := textdiff.Hunks(textdiff.Edits(al, bl), textdiff.Options{
		Context: 3,
		Section: func(old bool, i int) string {
			if old {
				return am[i]
			}
			return bm[i]
		},
	})
	from := "/dev/null"
	if prevHash != "" {
		from = target + "@" + short(prevHash)
	}
	return textdiff.Unified(from, target+"@"+short(curHash), redact.Hunks(hunks, al, bl))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// ScrubEnv returns env without the variables a hook must not inherit:
//   - every CFGSNAP_* variable (CFGSNAP_CONTENT_KEY_FILE names the key that
//     seals stored content; the hook's own CFGSNAP_* are set afterwards, so
//     none can be spoofed from outside either);
//   - every NATS_* variable (NATS_PASSWORD, NATS_TOKEN, NATS_NKEY,
//     NATS_CREDS: the service's credentials to the bus);
//   - SSH_AUTH_SOCK (the agent signs with the keys that log into every
//     router);
//   - the variables in secret (the inventory's password_env names).
//
// Everything else stays (PATH, HOME, a webhook URL in the operator's
// environment).
func ScrubEnv(env, secret []string) []string {
	drop := make(map[string]bool, len(secret))
	for _, s := range secret {
		drop[s] = true
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CFGSNAP_") || strings.HasPrefix(name, "NATS_") ||
			name == "SSH_AUTH_SOCK" || drop[name] {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// headBuffer keeps the first max bytes written: a failing hook says why
// at the start more often than at the end of a long output.
type headBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
	cut bool
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - t.b.Len(); room > 0 {
		t.b.Write(p[:min(room, len(p))])
	}
	if t.b.Len() >= t.max && len(p) > 0 {
		t.cut = true
	}
	return len(p), nil
}

func (t *headBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(t.b.String())
	if t.cut {
		s += " …"
	}
	return s
}
