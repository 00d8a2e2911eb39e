package history

import (
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Cols are the widths of the history table's columns; 0 drops one.
type Cols struct {
	time, age, hash, size, trig, chg, by, reason int
	secs, longTrig                               bool
}

func Columns(w int) Cols {
	c := Cols{time: 16, age: 7, hash: common.ShortHashLen, size: 9, trig: 6, chg: 5}
	if w >= 100 {
		c.time, c.secs, c.trig, c.longTrig = 19, true, 9, true
	}
	fixed := 2 + c.time + c.age + c.hash + c.size + c.trig + c.chg + 6
	rest := w - fixed
	if rest >= 30 {
		c.by = min(max(rest/3, 12), 24)
		c.reason = rest - c.by - 2
		return c
	}
	c.by = rest - 1
	for _, col := range []*int{&c.trig, &c.size, &c.chg, &c.age} {
		if c.by >= 8 {
			break
		}
		c.by += *col + 1
		*col = 0
	}
	c.by = max(c.by, 1)
	return c
}

func RenderHeader(c Cols, st *common.Styles) string {
	trig := "TRIGGER"
	if !c.longTrig {
		trig = "TRIG"
	}
	cells := []string{"  " + common.Fit("TIME", c.time)}
	for _, cell := range []struct {
		label string
		w     int
	}{{"AGE", c.age}, {"HASH", c.hash}, {"SIZE", c.size}, {trig, c.trig}, {"CHG", c.chg}, {"BY", c.by}, {"REASON", c.reason}} {
		switch {
		case cell.w > 0 && cell.label == "SIZE":
			cells = append(cells, common.FitRight(cell.label, cell.w))
		case cell.w > 0:
			cells = append(cells, common.Fit(cell.label, cell.w))
		}
	}
	return st.Header.Render(strings.Join(cells, " "))
}

// RenderRow is a pure function: one snapshot as a table line.
func RenderRow(r api.SnapshotRecord, now time.Time, loc *time.Location, c Cols, cursor, marked, fresh bool, st *common.Styles) string {
	sel := func(s lipgloss.Style) lipgloss.Style { return st.Sel(s, cursor, true) }
	base := lipgloss.NewStyle()
	lead, mark, markStyle := " ", " ", st.Mark
	if cursor {
		lead = "▸"
	}
	switch {
	case marked:
		mark = "●"
	case r.Pinned:
		// Pinned: retention never removes it (cfgsnap pin, p).
		mark, markStyle = "*", st.Warn
	case fresh:
		mark, markStyle = "+", st.New
	}
	ts := r.CollectedAt.In(loc).Format(textfmt.MinuteLayout)
	if c.secs {
		ts = common.Stamp(r.CollectedAt, loc)
	}
	trig := common.Clean(string(r.Trigger))
	if !c.longTrig && r.Trigger == api.TriggerScheduled {
		trig = "sched"
	}
	chg, chgStyle := "no", st.Dim
	switch {
	case r.Changed && r.PreviousHash == "":
		chg, chgStyle = "first", st.Warn
	case r.Changed:
		chg, chgStyle = "yes", st.Warn
	}
	sp := sel(base).Render(" ")
	var b strings.Builder
	b.WriteString(sel(base).Render(lead) + sel(markStyle).Render(mark))
	b.WriteString(sel(base).Render(common.Fit(ts, c.time)))
	for _, cell := range []struct {
		text  string
		w     int
		style lipgloss.Style
	}{
		{common.Ago(now, r.CollectedAt), c.age, st.Dim}, {common.ShortHash(common.Clean(r.SHA256)), c.hash, st.Hash},
		{common.FitRight(common.HumanSize(r.SizeBytes), c.size), c.size, base}, {trig, c.trig, st.Dim}, {chg, c.chg, chgStyle},
		{common.Clean(r.RequestedBy), c.by, base}, {common.Clean(r.Reason), c.reason, st.Dim},
	} {
		if cell.w > 0 {
			b.WriteString(sp + sel(cell.style).Render(common.Fit(cell.text, cell.w)))
		}
	}
	return b.String()
}

func RenderDetail(r api.SnapshotRecord, w int, st *common.Styles) []string {
	out := []string{st.Dim.Render("sha256   ") + st.Hash.Render(common.Clean(r.SHA256))}
	switch {
	case r.PreviousHash == "":
		out = append(out, st.Dim.Render("previous none: first snapshot"))
	case r.PreviousHash == r.SHA256 || !r.Changed:
		out = append(out, st.Dim.Render("previous same hash: configuration unchanged"))
	default:
		out = append(out, st.Dim.Render("previous ")+st.Hash.Render(common.Clean(r.PreviousHash)))
	}
	who := common.JoinNonEmpty(" · ", common.Clean(string(r.Trigger)), byText(r.RequestedBy), reasonText(r.Reason))
	if r.Pinned {
		who = common.JoinNonEmpty(" · ", who, "pinned "+common.Clean(r.PinNote))
	}
	out = append(out, common.Fit(who, w))
	out = append(out, st.Dim.Render(common.JoinNonEmpty(" · ", common.RosText(r.RouterOSVersion), common.HumanSize(r.SizeBytes), "took "+common.Millis(r.DurationMS), normText(r.NormalizationVersion))))
	return out
}

func byText(s string) string {
	if s == "" {
		return ""
	}
	return "by " + common.Clean(s)
}

func reasonText(s string) string {
	if s == "" {
		return ""
	}
	return "reason: " + common.Clean(s)
}

func normText(v int) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("normalization v%d", v)
}
