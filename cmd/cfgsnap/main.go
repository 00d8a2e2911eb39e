// Command cfgsnap backs up MikroTik RouterOS configurations: a terminal UI
// and CLI for the jump host, the NATS backup service, a demo and a device
// simulator, in one binary. Flags and exit statuses follow docs/cli.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses of cli.md.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitLocked      = 3
	exitUnreachable = 4
	// exitInterrupted is the shell's status for a command ended by SIGINT
	// (128+2): Ctrl-C stopped the backups that were running.
	exitInterrupted = 130
)

// exitError carries an exit status up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "cfgsnap:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors are usage errors (unknown flag, wrong arguments).
	fmt.Fprintln(os.Stderr, "cfgsnap:", err)
	return exitUsage
}
