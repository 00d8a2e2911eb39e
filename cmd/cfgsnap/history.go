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

	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/textdiff"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
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
	fmt.Fprintln(tw, "COLLECTED\tAGE\tHASH\tSIZE\tCHANGED\tTRIGGER\tBY\tREASON\tPIN")
	for _, r := range recs {
		changed := "no"
		if r.Changed {
			changed = "yes"
		}
		pin := ""
		if r.Pinned {
			pin = strings.TrimSpace("* " + r.PinNote)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.CollectedAt.Local().Format(textfmt.TimeLayout),
			textfmt.Age(now, r.CollectedAt), textfmt.ShortHash(r.SHA256), textfmt.Bytes(r.SizeBytes), changed, r.Trigger, r.RequestedBy, r.Reason, pin)
	}
	tw.Flush()
}

func newShowCmd(g *globals) *cobra.Command {
	var secrets bool
	cmd := &cobra.Command{
		Use:   "show TARGET[@REF]",
		Short: "Print a snapshot's normalised configuration, secrets masked",
		Long: `Print a snapshot's content. REF is latest (default), a snapshot ID (as
history --json lists them), a full SHA-256 or a unique prefix of at least 7
characters.

Secret values (passwords, PSKs, keys, SNMP communities) are masked as
<redacted>, line for line. --secrets prints the normalised export exactly,
the text whose SHA-256 is the snapshot's hash.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, ref, err := parseTargetRef(args[0])
			if err != nil {
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
			if !secrets {
				_, err = io.WriteString(cmd.OutOrStdout(), redact.Text(string(content)))
				return err
			}
			_, err = cmd.OutOrStdout().Write(content)
			return err
		},
	}
	cmd.Flags().BoolVar(&secrets, "secrets", false, "print secret values as stored (the hashed text)")
	return cmd
}

// parseTargetRef reads TENANT/DEVICE[@REF], REF latest when absent.
func parseTargetRef(arg string) (target, string, error) {
	spec, ref, _ := strings.Cut(arg, "@")
	if ref == "" {
		ref = "latest"
	}
	t, err := parseTarget(spec, "")
	if err != nil {
		return target{}, "", err
	}
	if err := checkRef(ref); err != nil {
		return target{}, "", err
	}
	return t, ref, nil
}

func checkRef(ref string) error {
	if ref == "latest" {
		return nil
	}
	if api.IsID(ref) {
		return nil // a snapshot ID, as `history --json` lists them
	}
	if len(ref) < 7 || len(ref) > 64 || strings.Trim(strings.ToLower(ref), "0123456789abcdef") != "" {
		return usageErr("snapshot %q: use latest, a snapshot ID, a SHA-256 or a prefix of at least 7 hex characters", ref)
	}
	return nil
}

func newDiffCmd(g *globals) *cobra.Command {
	var (
		contextLines int
		secrets      bool
	)
	cmd := &cobra.Command{
		Use:   "diff TARGET [FROM [TO]] | diff TARGET[@REF] TARGET[@REF]",
		Short: "Unified diff between two snapshots, or two devices",
		Long: `Unified diff between two snapshots of a device. Without FROM and TO: the
two newest snapshots with different hashes. With FROM only: FROM against the
latest. FROM and TO are latest, a snapshot ID, a SHA-256 or a unique prefix
(7+ characters).

With two targets (arguments with a "/"), the diff compares two devices, e.g.
a router with its twin: acme/r1 acme/r2, or acme/r1@REF globex/r9 (REF
defaults to latest).

The diff is by whole lines, minimal (the lines GNU diff -u shows), and each
hunk header names the RouterOS menu of its first change. Secret values are
masked: <redacted>, or <redacted:changed> where the value differs, so a
change of a secret alone still shows as a changed line. --secrets shows them.`,
		Args:              cobra.RangeArgs(1, 3),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			// An argument with a "/" is a target, anything else a ref.
			if len(args) == 2 && strings.Contains(args[1], "/") {
				return diffDevices(cmd, g, args[0], args[1], contextLines, secrets)
			}
			if strings.Contains(args[0], "@") {
				return usageErr("%s: give refs after the target (diff TARGET FROM TO), or two targets to compare devices", args[0])
			}
			t, err := parseTarget(args[0], "")
			if err != nil {
				return err
			}
			for _, r := range args[1:] {
				if strings.Contains(r, "/") {
					return usageErr("%s: two devices are compared with exactly two targets: diff TENANT/A[@REF] TENANT/B[@REF]", r)
				}
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
			printDiff(out, diffLabel(t, a), diffLabel(t, b), string(ac), string(bc), contextLines, secrets)
			return nil
		},
	}
	cmd.Flags().IntVarP(&contextLines, "context", "U", 3, "lines of context")
	cmd.Flags().BoolVar(&secrets, "secrets", false, "show secret values instead of <redacted>")
	return cmd
}

func diffLabel(t target, r api.SnapshotRecord) string {
	return fmt.Sprintf("%s@%s %s", t, textfmt.ShortHash(r.SHA256), r.CollectedAt.Local().Format(textfmt.TimeLayout))
}

// diffDevices compares the snapshots of two devices, e.g. twins.
func diffDevices(cmd *cobra.Command, g *globals, argA, argB string, contextLines int, secrets bool) error {
	ta, refA, err := parseTargetRef(argA)
	if err != nil {
		return err
	}
	tb, refB, err := parseTargetRef(argB)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	c, err := g.openClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	a, ac, err := c.Snapshot(ctx, ta.tenant, ta.device, refA)
	if err != nil {
		return classifyClientErr(err)
	}
	b, bc, err := c.Snapshot(ctx, tb.tenant, tb.device, refB)
	if err != nil {
		return classifyClientErr(err)
	}
	out := cmd.OutOrStdout()
	if a.SHA256 == b.SHA256 {
		fmt.Fprintf(out, "no difference: %s and %s are both %s\n", ta, tb, a.SHA256)
		return nil
	}
	printDiff(out, diffLabel(ta, a), diffLabel(tb, b), string(ac), string(bc), contextLines, secrets)
	return nil
}

// printDiff writes the line diff of two normalised exports with the menu
// of each hunk in its header, secrets masked unless secrets is set.
func printDiff(out io.Writer, labelA, labelB, a, b string, contextLines int, secrets bool) {
	al, bl := textdiff.SplitLines(a), textdiff.SplitLines(b)
	am, bm := routeros.Menus(al), routeros.Menus(bl)
	hunks := textdiff.Hunks(textdiff.Edits(al, bl), textdiff.Options{
		Context: max(contextLines, 0),
		Section: func(old bool, i int) string {
			if old {
				return am[i]
			}
			return bm[i]
		},
	})
	if !secrets {
		hunks = redact.Hunks(hunks, al, bl)
	}
	f, ok := out.(*os.File)
	writeDiff(out, textdiff.Unified(labelA, labelB, hunks), ok && isTerminal(f) && !textfmt.NoColor())
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
		_, _ = io.WriteString(w, d) // stdout gone (a closed pipe): nothing left to tell
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
	_, _ = w.Write(b.Bytes())
}
