package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/collect"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
)

// remoteMode reports whether commands go to the backup service: a NATS
// URL is configured, or else (no inventory either) a local service is found.
func (g *globals) remoteMode() bool {
	if u := g.localService(); u != "" {
		g.nats.url = u
	}
	return g.nats.url != "" && !g.direct
}

// openStack opens this machine's store, lock and inventory. Inventory
// problems are configuration errors (exit 2); warnings go to stderr.
func (g *globals) openStack(ctx context.Context, tweak ...func(*local.Options)) (*local.Stack, error) {
	opts := local.Options{DataDir: g.dataDir, ContentKeyFile: g.keyFile, InventoryPath: g.inventory, Timeout: g.timeout}
	for _, fn := range tweak {
		fn(&opts)
	}
	s, err := local.Open(ctx, opts)
	if err != nil {
		var ve *inventory.ValidationError
		if errors.As(err, &ve) {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("inventory refused, nothing was run:\n%w", err)}
		}
		return nil, &exitError{code: exitUsage, err: err}
	}
	for _, w := range s.Warnings {
		fmt.Fprintln(os.Stderr, "cfgsnap: warning:", w)
	}
	sc, err := g.loadSSHConfig()
	if err != nil {
		s.Close()
		return nil, &exitError{code: exitUsage, err: err}
	}
	s.Pipeline.Dialer().SSHConfig = sc
	return s, nil
}

// loadSSHConfig reads --ssh-config: the default ~/.ssh/config may be
// missing, a file named on the command line must exist, "none" turns it off.
func (g *globals) loadSSHConfig() (*collect.SSHConfig, error) {
	switch g.sshConfig {
	case "none":
		return nil, nil
	case "":
		return collect.LoadSSHConfig(collect.DefaultSSHConfigPath(), true)
	}
	return collect.LoadSSHConfig(g.sshConfig, false)
}

// openClient returns the client of the configured mode and a func that
// releases it.
func (g *globals) openClient(ctx context.Context) (client.Client, error) {
	if g.remoteMode() && g.inventoryGiven {
		// Which one was meant is a guess either way: say so, not switch.
		return nil, usageErr("--inventory is for backing up over SSH from here, but a NATS URL is configured (%s): add --direct to use the inventory, or drop --inventory to use the backup service", g.natsFrom)
	}
	if g.remoteMode() {
		return g.openRemote(ctx)
	}
	s, err := g.openStack(ctx)
	if err != nil {
		return nil, err
	}
	return &directClient{Direct: client.NewDirect(s), stack: s}, nil
}

// directClient closes its stack with it.
type directClient struct {
	*client.Direct
	stack *local.Stack
}

func (d *directClient) Close() error { return d.stack.Close() }

// logger opens the log file (0600, its dir 0700, rotated by size). Logs never go to the
// terminal, where they would tear the TUI and could show what they should
// not.
func (g *globals) logger() (*slog.Logger, io.Closer, error) {
	if err := os.MkdirAll(filepath.Dir(g.logFile), 0o700); err != nil {
		return nil, nil, fmt.Errorf("log dir: %w", err)
	}
	f, err := openRotating(g.logFile, logMaxBytes, logKeep)
	if err != nil {
		return nil, nil, err
	}
	level := slog.LevelInfo
	if g.debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})), f, nil
}

// isTerminal reports whether f is a terminal (for live progress and colour).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
