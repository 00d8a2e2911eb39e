package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/diffview"
	"github.com/cfgsnap/cfgsnap/ui/snapview"
)

// historyPage is how many snapshots one request asks for; scrolling to
// the end asks for the next page.
const historyPage = 50

// historyState is one device's snapshots, newest first, kept up to date by
// the tenant's snapshot watch.
type historyState struct {
	tenant, device, devName string
	recs                    []api.SnapshotRecord
	ids                     map[string]bool
	more                    bool
	loading                 bool
	err                     error
	req                     int
	cursor, offset          int
	marks                   []string        // snapshot IDs, in marking order
	fresh                   map[string]bool // arrived while the screen was open
}

func (h *historyState) clamp(rows int) {
	h.cursor = min(max(h.cursor, 0), max(len(h.recs)-1, 0))
	rows = max(rows, 1)
	if h.cursor < h.offset {
		h.offset = h.cursor
	}
	if h.cursor >= h.offset+rows {
		h.offset = h.cursor - rows + 1
	}
	h.offset = min(max(h.offset, 0), max(len(h.recs)-rows, 0))
}

// add inserts a snapshot stored by anyone while the screen is open,
// keeping the cursor on the snapshot it was on.
func (h *historyState) add(rec api.SnapshotRecord) {
	if h.ids[rec.SnapshotID] {
		return
	}
	i, _ := slices.BinarySearchFunc(h.recs, rec, func(a, b api.SnapshotRecord) int {
		return b.CollectedAt.Compare(a.CollectedAt) // newest first
	})
	h.recs = slices.Insert(h.recs, i, rec)
	h.ids[rec.SnapshotID] = true
	h.fresh[rec.SnapshotID] = true
	if i <= h.cursor && len(h.recs) > 1 {
		h.cursor++
	}
}

func (h *historyState) current() (api.SnapshotRecord, bool) {
	if h.cursor < 0 || h.cursor >= len(h.recs) {
		return api.SnapshotRecord{}, false
	}
	return h.recs[h.cursor], true
}

func (h *historyState) marked(id string) bool { return slices.Contains(h.marks, id) }

type historyMsg struct {
	req   int
	older bool
	recs  []api.SnapshotRecord
	more  bool
	err   error
}

func (m *Model) openHistory(tenant string, d api.Device) tea.Cmd {
	m.hist = &historyState{tenant: tenant, device: d.ID, devName: name(d), ids: map[string]bool{}, fresh: map[string]bool{}}
	m.push(screenHistory)
	return m.loadHistory(false)
}

func (m *Model) loadHistory(older bool) tea.Cmd {
	h := m.hist
	if h == nil || m.c.Client == nil {
		return nil
	}
	before := ""
	if older {
		if len(h.recs) == 0 {
			return nil
		}
		before = h.recs[len(h.recs)-1].SnapshotID
	}
	h.req = m.c.NextReq()
	h.loading = true
	req, c, ctx, tenant, device := h.req, m.c.Client, m.c.Ctx, h.tenant, h.device
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
		defer cancel()
		recs, more, err := c.History(ctx, tenant, device, historyPage, before)
		return historyMsg{req: req, older: older, recs: recs, more: more, err: err}
	}
}

func (m *Model) onHistory(msg historyMsg) tea.Cmd {
	h := m.hist
	if h == nil || msg.req != h.req {
		return nil
	}
	h.loading = false
	h.err = msg.err
	if msg.err != nil {
		m.addLog(common.LogError, "history of %s/%s: %s", common.Clean(h.tenant), common.Clean(h.device), common.Clean(msg.err.Error()))
		return nil
	}
	keep := ""
	if r, ok := h.current(); ok {
		keep = r.SnapshotID
	}
	if !msg.older {
		// Live snapshots that the reply predates stay.
		var live []api.SnapshotRecord
		for _, r := range h.recs {
			if h.fresh[r.SnapshotID] {
				live = append(live, r)
			}
		}
		h.recs, h.ids = nil, map[string]bool{}
		for _, r := range msg.recs {
			if !h.ids[r.SnapshotID] {
				h.recs = append(h.recs, r)
				h.ids[r.SnapshotID] = true
			}
		}
		for _, r := range live {
			if !h.ids[r.SnapshotID] {
				h.add(r)
			}
		}
	} else {
		for _, r := range msg.recs {
			if !h.ids[r.SnapshotID] {
				h.recs = append(h.recs, r)
				h.ids[r.SnapshotID] = true
			}
		}
	}
	h.more = msg.more
	if keep != "" {
		if i := slices.IndexFunc(h.recs, func(r api.SnapshotRecord) bool { return r.SnapshotID == keep }); i >= 0 {
			h.cursor = i
		}
	}
	h.clamp(m.historyRows())
	return nil
}

// historyLayout: title, column header, rows, then the selected snapshot's
// details.
func (m *Model) historyDetailH() int {
	if m.c.BodyHeight() >= 30 {
		return 7
	}
	return 5
}

func (m *Model) historyRows() int {
	if !m.c.Sized {
		return 10
	}
	return max(m.c.BodyHeight()-2-m.historyDetailH(), 1)
}

func (m *Model) historyKey(msg tea.KeyPressMsg) tea.Cmd {
	h := m.hist
	if h == nil {
		m.pop()
		return nil
	}
	k := m.c.Keys
	rows := m.historyRows()
	var cmd tea.Cmd
	switch {
	case key.Matches(msg, k.Back):
		m.pop()
		return nil
	case key.Matches(msg, k.Up):
		h.cursor--
	case key.Matches(msg, k.Down):
		h.cursor++
	case key.Matches(msg, k.PageUp):
		h.cursor -= rows
	case key.Matches(msg, k.PageDown):
		h.cursor += rows
	case key.Matches(msg, k.Top):
		h.cursor = 0
	case key.Matches(msg, k.Bottom):
		h.cursor = len(h.recs) - 1
	case key.Matches(msg, k.Mark):
		if r, ok := h.current(); ok {
			if i := slices.Index(h.marks, r.SnapshotID); i >= 0 {
				h.marks = slices.Delete(h.marks, i, i+1)
			} else {
				h.marks = append(h.marks, r.SnapshotID)
			}
			h.cursor++
		}
	case key.Matches(msg, k.Diff):
		cmd = m.diffFromHistory()
	case key.Matches(msg, k.View):
		if r, ok := h.current(); ok {
			cmd = m.openSnapshot(h.tenant, h.device, h.devName, r)
		}
	case key.Matches(msg, k.Copy):
		if r, ok := h.current(); ok {
			cmd = m.copyText(r.SHA256, "sha256 of "+common.Clean(h.devName)+" at "+common.Stamp(r.CollectedAt, m.c.Loc))
		}
	case key.Matches(msg, k.Refresh):
		cmd = m.loadHistory(false)
	case key.Matches(msg, k.Backup):
		if i, ok := m.fleet.index[h.device]; ok && m.fleet.tenant == h.tenant {
			cmd = m.enqueue([]api.Device{m.fleet.devices[i]})
		}
	}
	h.clamp(rows)
	if h.more && !h.loading && h.cursor >= len(h.recs)-1 && len(h.recs) > 0 {
		cmd = tea.Batch(cmd, m.loadHistory(true))
	}
	return cmd
}

// diffFromHistory compares the two marked snapshots, or the selected one
// with the snapshot before it.
func (m *Model) diffFromHistory() tea.Cmd {
	h := m.hist
	switch len(h.marks) {
	case 0:
	case 2:
		var a, b api.SnapshotRecord
		for _, r := range h.recs {
			if r.SnapshotID == h.marks[0] {
				a = r
			}
			if r.SnapshotID == h.marks[1] {
				b = r
			}
		}
		if b.CollectedAt.Before(a.CollectedAt) {
			a, b = b, a
		}
		return m.openDiff(h.tenant, h.device, h.devName, a, b)
	default:
		m.c.Tasks.Fail("mark exactly two snapshots to compare them (%d marked), or none to compare with the previous one", len(h.marks))
		return nil
	}
	r, ok := h.current()
	if !ok {
		return nil
	}
	if r.PreviousHash == "" {
		m.c.Tasks.Fail("this is the first snapshot of %s: nothing before it to compare", common.Clean(h.devName))
		return nil
	}
	prev := api.SnapshotRecord{SHA256: r.PreviousHash, TenantID: h.tenant, DeviceID: h.device}
	// The previous snapshot is usually the next row; its record gives the
	// diff a date.
	for _, o := range h.recs[h.cursor+1:] {
		if o.SHA256 == r.PreviousHash {
			prev = o
			break
		}
	}
	return m.openDiff(h.tenant, h.device, h.devName, prev, r)
}

func (m *Model) historyView(w, bh int) []string {
	st := &m.c.Styles
	h := m.hist
	if h == nil {
		return nil
	}
	title := st.Title.Render("History") + " · " + st.Bold.Render(common.Clean(m.tenantName(h.tenant))+" / "+common.Clean(h.devName))
	n := fmt.Sprintf("%d", len(h.recs))
	if h.more {
		n += "+"
	}
	title += " · " + n + " snapshots · " + st.OK.Render("live")
	if len(h.marks) > 0 {
		title += " · " + st.Mark.Render(fmt.Sprintf("%d marked", len(h.marks)))
	}
	if h.loading {
		title += " · " + st.Dim.Render(m.c.Spin()+" loading")
	}
	out := []string{common.Fit(title, w)}
	cols := historyColumns(w)
	out = append(out, renderHistoryHeader(cols, st))
	rows := m.historyRows()
	var lines []string
	switch {
	case h.err != nil && len(h.recs) == 0:
		lines = append([]string{st.Bad.Render("Could not load the history.")}, common.WrapText(common.Clean(h.err.Error()), w)...)
		lines = append(lines, st.Dim.Render("r retries · esc goes back"))
	case h.loading && len(h.recs) == 0:
	case len(h.recs) == 0:
		lines = []string{st.Dim.Render("No snapshots yet. b backs the device up now.")}
	default:
		for i := h.offset; i < len(h.recs) && len(lines) < rows; i++ {
			r := h.recs[i]
			lines = append(lines, renderHistoryRow(r, m.c.Now(), m.c.Loc, cols, i == h.cursor, h.marked(r.SnapshotID), h.fresh[r.SnapshotID], st))
		}
	}
	out = append(out, common.RowsOf(lines, rows)...)
	if r, ok := h.current(); ok {
		out = append(out, st.SectionRule("snapshot "+common.Clean(r.SnapshotID), w))
		out = append(out, renderSnapshotDetail(r, w, st)...)
	}
	return out
}

// historyCols are the widths of the history table's columns; 0 drops one.
type historyCols struct {
	time, age, hash, size, trig, chg, by, reason int
	secs, longTrig                               bool
}

func historyColumns(w int) historyCols {
	c := historyCols{time: 16, age: 7, hash: common.ShortHashLen, size: 9, trig: 6, chg: 5}
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

func renderHistoryHeader(c historyCols, st *common.Styles) string {
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

// renderHistoryRow is a pure function: one snapshot as a table line.
func renderHistoryRow(r api.SnapshotRecord, now time.Time, loc *time.Location, c historyCols, cursor, marked, fresh bool, st *common.Styles) string {
	sel := func(s lipgloss.Style) lipgloss.Style { return st.Sel(s, cursor, true) }
	base := lipgloss.NewStyle()
	lead, mark, markStyle := " ", " ", st.Mark
	if cursor {
		lead = "▸"
	}
	switch {
	case marked:
		mark = "●"
	case fresh:
		mark, markStyle = "+", st.New
	}
	ts := r.CollectedAt.In(loc).Format("2006-01-02 15:04")
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

func renderSnapshotDetail(r api.SnapshotRecord, w int, st *common.Styles) []string {
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
	out = append(out, common.Fit(who, w))
	out = append(out, st.Dim.Render(common.JoinNonEmpty(" · ", rosText(r.RouterOSVersion), common.HumanSize(r.SizeBytes), "took "+common.Millis(r.DurationMS), normText(r.NormalizationVersion))))
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

func (m *Model) historyClick(y int) {
	h := m.hist
	if h == nil {
		return
	}
	if y >= 2 && y < 2+m.historyRows() {
		if i := h.offset + y - 2; i < len(h.recs) {
			h.cursor = i
		}
	}
}

func (m *Model) historyWheel(delta int) tea.Cmd {
	h := m.hist
	if h == nil {
		return nil
	}
	rows := m.historyRows()
	h.offset = min(max(h.offset+delta, 0), max(len(h.recs)-rows, 0))
	h.cursor = min(max(h.cursor, h.offset), h.offset+rows-1)
	h.clamp(rows)
	if h.more && !h.loading && h.offset+rows >= len(h.recs) {
		return m.loadHistory(true)
	}
	return nil
}

func (m *Model) openDiff(tenant, device, devName string, from, to api.SnapshotRecord) tea.Cmd {
	var cmd tea.Cmd
	m.diff, cmd = diffview.Open(m.c, &m.contents, tenant, device, devName, from, to)
	m.push(screenDiff)
	return cmd
}

func (m *Model) openSnapshot(tenant, device, devName string, rec api.SnapshotRecord) tea.Cmd {
	var cmd tea.Cmd
	m.snap, cmd = snapview.Open(m.c, &m.contents, tenant, device, devName, rec)
	m.push(screenSnapshot)
	return cmd
}
