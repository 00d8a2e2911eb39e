package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

// exitNoMatch is search's status when nothing matched, as grep's.
const exitNoMatch = 1

// openFleet checks --max against the bound the service enforces, then
// opens the client for the fleet-wide commands (search, changes); the
// caller calls closeFleet when done.
func (g *globals) openFleet(ctx context.Context, maxFlag int) (f client.Fleet, closeFleet func(), err error) {
	if maxFlag < 1 || maxFlag > api.MaxSearchMax {
		return nil, nil, usageErr("--max must be 1..%d", api.MaxSearchMax)
	}
	c, err := g.openClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	if f, err = client.AsFleet(c); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return f, func() { _ = c.Close() }, nil
}

func newSearchCmd(g *globals) *cobra.Command {
	var (
		req    api.SearchRequest
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "search PATTERN [--tenant T] [--device GLOB] [-i] [--secrets] [--max N] [--json]",
		Short: "Search the latest configuration of every device, grep-style",
		Long: `Search the latest snapshot of every device for lines matching PATTERN, a
regular expression (Go RE2 syntax; each line is matched on its own, so ^ and $
anchor at its ends). Prints TENANT/DEVICE:LINE: MENU: TEXT, ordered by tenant,
device and line; LINE is the line number in ` + "`cfgsnap show`" + `, MENU the RouterOS
menu in effect there.

Secret values are masked, and the pattern is matched against the masked lines:
a search cannot tell whether a secret matches. --secrets matches and prints the
stored lines.

In remote mode each tenant is asked on its own subject, so a NATS user sees
only the tenants it may use; without --tenant the tenants it may list.

Exit status: 0 when a line matched, 1 when none did (as grep), 2 for a bad
pattern or another error, 4 when the service cannot be reached.`,
		Example: `  cfgsnap search 'address=10\.0\.0\.1\b'
  cfgsnap search -i 'list=blocked' --tenant acme --device 'core-*'
  cfgsnap search --json 'wg-mgmt' | jq -r '.device_id'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Pattern = args[0]
			ctx := cmd.Context()
			f, closeFleet, err := g.openFleet(ctx, req.Max)
			if err != nil {
				return err
			}
			defer closeFleet()
			rep, err := f.Search(ctx, req)
			if err != nil {
				return searchErr(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				for _, m := range rep.Matches {
					if err := enc.Encode(m); err != nil {
						return err
					}
				}
			} else {
				writeMatches(out, rep.Matches)
			}
			if rep.More {
				fmt.Fprintf(cmd.ErrOrStderr(), "cfgsnap: more than %d matches: narrow the pattern, --tenant or --device, or raise --max\n", req.Max)
			}
			if len(rep.Matches) == 0 {
				return &exitError{code: exitNoMatch, err: fmt.Errorf("")}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.TenantID, "tenant", "", "only this tenant")
	fl.StringVar(&req.Device, "device", "", "only devices whose ID matches this glob (* ? [...])")
	fl.BoolVarP(&req.IgnoreCase, "ignore-case", "i", false, "match case-insensitively")
	fl.BoolVar(&req.Secrets, "secrets", false, "match and print secret values (masked by default)")
	fl.IntVar(&req.Max, "max", api.DefaultSearchMax, "at most this many matches")
	fl.BoolVar(&asJSON, "json", false, "one JSON match per line: tenant_id, device_id, sha256_hash, line, menu, text")
	return cmd
}

// searchErr maps a failed search to grep's status 2 (not 1, which says
// "no match"), and an unreachable service to 4.
func searchErr(err error) error {
	err = classifyClientErr(err)
	var ee *exitError
	if errors.As(err, &ee) && ee.code == exitFailed {
		ee.code = exitUsage
	}
	return err
}

// writeMatches prints TENANT/DEVICE:LINE: MENU: TEXT (no MENU before the
// first menu of an export).
func writeMatches(w io.Writer, ms []api.SearchMatch) {
	for _, m := range ms {
		if m.Menu == "" {
			fmt.Fprintf(w, "%s/%s:%d: %s\n", m.TenantID, m.DeviceID, m.Line, m.Text)
			continue
		}
		fmt.Fprintf(w, "%s/%s:%d: %s: %s\n", m.TenantID, m.DeviceID, m.Line, m.Menu, m.Text)
	}
}

func newChangesCmd(g *globals) *cobra.Command {
	var (
		since, tenant string
		limit         int
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "changes [--since 24h] [--tenant T] [--json]",
		Short: "Every device whose configuration changed in a window, newest first",
		Long: `List the snapshots that changed a device's configuration since --since (a
duration such as 24h, 90m or 7d, or a time such as 2026-11-30 or
2026-11-30T18:00:00Z), newest first: the lines added and removed since the
previous configuration, what triggered the backup, who asked and why. A
device's first snapshot is listed as a new device, not as a change.
` + "`cfgsnap diff TENANT/DEVICE PREVIOUS HASH`" + ` shows a change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			from, err := parseSince(since, now)
			if err != nil {
				return usageErr("--since %q: %v", since, err)
			}
			ctx := cmd.Context()
			f, closeFleet, err := g.openFleet(ctx, limit)
			if err != nil {
				return err
			}
			defer closeFleet()
			rep, err := f.Changes(ctx, api.ChangesRequest{Since: from, TenantID: tenant, Max: limit})
			if err != nil {
				return classifyClientErr(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				for _, ch := range rep.Changes {
					if err := enc.Encode(ch); err != nil {
						return err
					}
				}
			} else if len(rep.Changes) == 0 {
				fmt.Fprintf(out, "no configuration changed since %s\n", from.Local().Format("2006-01-02 15:04:05"))
			} else {
				writeChanges(out, rep.Changes, now)
			}
			if rep.More {
				fmt.Fprintf(cmd.ErrOrStderr(), "cfgsnap: more than %d changes: shorten --since or raise --max\n", limit)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "24h", "window: a duration (24h, 90m, 7d) or a time (2026-11-30, RFC 3339)")
	fl.StringVar(&tenant, "tenant", "", "only this tenant")
	fl.IntVar(&limit, "max", api.DefaultSearchMax, "at most this many changes")
	fl.BoolVar(&asJSON, "json", false, "one JSON change per line")
	return cmd
}

// parseSince reads --since: a duration back from now (with a d suffix for
// days) or a date or time.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return now.AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("the window must be positive")
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("not a duration (24h, 7d) or a time (2026-11-30, 2026-11-30T18:00:00Z)")
}

func writeChanges(w io.Writer, cs []api.Change, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTED\tAGE\tDEVICE\tCHANGE\tHASH\tTRIGGER\tBY\tREASON")
	for _, c := range cs {
		what := fmt.Sprintf("+%d -%d", c.Added, c.Removed)
		if c.Kind == api.ChangeNew {
			what = "new device"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\n", c.CollectedAt.Local().Format(textfmt.TimeLayout),
			textfmt.Age(now, c.CollectedAt), c.TenantID, c.DeviceID, what, textfmt.ShortHash(c.SHA256), c.Trigger, c.RequestedBy, oneLineText(c.Reason))
	}
	tw.Flush()
}

// oneLineText keeps a reason on its table row.
func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
