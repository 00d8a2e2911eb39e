package common

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

// ShortHashLen is how much of a SHA-256 the tables show: enough to tell
// snapshots apart at a glance, short enough for an 80-column row.
const ShortHashLen = textfmt.ShortHashLen

// ShortHash abbreviates a hash as the CLI and the backend's messages do
// (store.Short), so a hash read in the TUI can be found in a log line.
func ShortHash(h string) string { return textfmt.ShortHash(h) }

// HumanSize is textfmt.Bytes: the CLI and the TUI write sizes alike.
func HumanSize(n int64) string { return textfmt.Bytes(n) }

// Ago is textfmt.Age: at most 7 cells ("59m ago"), for a fixed column.
func Ago(now, t time.Time) string { return textfmt.Age(now, t) }

func Stamp(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(textfmt.TimeLayout)
}

func Clock(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(textfmt.ClockLayout)
}

func Millis(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
}

// Clean makes text that came from devices, the inventory or the network
// safe to print as one line: a control character in a device name, an
// error or an export must never reach the terminal as an escape sequence.
func Clean(s string) string {
	if isPlain(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CleanLine is Clean for a line of a configuration, where tabs keep their
// meaning as indentation.
func CleanLine(s string) string {
	if isPlain(s) {
		return s
	}
	return Clean(strings.ReplaceAll(s, "\t", "    "))
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.ValidString(s[i:]) && !hasC1(s[i:])
		}
	}
	return true
}

func hasC1(s string) bool {
	for _, r := range s {
		if r >= 0x80 && r < 0xa0 {
			return true
		}
	}
	return false
}

// Fit truncates s (which may hold ANSI styling) to w cells and pads it to
// exactly w cells, so that table columns line up.
func Fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := Width(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = Width(s)
	}
	if sw < w {
		s += strings.Repeat(" ", w-sw)
	}
	return s
}

// Trunc truncates without padding.
func Trunc(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if Width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// FitRight right-aligns s in w cells.
func FitRight(s string, w int) string {
	sw := Width(s)
	if sw >= w {
		return Trunc(s, w)
	}
	return strings.Repeat(" ", w-sw) + s
}

// WrapText word-wraps plain text to w cells and returns the lines.
func WrapText(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	return strings.Split(ansi.Wrap(s, w, " "), "\n")
}

// Block pads or cuts lines to exactly h lines of exactly w cells: every
// region of the screen is drawn at its full size so that the renderer
// never leaves stale cells behind.
func Block(lines []string, w, h int) []string {
	out := make([]string, h)
	for i := range out {
		if i < len(lines) {
			out[i] = Fit(lines[i], w)
		} else {
			out[i] = strings.Repeat(" ", max(w, 0))
		}
	}
	return out
}

// RowsOf cuts or pads lines to exactly h lines without touching their
// width: the regions inside a pane, whose width the pane fits once.
func RowsOf(lines []string, h int) []string {
	if len(lines) >= h {
		return lines[:h]
	}
	return append(lines, make([]string, h-len(lines))...)
}

func Plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func Width(s string) int {
	if w, ok := simpleWidth(s); ok {
		return w
	}
	return ansi.StringWidth(s)
}

// simpleWidth counts the cells of s without segmenting it into grapheme
// clusters, when s holds only printable ASCII, CSI sequences (the colours
// lipgloss writes) and runes that take one cell and never join a cluster
// (oneCell); ok is false for anything else, which ansi.StringWidth then
// measures. Every frame fits each screen line, and the grapheme iterator
// was a sixth of a frame's CPU with 50 sessions served over SSH.
func simpleWidth(s string) (w int, ok bool) {
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c >= 0x20 && c < 0x7f:
			w++
			i++
		case c == 0x1b && i+1 < len(s) && s[i+1] == '[':
			j := i + 2
			for j < len(s) && s[j] >= 0x20 && s[j] < 0x40 { // parameters, intermediates
				j++
			}
			if j >= len(s) || s[j] < 0x40 || s[j] > 0x7e {
				return 0, false
			}
			i = j + 1
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if !oneCell(r) {
				return 0, false
			}
			w++
			i += n
		default:
			return 0, false
		}
	}
	return w, true
}

// oneCellLo and oneCellHi bound the runes oneCell knows: Latin-1 to the
// spacing modifiers, and the punctuation, arrows, box drawing, shapes and
// dingbats the screens draw. Scripts with spacing marks or conjoining
// jamo are outside on purpose.
const (
	oneCellLo, oneCellMid = 0x00a0, 0x0300
	oneCellSym, oneCellHi = 0x2000, 0x2800
)

var oneCellTable = sync.OnceValue(func() []bool {
	t := make([]bool, oneCellHi)
	for r := rune(oneCellLo); r < oneCellHi; r++ {
		if r >= oneCellMid && r < oneCellSym {
			continue
		}
		// What ansi.StringWidth says of the rune alone: a rune it counts
		// as one cell is one cell next to ASCII or another such rune.
		t[r] = ansi.StringWidth(string(r)) == 1
	}
	return t
})

func oneCell(r rune) bool { return r < oneCellHi && oneCellTable()[r] }

// JoinNonEmpty joins the parts that are not empty.
func JoinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// Subsequence reports whether q appears in hay in order, not necessarily
// contiguously: the fuzzy match of the filter and the tenant picker.
func Subsequence(hay, q string) bool {
	j := 0
	for i := 0; i < len(hay) && j < len(q); i++ {
		if hay[i] == q[j] {
			j++
		}
	}
	return j == len(q)
}

// HumanSizeOrDash is HumanSize with "-" for nothing received yet.
func HumanSizeOrDash(n int64) string {
	if n <= 0 {
		return "-"
	}
	return HumanSize(n)
}

// RosText is "RouterOS <version>", or nothing without a version.
func RosText(v string) string {
	if v == "" {
		return ""
	}
	return "RouterOS " + Clean(v)
}
