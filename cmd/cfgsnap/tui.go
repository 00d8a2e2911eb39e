package main

import (
	"context"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/ui"
)

// runTUI opens the terminal UI on the configured mode's client.
func runTUI(cmd *cobra.Command, g *globals) error {
	if !isTerminal(os.Stdout) || !isTerminal(os.Stdin) {
		return usageErr("the TUI needs a terminal; for scripts use the commands (cfgsnap --help)")
	}
	ctx := cmd.Context()
	c, err := g.openClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return startUI(ctx, c)
}

// startUI runs the TUI until the user quits. Logs go to the log file only.
func startUI(ctx context.Context, c client.Client) error {
	err := ui.Run(ctx, ui.Options{Client: c, NoColor: textfmt.NoColor(), User: local.Holder(), Version: version})
	if err != nil && ctx.Err() == nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}
