package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
	"github.com/charmbracelet/x/ansi"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var (
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:               "history TARGET",
		Short:             "A device's snapshots, newest first",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0], "")
			if err != nil {
				return err
			}
			if limit < 1 {
				return usageErr("--limit must be at least 1")
			}
			c, err := g.openClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			recs, more, err := c.History(cmd.Context(), t.tenant, t.device, limit, "")
			if err != nil {
				return notFound(cmd.Context(), c, t, err, false)
			}
			if len(recs) == 0 {
				return errNoSnapshots(t)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				for _, r := range recs {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			writeHistory(out, recs, time.Now())
			if more {
				fmt.Fprintf(out, "(older snapshots exist: --limit %d shows more)\n", limit*2)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many snapshots")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON snapshot record per line")
	return cmd
}

func writeHistory(w io.Writer, recs []api.SnapshotRecord, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTED\tAGE\tHASH\tSIZE\tCHANGED\tTRIGGER\tBY\tREASON")
	for _, r := range recs {
		changed := "no"
		if r.Changed {
			changed = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.CollectedAt.Local().Format(textfmt.TimeLayout),
			textfmt.Age(now, r.CollectedAt), textfmt.ShortHash(r.SHA256), textfmt.Bytes(r.SizeBytes), changed, r.Trigger, r.RequestedBy, r.Reason)
	}
	tw.Flush()
}

func newShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show TARGET[@REF]",
		Short: "Print a snapshot's normalised configuration",
		Long: `Print a snapshot's content. REF is latest (default), a full SHA-256 or a
unique prefix of at least 7 characters.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, ref, _ := strings.Cut(args[0], "@")
			if ref == "" {
				ref = "latest"
			}
			t, err := parseTarget(spec, "")
			if err != nil {
				return err
			}
			if err := checkRef(ref); err != nil {
				return err
			}
			c, err := g.openClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			_, content, err := c.Snapshot(cmd.Context(), t.tenant, t.device, ref)
			if err != nil {
				return notFound(cmd.Context(), c, t, err, ref == "latest")
			}
			_, err = cmd.OutOrStdout().Write(content)
			return err
		},
	}
}

func checkRef(ref string) error {
	if ref == "latest" {
		return nil
	}
	if len(ref) < 7 || len(ref) > 64 || strings.Trim(strings.ToLower(ref), "0123456789abcdef") != "" {
		return usageErr("snapshot %q: use latest, a SHA-256 or a prefix of at least 7 hex characters", ref)
	}
	return nil
}

func newDiffCmd(g *globals) *cobra.Command {
	var contextLines int
	cmd := &cobra.Command{
		Use:   "diff TARGET [FROM [TO]]",
		Short: "Unified diff between two snapshots",
		Long: `Unified diff between two snapshots of a device. Without FROM and TO: the
two newest snapshots with different hashes. With FROM only: FROM against the
latest. FROM and TO are latest, a SHA-256 or a unique prefix (7+ characters).`,
		Args:              cobra.RangeArgs(1, 3),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0], "")
			if err != nil {
				return err
			}
			for _, r := range args[1:] {
				if err := checkRef(r); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			c, err := g.openClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			from, to := "", "latest"
			switch len(args) {
			case 3:
				from, to = args[1], args[2]
			case 2:
				from = args[1]
			default:
				from, to, err = lastChange(ctx, c, t)
				if err != nil {
					return err
				}
			}
			a, ac, err := c.Snapshot(ctx, t.tenant, t.device, from)
			if err != nil {
				return notFound(ctx, c, t, err, from == "latest")
			}
			b, bc, err := c.Snapshot(ctx, t.tenant, t.device, to)
			if err != nil {
				return classifyClientErr(err)
			}
			out := cmd.OutOrStdout()
			if a.SHA256 == b.SHA256 {
				fmt.Fprintf(out, "no difference: both are %s\n", a.SHA256)
				return nil
			}
			label := func(r api.SnapshotRecord) string {
				return fmt.Sprintf("%s@%s %s", t, textfmt.ShortHash(r.SHA256), r.CollectedAt.Local().Format(textfmt.TimeLayout))
			}
			edits := udiff.Strings(string(ac), string(bc))
			d, err := udiff.ToUnified(label(a), label(b), string(ac), edits, contextLines)
			if err != nil {
				return fmt.Errorf("diff: %w", err)
			}
			f, ok := out.(*os.File)
			writeDiff(out, d, ok && isTerminal(f) && !textfmt.NoColor())
			return nil
		},
	}
	cmd.Flags().IntVarP(&contextLines, "context", "U", 3, "lines of context")
	return cmd
}

// lastChange finds the two newest snapshots with different hashes.
func lastChange(ctx context.Context, c client.Client, t target) (string, string, error) {
	before := ""
	var newest string
	for page := 0; page < 200; page++ {
		recs, more, err := c.History(ctx, t.tenant, t.device, 100, before)
		if err != nil {
			return "", "", notFound(ctx, c, t, err, false)
		}
		for _, r := range recs {
			if newest == "" {
				newest = r.SHA256
				continue
			}
			if r.SHA256 != newest {
				return r.SHA256, newest, nil
			}
		}
		if !more || len(recs) == 0 {
			break
		}
		before = recs[len(recs)-1].SnapshotID
	}
	if newest == "" {
		return "", "", errNoSnapshots(t)
	}
	return "", "", &exitError{code: exitFailed, err: fmt.Errorf("%s has one configuration so far (%s): nothing to diff", t, textfmt.ShortHash(newest))}
}

func writeDiff(w io.Writer, d string, color bool) {
	if !color {
		io.WriteString(w, d)
		return
	}
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(d, "\n") {
		var st ansi.Style
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			st = st.Bold()
		case strings.HasPrefix(line, "@@"):
			st = st.ForegroundColor(ansi.Cyan)
		case strings.HasPrefix(line, "+"):
			st = st.ForegroundColor(ansi.Green)
		case strings.HasPrefix(line, "-"):
			st = st.ForegroundColor(ansi.Red)
		default:
			b.WriteString(line)
			continue
		}
		text, nl := strings.CutSuffix(line, "\n")
		b.WriteString(st.Styled(text))
		if nl {
			b.WriteByte('\n')
		}
	}
	w.Write(b.Bytes())
}
