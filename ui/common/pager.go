package common

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// HScrollStep is how far left/right moves an unwrapped viewer, in cells.
const HScrollStep = 8

// Pager is the position of a text viewer (snapshot, diff) over its
// logical lines: the first line shown, the horizontal offset of the text
// when lines are cut, and whether long lines wrap instead. RouterOS
// exports join continuation lines into one logical line, so a firewall
// rule or a script can be far wider than the window; without wrap or
// horizontal scroll its end would never be seen.
//
// The offset counts logical lines in both modes, so a line number, a
// hunk or a match maps to an offset the same way whether lines wrap.
type Pager struct {
	Off  int  // first logical line shown
	X    int  // cells cut from the left of each line's text (not wrapped)
	Wrap bool // long lines continue on the next rows
}

// Move moves Off when msg is one of the scroll keys of k (up, down, page
// up and down, top, bottom) over n lines with rows in view, and reports
// whether it was. The caller clamps: only it knows the widths of its lines.
func (p *Pager) Move(msg tea.KeyPressMsg, k *KeyMap, n, rows int) bool {
	off, ok := step(msg, p.Off, n, rows, k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom)
	p.Off = off
	return ok
}

// Rows is how many screen rows a text of tw cells takes in a body of bw
// cells.
func (p *Pager) Rows(tw, bw int) int {
	if !p.Wrap || bw <= 0 || tw <= bw {
		return 1
	}
	return (tw + bw - 1) / bw
}

// Clamp keeps Off such that the last page is full: widths gives the cell
// width of line i's text, bw the width its body has.
func (p *Pager) Clamp(n, rows, bw int, widths func(i int) int) {
	p.Off = min(max(p.Off, 0), p.MaxOff(n, rows, bw, widths))
	p.X = max(p.X, 0)
	if p.Wrap {
		p.X = 0
	}
}

// ClampX keeps the horizontal offset where the widest text (maxW cells)
// still ends in view of a body bw wide.
func (p *Pager) ClampX(maxW, bw int) {
	p.X = min(max(p.X, 0), max(maxW-bw, 0))
}

// MaxOff is the largest offset that still fills the screen.
func (p *Pager) MaxOff(n, rows, bw int, widths func(i int) int) int {
	if !p.Wrap {
		return max(n-rows, 0)
	}
	used := 0
	for i := n - 1; i >= 0; i-- {
		used += p.Rows(widths(i), bw)
		if used > rows {
			return i + 1
		}
	}
	return 0
}

// Body lays out one line's styled text in bw cells: cut at X when not
// wrapping, or split into rows when wrapping. The text may hold styles;
// cutting and wrapping go through x/ansi so that they stay balanced.
func (p *Pager) Body(text string, bw int) []string {
	if bw <= 0 {
		return []string{""}
	}
	if p.Wrap {
		if ansi.StringWidth(text) <= bw {
			return []string{text}
		}
		return strings.Split(ansi.Hardwrap(text, bw, true), "\n")
	}
	if p.X > 0 {
		text = ansi.Cut(text, p.X, p.X+bw+1)
	}
	return []string{Trunc(text, bw)}
}
