package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

func newDevicesCmd(g *globals) *cobra.Command {
	var (
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "devices [--tenant T]",
		Short: "The inventory with each device's last backup and last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.openClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			tenants, err := c.Tenants(ctx)
			if err != nil {
				return classifyClientErr(err)
			}
			var all []api.Device
			found := tenant == ""
			for _, t := range tenants {
				if tenant != "" && t.ID != tenant {
					continue
				}
				found = true
				devs, err := c.Devices(ctx, t.ID)
				if err != nil {
					return classifyClientErr(err)
				}
				all = append(all, devs...)
			}
			if !found {
				return usageErr("unknown tenant %q", tenant)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				for _, d := range all {
					if err := enc.Encode(d); err != nil {
						return err
					}
				}
				return nil
			}
			writeDevices(out, all, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON device (docs/protocol.md) per line")
	return cmd
}

func writeDevices(w io.Writer, devs []api.Device, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tHOST\tROUTEROS\tLAST BACKUP\tHASH\tSTATE")
	for _, d := range devs {
		version, last, hash := "-", "never", "-"
		if r := d.LastBackup; r != nil {
			version, last, hash = r.RouterOSVersion, textfmt.Age(now, r.CollectedAt), textfmt.ShortHash(r.SHA256)
		}
		state := "ok"
		if d.LastBackup == nil {
			state = "-"
		}
		if e := d.LastError; e != nil && (d.LastBackup == nil || e.At.After(d.LastBackup.CollectedAt)) {
			state = "failed: " + string(e.Kind)
		}
		if d.Busy {
			state = "running"
		}
		fmt.Fprintf(tw, "%s/%s\t%s:%d\t%s\t%s\t%s\t%s\n", d.TenantID, d.ID, d.Host, d.Port, version, last, hash, state)
	}
	tw.Flush()
}

// completeTargets completes TENANT/DEVICE from the configured mode's
// inventory, quietly giving nothing when it cannot be read.
func completeTargets(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if err := g.complete(cmd); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		c, err := g.openClient(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer c.Close()
		return targetNames(ctx, c), cobra.ShellCompDirectiveNoFileComp
	}
}

func targetNames(ctx context.Context, c client.Client) []string {
	tenants, err := c.Tenants(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range tenants {
		devs, err := c.Devices(ctx, t.ID)
		if err != nil {
			continue
		}
		for _, d := range devs {
			out = append(out, t.ID+"/"+d.ID)
		}
	}
	return out
}
