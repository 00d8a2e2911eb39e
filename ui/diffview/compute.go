package diffview

import (
	"fmt"
	"strings"

	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/textdiff"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Context is the number of unchanged lines around a change, as diff -u.
const Context = 3

// Line is one line of a unified diff with its line numbers on either side
// (0 where the line does not exist on that side) and the RouterOS menu in
// effect at it, which the sticky heading shows.
type Line struct {
	Kind         byte // '@' hunk header, '+', '-', ' '
	Text         string
	OldNo, NewNo int
	Menu         string
}

// Result is a computed diff.
type Result struct {
	Lines      []Line
	Hunks      []int // index in Lines of each hunk header
	Sections   []int // index in Lines of each changed section's first change
	Adds, Dels int
}

// Diff is the line diff of two exports, kept raw so that the view can be
// built redacted (the default) or revealed without diffing again.
type Diff struct {
	old, new         []string
	oldMenu, newMenu []string
	hunks            []textdiff.Hunk
}

// Compute diffs two configurations line by line with the diff of the CLI
// (backend/textdiff): the same minimal changes GNU diff -u shows, hunk
// headers naming the menu in effect.
func Compute(oldText, newText string) Diff {
	al, bl := textdiff.SplitLines(normEOL(oldText)), textdiff.SplitLines(normEOL(newText))
	d := Diff{old: al, new: bl, oldMenu: routeros.Menus(al), newMenu: routeros.Menus(bl)}
	if oldText == newText {
		return d
	}
	d.hunks = textdiff.Hunks(textdiff.Edits(al, bl), textdiff.Options{
		Context: Context,
		Section: func(isOld bool, i int) string {
			if isOld {
				return d.oldMenu[i]
			}
			return d.newMenu[i]
		},
	})
	return d
}

func normEOL(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// Build turns the diff into view lines; secrets are masked unless reveal
// is set, a secret that changed reading "<redacted:changed>" on both
// sides so that a secret-only change still shows as a changed line.
func (d Diff) Build(reveal bool) Result {
	var res Result
	hunks := d.hunks
	if !reveal {
		hunks = redact.Hunks(hunks, d.old, d.new)
	}
	lastMenu, inChange := "\x00", false
	for _, h := range hunks {
		res.Hunks = append(res.Hunks, len(res.Lines))
		res.Lines = append(res.Lines, Line{Kind: '@', Text: common.CleanLine(h.Header()), Menu: h.Section})
		for _, l := range h.Lines {
			dl := Line{Kind: byte(l.Op), Text: common.CleanLine(l.Text)}
			switch l.Op {
			case textdiff.Delete:
				dl.OldNo, dl.Menu = l.Old+1, d.oldMenu[l.Old]
				res.Dels++
			case textdiff.Insert:
				dl.NewNo, dl.Menu = l.New+1, d.newMenu[l.New]
				res.Adds++
			default:
				dl.OldNo, dl.NewNo, dl.Menu = l.Old+1, l.New+1, d.newMenu[l.New]
			}
			if l.Op != textdiff.Equal {
				// A section is a run of changes in one menu: ] and [ jump
				// from one menu's changes to the next menu's, where n/N
				// step through hunks.
				if !inChange && dl.Menu != lastMenu {
					res.Sections = append(res.Sections, len(res.Lines))
				}
				lastMenu = dl.Menu
				inChange = true
			} else {
				inChange = false
			}
			res.Lines = append(res.Lines, dl)
		}
		inChange = false
	}
	return res
}

// Gutter is the width of one line-number column.
func Gutter(r Result) int {
	hi := 0
	for _, l := range r.Lines {
		hi = max(hi, l.OldNo, l.NewNo)
	}
	return max(len(fmt.Sprint(hi)), 3)
}

// Prefix is the line-number gutter and the change mark of l.
func Prefix(l Line, gw int, st *common.Styles) string {
	num := func(n int) string {
		if n == 0 {
			return strings.Repeat(" ", gw)
		}
		return common.FitRight(fmt.Sprint(n), gw)
	}
	return st.LineNo.Render(num(l.OldNo)+" "+num(l.NewNo)+" ") + mark(l, st)
}

func mark(l Line, st *common.Styles) string {
	switch l.Kind {
	case '+':
		return st.DiffAdd.Render("+ ")
	case '-':
		return st.DiffDel.Render("- ")
	}
	return "  "
}

// PrefixWidth is the cells Prefix takes.
func PrefixWidth(gw int) int { return 2*gw + 4 }

// Styled is l's text in its colour.
func Styled(l Line, st *common.Styles) string {
	switch l.Kind {
	case '+':
		return st.DiffAdd.Render(l.Text)
	case '-':
		return st.DiffDel.Render(l.Text)
	case '@':
		return st.DiffHunk.Render(l.Text)
	}
	return l.Text
}

// RenderRows is a pure function: one diff line laid out in w cells by p,
// one row unless it wraps. Hunk headers span the whole width.
func RenderRows(l Line, gw, w int, p *common.Pager, st *common.Styles) []string {
	if l.Kind == '@' {
		// Headers stay put when the text scrolls sideways: they say where
		// the user is.
		hp := *p
		hp.X = 0
		return hp.Body(Styled(l, st), w)
	}
	pw := PrefixWidth(gw)
	body := p.Body(Styled(l, st), max(w-pw, 1))
	rows := make([]string, len(body))
	for i, b := range body {
		if i == 0 {
			rows[i] = Prefix(l, gw, st) + b
		} else {
			rows[i] = st.LineNo.Render(strings.Repeat(" ", pw-2)+"↪ ") + b
		}
	}
	return rows
}
