// Package textfmt is how cfgsnap writes values for people, the same in the
// CLI and the TUI: sizes, ages, short hashes, timestamps, and whether
// colour is wanted. One place, so a table in the TUI and a line of
// `cfgsnap history` never disagree about what "8.0 KiB" or "3h ago" means.
package textfmt

import (
	"math"
	"os"
	"time"

	"github.com/dustin/go-humanize"
)

// ShortHashLen is how much of a SHA-256 tables and messages show: enough to
// tell snapshots apart at a glance, short enough for an 80-column row, and
// more than the 7 characters a snapshot reference needs at least.
const ShortHashLen = 12

// ShortHash abbreviates a hash to ShortHashLen characters.
func ShortHash(h string) string {
	if len(h) > ShortHashLen {
		return h[:ShortHashLen]
	}
	return h
}

// Layouts of timestamps shown to people, in their local time zone.
const (
	TimeLayout   = "2006-01-02 15:04:05"
	MinuteLayout = "2006-01-02 15:04" // narrow tables
	ClockLayout  = "15:04:05"
)

// Bytes is a size in binary units ("512 B", "8.0 KiB", "120 KiB"): exports
// are stored and compared as bytes, and one decimal below 10 keeps small
// sizes distinguishable. A negative size is unknown: "?".
func Bytes(n int64) string {
	if n < 0 {
		return "?"
	}
	return humanize.IBytes(uint64(n))
}

const (
	day  = 24 * time.Hour
	week = 7 * day
	year = 365 * day
)

// ageMagnitudes keep every age within 7 cells ("59m ago", "13d ago"), so it
// fits a fixed table column; humanize's defaults ("3 minutes ago") do not.
var ageMagnitudes = []humanize.RelTimeMagnitude{
	{D: time.Second, Format: "now", DivBy: time.Second},
	{D: time.Minute, Format: "%ds %s", DivBy: time.Second},
	{D: time.Hour, Format: "%dm %s", DivBy: time.Minute},
	{D: 48 * time.Hour, Format: "%dh %s", DivBy: time.Hour},
	{D: 14 * day, Format: "%dd %s", DivBy: day},
	{D: year, Format: "%dw %s", DivBy: week},
	{D: math.MaxInt64, Format: "%dy %s", DivBy: year},
}

// Age is how long before now t was: "now", "42s ago", "59m ago", "3h ago",
// "5d ago", "6w ago", "2y ago"; "never" for the zero time. A t slightly
// after now (a clock ahead of ours) is "now".
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if t.After(now) {
		t = now
	}
	return humanize.CustomRelTime(t, now, "ago", "from now", ageMagnitudes)
}

// NoColor reports whether the NO_COLOR convention (no-color.org) asks for
// no colour: any non-empty value.
func NoColor() bool { return os.Getenv("NO_COLOR") != "" }
