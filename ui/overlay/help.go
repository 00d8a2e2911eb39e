package overlay

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// helpView is the full key help, by group, with the mode and the user.
func (m *Model) helpView(w int) []string {
	st := &m.c.Styles
	head := st.Title.Render("cfgsnap") + " " + st.Dim.Render(common.Clean(cmp.Or(m.c.Version, "dev"))) + " · keys"
	out := []string{head, ""}
	var cols [][]string
	for _, g := range m.c.Keys.Groups() {
		kw := 0
		for _, b := range g.Bindings {
			kw = max(kw, common.Width(b.Help().Key))
		}
		col := []string{st.Bold.Render(g.Title)}
		for _, b := range g.Bindings {
			col = append(col, st.Key.Render(common.Fit(b.Help().Key, kw))+" "+st.Desc.Render(b.Help().Desc))
		}
		cols = append(cols, col)
	}
	// Lay the groups out left to right, wrapping to a new band of columns
	// when the window is too narrow.
	const gap = 4
	var band []string
	bandW := 0
	flush := func() {
		out = append(out, band...)
		if len(band) > 0 {
			out = append(out, "")
		}
		band, bandW = nil, 0
	}
	for _, col := range cols {
		cw := 0
		for _, l := range col {
			cw = max(cw, common.Width(l))
		}
		if bandW > 0 && bandW+gap+cw > w {
			flush()
		}
		for len(band) < len(col) {
			band = append(band, strings.Repeat(" ", bandW))
		}
		for i := range band {
			cell := ""
			if i < len(col) {
				cell = col[i]
			}
			pad := ""
			if bandW > 0 {
				pad = strings.Repeat(" ", gap)
			}
			band[i] = common.Fit(band[i], bandW) + pad + common.Fit(cell, cw)
		}
		if bandW > 0 {
			bandW += gap
		}
		bandW += cw
	}
	flush()
	mode := "direct SSH from this host; data in " + common.Clean(m.c.Where())
	if m.c.Mode() == client.ModeRemote {
		mode = "remote, through the backup service at " + common.Clean(m.c.Where())
	}
	out = append(out, st.Dim.Render("mode: "+mode))
	out = append(out, st.Dim.Render(fmt.Sprintf("backups as %s, at most %d at once · hashes are SHA-256 of the normalised export", common.Clean(cmp.Or(m.c.User, "(unknown user)")), m.c.Concurrency)))
	out = append(out, st.Dim.Render("any key closes this help"))
	return out
}
