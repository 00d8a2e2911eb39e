package redact

import (
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/textdiff"
)

// Hunks returns diff hunks between the lines of two exports with their
// secrets masked. In each change (deleted lines followed by inserted
// ones) the i-th deleted line is paired with the i-th inserted line and
// masked with Pair, so a secret that changed reads MaskChanged on both
// sides while the line stays a "-"/"+" pair: a secret-only change is never
// "no differences". The hunks given are not modified.
func Hunks(hunks []textdiff.Hunk, oldLines, newLines []string) []textdiff.Hunk {
	oldMenus, newMenus := routeros.Menus(oldLines), routeros.Menus(newLines)
	out := make([]textdiff.Hunk, len(hunks))
	for hi, h := range hunks {
		ls := make([]textdiff.Line, len(h.Lines))
		copy(ls, h.Lines)
		for i := 0; i < len(ls); {
			l := ls[i]
			switch l.Op {
			case textdiff.Equal:
				ls[i].Text = Line(oldMenus[l.Old], l.Text)
				i++
				continue
			case textdiff.Insert:
				ls[i].Text = Line(newMenus[l.New], l.Text)
				i++
				continue
			}
			// A run of deletions and the insertions right after it.
			d := i
			for d < len(ls) && ls[d].Op == textdiff.Delete {
				d++
			}
			e := d
			for e < len(ls) && ls[e].Op == textdiff.Insert {
				e++
			}
			for k := i; k < d; k++ {
				o := ls[k]
				if p := d + (k - i); p < e {
					n := ls[p]
					ls[k].Text, ls[p].Text = Pair(oldMenus[o.Old], o.Text, newMenus[n.New], n.Text)
				} else {
					ls[k].Text = Line(oldMenus[o.Old], o.Text)
				}
			}
			for p := d + (d - i); p < e; p++ {
				ls[p].Text = Line(newMenus[ls[p].New], ls[p].Text)
			}
			i = e
		}
		h.Lines = ls
		out[hi] = h
	}
	return out
}
