package common

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// Width must agree with ansi.StringWidth on everything, including the
// strings its fast path gives up on: clusters, wide runes, other escapes.
func TestWidthAgreesWithStringWidth(t *testing.T) {
	pieces := []string{
		"a", "Z", " ", "~", "router-01", "·", "…", "▸", "●", "│", "─", "✓", "✗", "⊘", "◷", "↑", "↓", "é", "ß",
		"\x1b[1m", "\x1b[38;2;10;20;30m", "\x1b[48;5;236m", "\x1b[m", "\x1b[0m", "\x1b[?25l",
		"\u0301", "\u200d", "\ufe0f", "\u20e3", "❤", "✅", "⌚", "◽", "中", "한", "\u1100\u1161", "🇩🇪", "👍🏽",
		"\x1b]8;;http://x\x1b\\", "\x1b]8;;\x07", "\x1b", "\x1b[", "\x1b[31", "\t", "\n", "\x7f", "\u0085", "\u00ad",
		"\xff", "\xe2\x94",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		if got, want := Width(s), ansi.StringWidth(s); got != want {
			t.Fatalf("case %d: Width(%q) = %d, ansi.StringWidth = %d", i, s, got, want)
		}
	}
	for r := rune(0); r < oneCellHi+0x100; r++ {
		s := "x" + string(r) + "y"
		if got, want := Width(s), ansi.StringWidth(s); got != want {
			t.Fatalf("Width(%q) = %d, ansi.StringWidth = %d", s, got, want)
		}
	}
}

// The lines the fleet draws take the fast path; otherwise the speed-up is
// gone without any test noticing.
func TestWidthFastPathOnStyledRows(t *testing.T) {
	st := NewStyles(false, true)
	row := st.Sel(st.Mark, true, true).Render("▸●") + st.Dim.Render(Fit("7.15.3", 7)) + st.Rule.Render("│") +
		st.Warn.Render("◷ stale") + st.OK.Render("✓ ok") + " · " + st.Bad.Render("✗ auth") + "…"
	w, ok := simpleWidth(row)
	if !ok {
		t.Fatalf("simpleWidth gave up on %q", row)
	}
	if want := ansi.StringWidth(row); w != want {
		t.Fatalf("simpleWidth = %d, want %d", w, want)
	}
	if _, ok := simpleWidth("a\u0301"); ok {
		t.Fatal("a combining mark must leave the fast path")
	}
}
