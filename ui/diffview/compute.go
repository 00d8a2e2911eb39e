package diffview

import (
	"fmt"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Line is one line of a unified diff with its line numbers on either side
// (0 where the line does not exist on that side).
type Line struct {
	Kind         byte // '@' hunk header, '+', '-', ' ', '\\' no newline
	Text         string
	OldNo, NewNo int
}

// Result is a computed diff.
type Result struct {
	Lines      []Line
	Hunks      []int // index in Lines of each hunk header
	Adds, Dels int
}

// Compute diffs two configurations line by line with three lines of
// context, as diff -u does.
func Compute(old, new string) (Result, error) {
	var res Result
	if old == new {
		return res, nil
	}
	edits := udiff.Lines(old, new)
	u, err := udiff.ToUnifiedDiff("a", "b", old, edits, udiff.DefaultContextLines)
	if err != nil {
		return res, fmt.Errorf("diff: %w", err)
	}
	for _, h := range u.Hunks {
		res.Hunks = append(res.Hunks, len(res.Lines))
		oldN, newN := 0, 0
		for _, l := range h.Lines {
			switch l.Kind {
			case udiff.Delete:
				oldN++
			case udiff.Insert:
				newN++
			default:
				oldN++
				newN++
			}
		}
		res.Lines = append(res.Lines, Line{Kind: '@', Text: fmt.Sprintf("@@ -%d,%d +%d,%d @@", h.FromLine, oldN, h.ToLine, newN)})
		o, n := h.FromLine, h.ToLine
		for _, l := range h.Lines {
			text := strings.TrimSuffix(l.Content, "\n")
			dl := Line{Text: common.CleanLine(strings.TrimSuffix(text, "\r"))}
			switch l.Kind {
			case udiff.Delete:
				dl.Kind, dl.OldNo = '-', o
				o++
				res.Dels++
			case udiff.Insert:
				dl.Kind, dl.NewNo = '+', n
				n++
				res.Adds++
			default:
				dl.Kind, dl.OldNo, dl.NewNo = ' ', o, n
				o++
				n++
			}
			res.Lines = append(res.Lines, dl)
			if !strings.HasSuffix(l.Content, "\n") {
				res.Lines = append(res.Lines, Line{Kind: '\\', Text: `\ No newline at end of file`})
			}
		}
	}
	return res, nil
}

// Gutter is the width of one line-number column.
func Gutter(r Result) int {
	hi := 0
	for _, l := range r.Lines {
		hi = max(hi, l.OldNo, l.NewNo)
	}
	return max(len(fmt.Sprint(hi)), 3)
}

// RenderLine is a pure function: one diff line with both line numbers.
func RenderLine(l Line, gw, w int, st *common.Styles) string {
	num := func(n int) string {
		if n == 0 {
			return strings.Repeat(" ", gw)
		}
		return common.FitRight(fmt.Sprint(n), gw)
	}
	switch l.Kind {
	case '@':
		return st.DiffHunk.Render(common.Trunc(l.Text, w))
	case '\\':
		return st.Dim.Render(common.Trunc(strings.Repeat(" ", 2*gw+2)+l.Text, w))
	}
	gutter := st.LineNo.Render(num(l.OldNo) + " " + num(l.NewNo) + " ")
	body := common.Trunc(string(l.Kind)+" "+l.Text, max(w-2*gw-2, 1))
	switch l.Kind {
	case '+':
		body = st.DiffAdd.Render(body)
	case '-':
		body = st.DiffDel.Render(body)
	}
	return gutter + body
}
