package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

func newPinCmd(g *globals) *cobra.Command {
	var (
		note   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "pin TARGET@REF",
		Short: "Pin a snapshot so that retention never removes it",
		Long: `Pin a snapshot: ` + "`cfgsnap prune`" + ` and serve --retention never remove it
(pre/post change pairs, audit evidence). REF is latest, a snapshot ID (as
history --json lists them: that very snapshot), or a SHA-256 or a unique prefix
of at least 7 characters (the newest snapshot with that hash). Pinning a pinned snapshot replaces its note. History marks pins with *.`,
		Example: `  cfgsnap pin acme/core-rtr-1@latest --note "before CHG-1234"
  cfgsnap pin acme/core-rtr-1@3f2a9c1 --note "audit 2026-Q1"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPin(cmd, g, args[0], true, note, asJSON)
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why it is pinned")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the snapshot record as JSON")
	return cmd
}

func newUnpinCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:               "unpin TARGET@REF",
		Short:             "Unpin a snapshot: retention may remove it again",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPin(cmd, g, args[0], false, "", asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the snapshot record as JSON")
	return cmd
}

func runPin(cmd *cobra.Command, g *globals, arg string, pinned bool, note string, asJSON bool) error {
	t, ref, err := parseTargetRef(arg)
	if err != nil {
		return err
	}
	if len(note) > api.MaxPinNote {
		return usageErr("--note is %d bytes: at most %d", len(note), api.MaxPinNote)
	}
	ctx := cmd.Context()
	c, err := g.openClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	p, ok := c.(client.Pinner)
	if !ok {
		return &exitError{code: exitFailed, err: fmt.Errorf("this client cannot pin snapshots")}
	}
	rec, err := p.Pin(ctx, t.tenant, t.device, ref, pinned, note)
	if err != nil {
		return classifyClientErr(err)
	}
	out := cmd.OutOrStdout()
	if asJSON {
		return json.NewEncoder(out).Encode(rec)
	}
	verb := "unpinned"
	if pinned {
		verb = "pinned"
	}
	fmt.Fprintf(out, "%s %s %s (%s)", t, verb, textfmt.ShortHash(rec.SHA256), rec.CollectedAt.Local().Format("2006-01-02 15:04:05"))
	if rec.PinNote != "" {
		fmt.Fprintf(out, ": %s", rec.PinNote)
	}
	fmt.Fprintln(out)
	return nil
}

// pinReply pins the snapshot a successful backup made (backup --pin); a
// failed pin turns the reply into a failure, since the snapshot the user
// asked to keep is not protected.
func pinReply(ctx context.Context, c client.Client, reply api.TriggerReply, note string) api.TriggerReply {
	if reply.Status != api.StatusSuccess {
		return reply
	}
	p, ok := c.(client.Pinner)
	if !ok {
		return api.FailedReply(reply.JobID, reply.TenantID, reply.DeviceID, api.Errorf(api.KindInternal, "snapshot %s stored but not pinned: this client cannot pin", textfmt.ShortHash(reply.SHA256)))
	}
	if _, err := p.Pin(ctx, reply.TenantID, reply.DeviceID, reply.SHA256, true, note); err != nil {
		failed := api.FailedReply(reply.JobID, reply.TenantID, reply.DeviceID,
			api.Wrap(api.KindOf(err), err, fmt.Sprintf("snapshot %s stored but not pinned", textfmt.ShortHash(reply.SHA256))))
		failed.SHA256, failed.SnapshotID = reply.SHA256, reply.SnapshotID
		return failed
	}
	return reply
}
