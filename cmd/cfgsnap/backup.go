package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

type target struct{ tenant, device string }

func (t target) String() string { return t.tenant + "/" + t.device }

// parseTarget reads TENANT/DEVICE; with a default tenant a bare DEVICE is
// accepted too.
func parseTarget(s, defTenant string) (target, error) {
	tenant, device, ok := strings.Cut(s, "/")
	if !ok {
		if defTenant == "" {
			return target{}, usageErr("target %q: write it as TENANT/DEVICE (or give --tenant)", s)
		}
		tenant, device = defTenant, s
	}
	if !api.ValidID(tenant) || !api.ValidID(device) {
		return target{}, usageErr("target %q: tenant and device IDs are 1-64 letters, digits, '_' or '-'", s)
	}
	return target{tenant, device}, nil
}

func newBackupCmd(g *globals) *cobra.Command {
	var (
		all         bool
		tenant      string
		asJSON      bool
		reason      string
		concurrency int
		hf          hookFlags
		pin         bool
	)
	cmd := &cobra.Command{
		Use:   "backup TARGET... [--all] [--tenant T]",
		Short: "Back up devices now and print each result",
		Long: `Back up devices now, without the TUI, in whichever mode is configured.
One line per device: status, SHA-256, changed or not. With --json, one
trigger reply (docs/protocol.md) per line.

Exit status: 0 all succeeded, 1 at least one failed, 2 usage or configuration
error, 3 none failed but at least one device was locked by another backup,
4 the backup service could not be reached.`,
		Example: `  cfgsnap backup acme/core-rtr-1
  cfgsnap backup --all --concurrency 32
  cfgsnap backup --tenant acme --all --json --reason "before change CHG-1234"`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !all && len(args) == 0 {
				return usageErr("name at least one TENANT/DEVICE, or give --all")
			}
			if concurrency < 1 {
				return usageErr("--concurrency must be at least 1")
			}
			if err := hf.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := g.openClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if dc, ok := c.(*directClient); ok && hf.enabled() {
				log, logFile, err := g.logger()
				if err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				defer logFile.Close()
				runner := hf.start(dc.stack, log, nil)
				defer finishHooks(ctx, runner, os.Stderr, g.logFile)
			} else if hf.enabled() {
				fmt.Fprintln(os.Stderr, "cfgsnap: warning: --on-change/--on-failure run in direct mode and in serve; in remote mode the service runs its own hooks")
			}
			targets, bad, err := resolveTargets(ctx, c, args, tenant, all, asJSON)
			if err != nil {
				return err
			}
			return runBackups(ctx, c, targets, backupRun{
				concurrency: concurrency, asJSON: asJSON, bad: bad,
				opts:   client.BackupOptions{RequestedBy: local.Holder(), Reason: reason},
				stdout: cmd.OutOrStdout(), stderr: os.Stderr, live: isTerminal(os.Stderr),
				pin: pin,
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "every device (of --tenant, if given)")
	f.StringVar(&tenant, "tenant", "", "tenant of --all, or of targets given as bare DEVICE")
	f.BoolVar(&asJSON, "json", false, "one JSON trigger reply per line")
	f.StringVar(&reason, "reason", "", "why, recorded with the snapshot (e.g. a change ticket)")
	f.IntVar(&concurrency, "concurrency", 8, "backups at once")
	hf.add(f)
	f.BoolVar(&pin, "pin", false, "pin each snapshot made, so retention never removes it (the note is --reason)")
	return cmd
}

// resolveTargets expands --all and checks named targets exist, so a typo is
// a usage error (exit 2) before anything runs, naming the nearest IDs. With
// lenient (--json, for scripts that read one reply per target) a bad target
// is instead a failed reply of its own and the valid ones still run. The
// tenant list is read only for --all or --tenant: a NATS user confined to
// its tenants may not list them all.
func resolveTargets(ctx context.Context, c client.Client, args []string, tenant string, all, lenient bool) ([]target, []api.TriggerReply, error) {
	var out []target
	var bad []api.TriggerReply
	seen := map[target]bool{}
	add := func(t target) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	devicesOf := map[string]map[string]bool{}
	devices := func(tn string) (map[string]bool, error) {
		if m, ok := devicesOf[tn]; ok {
			return m, nil
		}
		devs, err := c.Devices(ctx, tn)
		if err != nil {
			if api.KindOf(err) == api.KindNotFound {
				return nil, unknownTarget(ctx, c, target{tenant: tn})
			}
			return nil, classifyClientErr(err)
		}
		m := map[string]bool{}
		for _, d := range devs {
			m[d.ID] = true
		}
		devicesOf[tn] = m
		return m, nil
	}
	if all {
		var ids []string
		if tenant != "" {
			ids = []string{tenant}
		} else {
			tenants, err := c.Tenants(ctx)
			if err != nil {
				return nil, nil, classifyClientErr(err)
			}
			for _, t := range tenants {
				ids = append(ids, t.ID)
			}
		}
		for _, id := range ids {
			devs, err := c.Devices(ctx, id)
			if err != nil {
				if api.KindOf(err) == api.KindNotFound {
					return nil, nil, unknownTarget(ctx, c, target{tenant: id})
				}
				return nil, nil, classifyClientErr(err)
			}
			for _, d := range devs {
				add(target{id, d.ID})
			}
		}
	}
	// refuse reports one bad target: at once, or as its own reply.
	refuse := func(a string, t target, kind api.ErrorKind, err error) error {
		var ee *exitError
		if !lenient || !errors.As(err, &ee) || ee.code != exitUsage {
			return err
		}
		if t == (target{}) {
			t.tenant, t.device, _ = strings.Cut(a, "/")
		}
		bad = append(bad, api.FailedReply("", t.tenant, t.device, api.Errorf(kind, "%v", ee.err)))
		return nil
	}
	for _, a := range args {
		t, err := parseTarget(a, tenant)
		if err != nil {
			if err := refuse(a, target{}, api.KindBadRequest, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		m, err := devices(t.tenant)
		if err == nil && !m[t.device] {
			err = unknownTarget(ctx, c, t)
		}
		if err != nil {
			if err := refuse(a, t, api.KindNotFound, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		add(t)
	}
	if len(out) == 0 && len(bad) == 0 {
		return nil, nil, usageErr("no devices to back up")
	}
	return out, bad, nil
}

type backupRun struct {
	concurrency int
	asJSON      bool
	opts        client.BackupOptions
	stdout      io.Writer
	stderr      io.Writer
	live        bool
	bad         []api.TriggerReply // targets refused before running, reported as failed replies
	pin         bool               // pin each snapshot made (backup --pin)
}

func runBackups(ctx context.Context, c client.Client, targets []target, r backupRun) error {
	prog := newProgressLine(r.stderr, r.live, len(targets))
	defer prog.stop()
	results := make(chan api.TriggerReply)
	sem := make(chan struct{}, r.concurrency)
	var unreachable error
	var mu sync.Mutex
	go func() {
		var wg sync.WaitGroup
		for _, t := range targets {
			sem <- struct{}{}
			wg.Add(1)
			go func(t target) {
				defer func() { <-sem; wg.Done() }()
				reply, err := c.Backup(ctx, t.tenant, t.device, r.opts, func(ev api.ProgressEvent) { prog.event(ev) })
				switch {
				case err != nil && ctx.Err() != nil:
					reply = api.FailedReply("", t.tenant, t.device, api.Wrap(api.KindCancelled, err, "backup cancelled"))
				case err != nil:
					mu.Lock()
					if unreachable == nil {
						unreachable = err
					}
					mu.Unlock()
					reply = api.FailedReply("", t.tenant, t.device, err)
				}
				if r.pin {
					reply = pinReply(ctx, c, reply, r.opts.Reason)
				}
				prog.done(t.String())
				results <- reply
			}(t)
		}
		wg.Wait()
		close(results)
	}()
	var failed, locked, cancelled int
	for _, reply := range r.bad {
		b, _ := json.Marshal(reply)
		fmt.Fprintf(r.stdout, "%s\n", b)
		failed++
	}
	for reply := range results {
		prog.clear()
		if r.asJSON {
			b, _ := json.Marshal(reply)
			fmt.Fprintf(r.stdout, "%s\n", b)
		} else {
			fmt.Fprintln(r.stdout, formatReply(reply))
		}
		prog.redraw()
		switch {
		case reply.Status == api.StatusFailed && reply.ErrorKind == api.KindCancelled && ctx.Err() != nil:
			cancelled++
		case reply.Status == api.StatusFailed:
			failed++
		case reply.Status == api.StatusLocked:
			locked++
		}
	}
	if ctx.Err() != nil { // Ctrl-C: the shell's status for SIGINT, whatever else happened
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted: %d of %d backups cancelled", cancelled, len(targets))}
	}
	if unreachable != nil {
		return classifyClientErr(unreachable)
	}
	switch {
	case failed > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d backups failed", failed, len(targets)+len(r.bad))}
	case locked > 0:
		return &exitError{code: exitLocked, err: fmt.Errorf("%d of %d devices were locked by another backup", locked, len(targets))}
	}
	return nil
}

// formatReply is the one-line human form of a trigger reply.
func formatReply(r api.TriggerReply) string {
	t := r.TenantID + "/" + r.DeviceID
	switch r.Status {
	case api.StatusSuccess:
		changed := "unchanged"
		if r.IsChanged() {
			changed = "changed"
			if r.PreviousHash == "" {
				changed = "changed (first backup)"
			}
		}
		return fmt.Sprintf("%-32s success  %s  %-9s  %s  RouterOS %s  %s", t, r.SHA256, changed,
			textfmt.Bytes(r.SizeBytes), r.RouterOSVersion, time.Duration(r.DurationMS)*time.Millisecond)
	case api.StatusLocked:
		if r.Lock != nil {
			return fmt.Sprintf("%-32s locked   held by %s since %s (job %s, stage %s)", t, r.Lock.Holder,
				r.Lock.Since.Local().Format(textfmt.ClockLayout), r.Lock.JobID, r.Lock.Stage)
		}
		return fmt.Sprintf("%-32s locked   %s", t, r.Message)
	default:
		// One line per device, whatever the device printed: scripts count lines.
		return fmt.Sprintf("%-32s failed   %s: %s", t, r.ErrorKind, strings.Join(strings.Fields(r.Error), " "))
	}
}

// classifyClientErr maps an error of the client (not of a backup) to an
// exit status: an unreachable service is 4, an unknown device 2.
func classifyClientErr(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	switch api.KindOf(err) {
	case api.KindUnreachable, api.KindTimeout:
		return &exitError{code: exitUnreachable, err: err}
	case api.KindNotFound, api.KindBadRequest:
		return &exitError{code: exitUsage, err: err}
	}
	return &exitError{code: exitFailed, err: err}
}
