// Package retention decides which snapshots of a device a retention policy
// keeps, in the manner of restic's `forget`: the newest snapshots (last),
// the newest snapshot of each of the newest N hours, days, ISO weeks,
// months and years that have one, and every snapshot within a duration of
// the device's newest. A snapshot any rule keeps is kept. Beyond restic, a
// pinned snapshot is never removed and a device's newest snapshot is always
// kept, so that pruning never leaves a device without a latest record.
//
// The functions here are pure: the stores do the removing.
package retention

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// All, as a count, keeps every bucket (restic's -1).
const All = -1

// Policy is one retention policy. Zero counts disable their rule; All
// keeps every bucket of that kind.
type Policy struct {
	Last    int           `json:"last,omitempty" yaml:"last,omitempty"`
	Hourly  int           `json:"hourly,omitempty" yaml:"hourly,omitempty"`
	Daily   int           `json:"daily,omitempty" yaml:"daily,omitempty"`
	Weekly  int           `json:"weekly,omitempty" yaml:"weekly,omitempty"`
	Monthly int           `json:"monthly,omitempty" yaml:"monthly,omitempty"`
	Yearly  int           `json:"yearly,omitempty" yaml:"yearly,omitempty"`
	Within  time.Duration `json:"within,omitempty" yaml:"within,omitempty"`
}

// Empty reports whether p has no rule. An empty policy removes nothing:
// callers refuse to prune with one rather than guess.
func (p Policy) Empty() bool { return p == Policy{} }

// Check refuses negative counts other than All and negative durations.
func (p Policy) Check() error {
	for _, c := range []struct {
		name string
		n    int
	}{{"last", p.Last}, {"hourly", p.Hourly}, {"daily", p.Daily}, {"weekly", p.Weekly}, {"monthly", p.Monthly}, {"yearly", p.Yearly}} {
		if c.n < All {
			return fmt.Errorf("keep-%s %d: use a count, 0 (off) or -1 (all)", c.name, c.n)
		}
	}
	if p.Within < 0 {
		return fmt.Errorf("keep-within %s: use a positive duration", p.Within)
	}
	return nil
}

// String is the policy in Parse's syntax, e.g. "last=3,daily=7,within=48h0m0s";
// "" for an empty policy.
func (p Policy) String() string {
	var parts []string
	for _, c := range []struct {
		name string
		n    int
	}{{"last", p.Last}, {"hourly", p.Hourly}, {"daily", p.Daily}, {"weekly", p.Weekly}, {"monthly", p.Monthly}, {"yearly", p.Yearly}} {
		if c.n != 0 {
			parts = append(parts, c.name+"="+strconv.Itoa(c.n))
		}
	}
	if p.Within != 0 {
		parts = append(parts, "within="+p.Within.String())
	}
	return strings.Join(parts, ",")
}

// Parse reads a policy written as comma-separated rules, e.g.
// "last=3,daily=7,weekly=4,monthly=12,within=48h". A count may be "all".
// Durations take Go's units plus d (days) and w (weeks): "30d", "2w".
func Parse(s string) (Policy, error) {
	var p Policy
	s = strings.TrimSpace(s)
	if s == "" {
		return p, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return p, fmt.Errorf("retention %q: %q is not RULE=VALUE (rules: last, hourly, daily, weekly, monthly, yearly, within)", s, part)
		}
		k = strings.TrimPrefix(k, "keep-")
		if k == "within" {
			d, err := ParseDuration(v)
			if err != nil {
				return p, fmt.Errorf("retention %q: %w", s, err)
			}
			p.Within = d
			continue
		}
		n := All
		if v != "all" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < All {
				return p, fmt.Errorf("retention %q: %s=%q: use a count or all", s, k, v)
			}
		}
		switch k {
		case "last":
			p.Last = n
		case "hourly":
			p.Hourly = n
		case "daily":
			p.Daily = n
		case "weekly":
			p.Weekly = n
		case "monthly":
			p.Monthly = n
		case "yearly":
			p.Yearly = n
		default:
			return p, fmt.Errorf("retention %q: unknown rule %q (rules: last, hourly, daily, weekly, monthly, yearly, within)", s, k)
		}
	}
	return p, p.Check()
}

// ParseDuration is time.ParseDuration plus the units d (24h) and w (7d),
// alone or leading: "30d", "1w", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if i := strings.Index(rest, u.suffix); i > 0 {
			n, err := strconv.Atoi(rest[:i])
			if err != nil || n < 0 {
				return 0, fmt.Errorf("duration %q: want e.g. 48h, 30d or 2w", s)
			}
			total += time.Duration(n) * u.unit
			rest = rest[i+1:]
		}
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 48h, 30d or 2w", s)
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q: want a positive duration", s)
	}
	return total, nil
}

// Config is the retention of a fleet: a default and per-tenant policies.
// A tenant's policy replaces the default whole (it does not merge rule by
// rule), so what a tenant keeps reads in one place.
type Config struct {
	Default Policy            `json:"default" yaml:"default"`
	Tenants map[string]Policy `json:"tenants,omitempty" yaml:"tenants,omitempty"`
}

// For returns tenant's policy.
func (c Config) For(tenant string) Policy {
	if p, ok := c.Tenants[tenant]; ok {
		return p
	}
	return c.Default
}

// Empty reports whether no tenant has a rule.
func (c Config) Empty() bool {
	if !c.Default.Empty() {
		return false
	}
	for _, p := range c.Tenants {
		if !p.Empty() {
			return false
		}
	}
	return true
}

// Snapshot is what the policy looks at of one snapshot.
type Snapshot struct {
	ID     string // sorts in time order (a ULID)
	At     time.Time
	Pinned bool
}

// Reasons a snapshot is kept.
const (
	ReasonPinned  = "pinned"
	ReasonNewest  = "newest"
	ReasonLast    = "last"
	ReasonHourly  = "hourly"
	ReasonDaily   = "daily"
	ReasonWeekly  = "weekly"
	ReasonMonthly = "monthly"
	ReasonYearly  = "yearly"
	ReasonWithin  = "within"
)

// Decision is the verdict on one snapshot: kept for Reasons, or removed
// when there are none.
type Decision struct {
	Snapshot
	Keep    bool
	Reasons []string
}

// Apply decides, for one device's snapshots in any order, which p keeps.
// Buckets are cut in loc (nil is time.Local), as a person reads the dates.
// Decisions come newest first. An empty policy keeps everything (reason
// "no policy"), so a mistake cannot remove a fleet's history.
func Apply(p Policy, snaps []Snapshot, loc *time.Location) []Decision {
	if loc == nil {
		loc = time.Local
	}
	out := make([]Decision, len(snaps))
	for i, s := range snaps {
		out[i] = Decision{Snapshot: s}
	}
	// Newest first, by time and then by ID (IDs break ties in time order).
	slices.SortStableFunc(out, func(a, b Decision) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if len(out) == 0 {
		return out
	}
	keep := func(d *Decision, why string) {
		d.Keep = true
		d.Reasons = append(d.Reasons, why)
	}
	if p.Empty() {
		for i := range out {
			keep(&out[i], "no policy")
		}
		return out
	}
	type bucketRule struct {
		reason string
		count  int
		key    func(time.Time) string
	}
	rules := []bucketRule{
		{ReasonLast, p.Last, nil},
		{ReasonHourly, p.Hourly, func(t time.Time) string { return t.Format("2006-01-02 15") }},
		{ReasonDaily, p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{ReasonWeekly, p.Weekly, func(t time.Time) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{ReasonMonthly, p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{ReasonYearly, p.Yearly, func(t time.Time) string { return t.Format("2006") }},
	}
	newest := out[0].At
	for i := range out {
		d := &out[i]
		if d.Pinned {
			keep(d, ReasonPinned)
		}
		if i == 0 {
			keep(d, ReasonNewest)
		}
	}
	for _, r := range rules {
		if r.count == 0 {
			continue
		}
		left, last := r.count, "\x00"
		for i := range out {
			if left == 0 {
				break
			}
			if r.key == nil { // last: every snapshot is its own bucket
				keep(&out[i], r.reason)
				left--
				continue
			}
			// The newest snapshot of a bucket is the first one seen.
			if k := r.key(out[i].At.In(loc)); k != last {
				last = k
				keep(&out[i], r.reason)
				left--
			}
		}
	}
	if p.Within > 0 {
		// Relative to the device's newest snapshot, as restic does: a
		// device that stopped being backed up keeps its recent history.
		for i := range out {
			if !out[i].At.Before(newest.Add(-p.Within)) {
				keep(&out[i], ReasonWithin)
			}
		}
	}
	return out
}
