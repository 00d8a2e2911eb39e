package main

import "github.com/spf13/cobra"

func runTUI(cmd *cobra.Command, g *globals) error {
	return usageErr("the terminal UI is not built yet: use the commands (cfgsnap --help)")
}
