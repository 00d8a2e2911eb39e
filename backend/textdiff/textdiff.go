// Package textdiff is the line diff of cfgsnap: the CLI and the TUI show
// the same minimal set of changed lines that GNU diff shows, in unified
// hunks whose header names the RouterOS menu in effect, git-style:
//
//	@@ -70,6 +70,7 @@ /ip firewall address-list
//
// It compares whole lines (Myers' O(ND) algorithm, linear space), so a
// one-line insertion is one "+" line, never an identical line removed and
// added again as a character diff turned into line hunks can show.
package textdiff

import (
	"fmt"
	"strings"
)

// Op is what happens to a line in a diff.
type Op byte

const (
	Equal  Op = ' '
	Delete Op = '-'
	Insert Op = '+'
)

// Line is one line of a hunk. Old and New are its 0-based indexes in the
// old and new text, -1 on the side that does not have it.
type Line struct {
	Op       Op
	Text     string
	Old, New int
}

// Hunk is a unified diff hunk. OldStart and NewStart are 1-based as
// printed (0 when that side's range is empty, as GNU diff prints it);
// Section is the heading after the second @@.
type Hunk struct {
	OldStart, OldLines int
	NewStart, NewLines int
	Section            string
	Lines              []Line
}

// Header is the hunk's "@@ -a,b +c,d @@ section" line, without line end.
func (h Hunk) Header() string {
	r := func(start, n int) string {
		if n == 1 {
			return fmt.Sprint(start)
		}
		return fmt.Sprintf("%d,%d", start, n)
	}
	s := fmt.Sprintf("@@ -%s +%s @@", r(h.OldStart, h.OldLines), r(h.NewStart, h.NewLines))
	if h.Section != "" {
		s += " " + h.Section
	}
	return s
}

// SplitLines splits a text into lines without their "\n"; a text that
// ends in "\n" has no empty last line.
func SplitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// Edits returns a minimal edit script turning a into b, one Line per line
// of a and of b, in order: the shortest sequence of deletions and
// insertions (a longest common subsequence is kept).
func Edits(a, b []string) []Line {
	// Lines become ints, so the inner loop compares words, not strings.
	ids := make(map[string]int, len(a)+len(b))
	intern := func(ls []string) []int {
		out := make([]int, len(ls))
		for i, l := range ls {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	ia, ib := intern(a), intern(b)
	// A line that only one side has is in no common subsequence: it is
	// deleted or inserted whatever the rest, so it leaves the search (as
	// GNU diff discards such lines). Comparing another router's export,
	// where most lines differ, costs then little more than reading it.
	inA := make([]bool, len(ids))
	inB := make([]bool, len(ids))
	for _, id := range ia {
		inA[id] = true
	}
	for _, id := range ib {
		inB[id] = true
	}
	delA := make([]bool, len(a))
	insB := make([]bool, len(b))
	var keptA, keptB []int // indexes of the lines that both sides have
	for i, id := range ia {
		if inB[id] {
			keptA = append(keptA, i)
		} else {
			delA[i] = true
		}
	}
	for j, id := range ib {
		if inA[id] {
			keptB = append(keptB, j)
		} else {
			insB[j] = true
		}
	}
	d := &differ{a: make([]int, len(keptA)), b: make([]int, len(keptB))}
	for k, i := range keptA {
		d.a[k] = ia[i]
	}
	for k, j := range keptB {
		d.b[k] = ib[j]
	}
	d.delA = make([]bool, len(keptA))
	d.insB = make([]bool, len(keptB))
	n := len(keptA) + len(keptB) + 2
	d.vf = make([]int, 2*n+1)
	d.vb = make([]int, 2*n+1)
	d.compare(0, len(keptA), 0, len(keptB))
	for k, i := range keptA {
		delA[i] = d.delA[k]
	}
	for k, j := range keptB {
		insB[j] = d.insB[k]
	}

	out := make([]Line, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && delA[i]:
			out = append(out, Line{Delete, a[i], i, -1})
			i++
		case j < len(b) && insB[j]:
			out = append(out, Line{Insert, b[j], -1, j})
			j++
		default:
			out = append(out, Line{Equal, a[i], i, j})
			i++
			j++
		}
	}
	return out
}

type differ struct {
	a, b       []int
	delA, insB []bool
	vf, vb     []int // furthest reaching x per diagonal, forward and backward
}

// compare marks the changes between a[aLo:aHi] and b[bLo:bHi] by divide
// and conquer on the middle snake (Myers 1986, section 4b).
func (d *differ) compare(aLo, aHi, bLo, bHi int) {
	for aLo < aHi && bLo < bHi && d.a[aLo] == d.b[bLo] {
		aLo++
		bLo++
	}
	for aLo < aHi && bLo < bHi && d.a[aHi-1] == d.b[bHi-1] {
		aHi--
		bHi--
	}
	switch {
	case aLo == aHi:
		for j := bLo; j < bHi; j++ {
			d.insB[j] = true
		}
		return
	case bLo == bHi:
		for i := aLo; i < aHi; i++ {
			d.delA[i] = true
		}
		return
	}
	x, y := d.middle(aLo, aHi, bLo, bHi)
	d.compare(aLo, x, bLo, y)
	d.compare(x, aHi, y, bHi)
}

// middle returns a point (x, y) on a shortest edit path from (aLo, bLo) to
// (aHi, bHi) that splits it into two strictly smaller problems. Both ends
// differ (compare stripped common prefix and suffix), so the edit
// distance is at least 2 and both halves have some of it.
func (d *differ) middle(aLo, aHi, bLo, bHi int) (int, int) {
	a, b := d.a[aLo:aHi], d.b[bLo:bHi]
	N, M := len(a), len(b)
	delta := N - M
	odd := delta&1 != 0
	off := N + M + 1 // diagonal k is index off+k
	vf, vb := d.vf, d.vb
	vf[off+1] = 0
	vb[off+1] = 0
	for D := 0; D <= (N+M+1)/2; D++ {
		// Forward: furthest x on diagonal k = x - y.
		for k := -D; k <= D; k += 2 {
			var x int
			if k == -D || (k != D && vf[off+k-1] < vf[off+k+1]) {
				x = vf[off+k+1]
			} else {
				x = vf[off+k-1] + 1
			}
			y := x - k
			for x < N && y < M && a[x] == b[y] {
				x++
				y++
			}
			vf[off+k] = x
			// The backward paths of D-1 cover diagonals delta-k in
			// [-(D-1), D-1]; overlap there ends the search.
			if kr := delta - k; odd && kr >= -(D-1) && kr <= D-1 && x+vb[off+kr] >= N {
				return aLo + x, bLo + y
			}
		}
		// Backward, on the reversed texts: diagonal kr = x' - y' with
		// x' = N - x, y' = M - y.
		for kr := -D; kr <= D; kr += 2 {
			var x int
			if kr == -D || (kr != D && vb[off+kr-1] < vb[off+kr+1]) {
				x = vb[off+kr+1]
			} else {
				x = vb[off+kr-1] + 1
			}
			y := x - kr
			for x < N && y < M && a[N-1-x] == b[M-1-y] {
				x++
				y++
			}
			vb[off+kr] = x
			if k := delta - kr; !odd && k >= -D && k <= D && x+vf[off+k] >= N {
				return aLo + N - x, bLo + M - y
			}
		}
	}
	// Unreachable: the paths meet by D = ceil((N+M)/2).
	panic("textdiff: middle snake not found")
}

// Options shape the hunks.
type Options struct {
	// Context is the number of unchanged lines around each change, as
	// diff -U.
	Context int
	// Section names the heading of a hunk from the index of its first
	// changed line: old is true with an index into the old text (the hunk
	// starts with a deletion), false with one into the new text. Nil: no
	// headings.
	Section func(old bool, index int) string
}

// Hunks groups an edit script into unified hunks the way GNU diff -U
// does: changes closer than 2*Context+1 unchanged lines share a hunk.
func Hunks(edits []Line, opt Options) []Hunk {
	ctx := max(opt.Context, 0)
	var hunks []Hunk
	n := len(edits)
	i := 0
	for i < n {
		// Find the next change.
		for i < n && edits[i].Op == Equal {
			i++
		}
		if i >= n {
			break
		}
		start := max(0, i-ctx)
		// Extend while the gap of equal lines to the next change is small.
		end := i
		for {
			for end < n && edits[end].Op != Equal {
				end++
			}
			gap := end
			for gap < n && edits[gap].Op == Equal {
				gap++
			}
			if gap < n && gap-end <= 2*ctx {
				end = gap
				continue
			}
			end = min(end+ctx, n)
			break
		}
		h := Hunk{Lines: edits[start:end]}
		oldFirst, newFirst := -1, -1
		for _, l := range h.Lines {
			if l.Op != Insert {
				h.OldLines++
				if oldFirst < 0 {
					oldFirst = l.Old
				}
			}
			if l.Op != Delete {
				h.NewLines++
				if newFirst < 0 {
					newFirst = l.New
				}
			}
		}
		h.OldStart = startOf(edits, start, oldFirst, h.OldLines, true)
		h.NewStart = startOf(edits, start, newFirst, h.NewLines, false)
		if opt.Section != nil {
			first := edits[i]
			if first.Op == Delete {
				h.Section = opt.Section(true, first.Old)
			} else {
				h.Section = opt.Section(false, first.New)
			}
		}
		hunks = append(hunks, h)
		i = end
	}
	return hunks
}

// startOf is a hunk's 1-based start on one side; an empty range is
// printed, as GNU diff does, as the line before it.
func startOf(edits []Line, start, first, count int, old bool) int {
	if count > 0 {
		return first + 1
	}
	// The line of this side just before the hunk.
	for k := start - 1; k >= 0; k-- {
		l := edits[k]
		if old && l.Op != Insert {
			return l.Old + 1
		}
		if !old && l.Op != Delete {
			return l.New + 1
		}
	}
	return 0
}

// Unified renders hunks as a unified diff with the two file labels. A side
// without a final newline is not marked: cfgsnap compares normalised
// exports, which always end in one.
func Unified(fromLabel, toLabel string, hunks []Hunk) string {
	if len(hunks) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", fromLabel, toLabel)
	for _, h := range hunks {
		b.WriteString(h.Header())
		b.WriteByte('\n')
		for _, l := range h.Lines {
			b.WriteByte(byte(l.Op))
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
