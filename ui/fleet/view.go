package fleet

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/detail"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
)

// fleetLayout is where the parts of the fleet screen go, in body
// coordinates. View and the mouse handler both use it, so a click lands on
// the row that is drawn there.
type fleetLayout struct {
	tenantW          int // 0 when the tenant pane is dropped (narrow window)
	devX, devW       int
	listY, listH     int
	jobsY, jobsH     int // jobsH includes the section title
	detailY, detailH int // detailH includes the section title
}

// Narrow windows (under 100 columns) drop the tenant pane: tenants then
// switch with [ ] and t.
func (m *Model) fleetLayout(w, bh int) fleetLayout {
	var l fleetLayout
	if m.c.Wide() {
		l.tenantW = min(max(w/5, 22), 34)
		l.devX = l.tenantW + 1
	}
	l.devW = w - l.devX
	l.detailH = 8
	if bh >= 30 {
		l.detailH = 10
	}
	if n := m.jobs.Shown(); n > 0 {
		maxRows := 3
		if bh >= 30 {
			maxRows = 8
		}
		l.jobsH = 1 + min(n, maxRows)
	}
	const minList = 3
	for bh-2-l.jobsH-l.detailH < minList && l.detailH > 4 {
		l.detailH--
	}
	for bh-2-l.jobsH-l.detailH < minList && l.jobsH > 2 {
		l.jobsH--
	}
	l.listY = 2
	l.listH = max(bh-2-l.jobsH-l.detailH, 1)
	l.jobsY = l.listY + l.listH
	l.detailY = l.jobsY + l.jobsH
	return l
}

func (m *Model) listRows() int {
	if !m.c.Sized {
		return 10
	}
	return m.fleetLayout(m.c.Width, m.c.BodyHeight()).listH
}

func (m *Model) clampTenantOffset() {
	rows := max(m.c.BodyHeight()-1, 1)
	if m.tenant < m.tenantOffset {
		m.tenantOffset = m.tenant
	}
	if m.tenant >= m.tenantOffset+rows {
		m.tenantOffset = m.tenant - rows + 1
	}
}

// View is the fleet screen, bh lines of w cells.
func (m *Model) View(w, bh int) []string {
	st := &m.c.Styles
	l := m.fleetLayout(w, bh)
	right := m.devicePane(l, bh)
	if l.tenantW == 0 {
		return right
	}
	left := common.Block(m.tenantPane(l.tenantW, bh), l.tenantW, bh)
	right = common.Block(right, l.devW, bh)
	sep := st.Rule.Render("│")
	out := make([]string, bh)
	for i := range out {
		out[i] = left[i] + sep + right[i]
	}
	return out
}

func (m *Model) tenantPane(w, h int) []string {
	st := &m.c.Styles
	title := st.TitleBlur
	if m.focusTenants {
		title = st.Title
	}
	out := []string{title.Render(common.Fit(fmt.Sprintf("Tenants (%d)", len(m.tenants)), w))}
	switch {
	case m.tenantsLoading && len(m.tenants) == 0:
		return append(out, st.Dim.Render(m.c.Spin()+" loading…"))
	case m.tenantsErr != nil && len(m.tenants) == 0:
		return append(out, st.Bad.Render("failed"), st.Dim.Render("r retries"))
	}
	for i := m.tenantOffset; i < len(m.tenants) && len(out) < h; i++ {
		out = append(out, common.RenderTenantRow(m.tenants[i], w, i == m.tenant, m.focusTenants, st))
	}
	return out
}

func (m *Model) devicePane(l fleetLayout, bh int) []string {
	st := &m.c.Styles
	w := l.devW
	f := &m.fleet
	out := []string{m.deviceTitle(w)}
	cols := deviceColumns(w)
	out = append(out, renderDeviceHeader(cols, f.sort, f.desc, st))

	var rows []string
	switch {
	case m.c.Client == nil:
		rows = []string{st.Bad.Render("no backend client configured")}
	case len(m.tenants) == 0 && m.tenantsLoading:
		rows = []string{st.Dim.Render(m.c.Spin() + " loading tenants…")}
	case len(m.tenants) == 0 && m.tenantsErr != nil:
		rows = append([]string{st.Bad.Render("Could not load the tenants.")}, common.WrapText(common.Clean(m.tenantsErr.Error()), w)...)
		rows = append(rows, st.Dim.Render("r retries · L shows the log"))
	case len(m.tenants) == 0:
		rows = []string{st.Dim.Render("No tenants in the inventory.")}
	case f.err != nil && len(f.devices) == 0:
		rows = append([]string{st.Bad.Render("Could not load the devices of " + common.Clean(f.tenant) + ".")}, common.WrapText(common.Clean(f.err.Error()), w)...)
		rows = append(rows, st.Dim.Render("r retries · L shows the log"))
	case f.loading && len(f.devices) == 0:
		rows = []string{st.Dim.Render(m.c.Spin() + " loading devices of " + common.Clean(f.tenant) + "…")}
	case len(f.devices) == 0:
		rows = []string{st.Dim.Render("No devices in tenant " + common.Clean(f.tenant) + ".")}
	case len(f.view) == 0:
		rows = []string{st.Dim.Render(fmt.Sprintf("No device matches %q. esc clears the filter.", f.filter.String()))}
	default:
		mk := f.marks[f.tenant]
		long := cols.state > 13
		for i := f.Offset; i < len(f.view) && len(rows) < l.listH; i++ {
			d := f.devices[f.view[i]]
			rows = append(rows, m.rows.render(m.deviceRowOf(d, long), cols, i == f.Cursor, mk[d.ID], !m.focusTenants, st))
		}
		m.rows.endFrame()
	}
	out = append(out, common.RowsOf(rows, l.listH)...)

	if l.jobsH > 0 {
		out = append(out, m.jobs.Panel(f.tenant, w, l.jobsH)...)
		for len(out) < l.detailY {
			out = append(out, "")
		}
	}

	if d, ok := f.current(); ok && l.detailH > 0 {
		title := common.Clean(name(d))
		if d.Host != "" {
			title += " · " + common.Clean(d.Host)
			if d.Port > 0 && d.Port != 22 {
				title += fmt.Sprintf(":%d", d.Port)
			}
		}
		if len(d.Tags) > 0 {
			title += " · " + common.Clean(strings.Join(d.Tags, ","))
		}
		out = append(out, st.SectionRule(title, w))
		out = append(out, common.RowsOf(detail.Render(m.detailOf(d), w, st), l.detailH-1)...)
	}
	return common.RowsOf(out, bh)
}

func (m *Model) deviceTitle(w int) string {
	st := &m.c.Styles
	f := &m.fleet
	title := st.Title
	if m.focusTenants {
		title = st.TitleBlur
	}
	var b strings.Builder
	b.WriteString(title.Render("Devices"))
	if !m.c.Wide() && len(m.tenants) > 0 {
		b.WriteString(" · " + st.Bold.Render(common.Clean(m.tenantName(f.tenant))) + st.Dim.Render(fmt.Sprintf(" [%d/%d]", m.tenant+1, len(m.tenants))))
	}
	if len(f.view) != len(f.devices) {
		fmt.Fprintf(&b, " · %d of %d", len(f.view), len(f.devices))
	} else {
		fmt.Fprintf(&b, " · %d", len(f.devices))
	}
	if f.sort == sortTriage {
		b.WriteString(" · " + st.Warn.Render("triage") + st.Dim.Render(" (T)"))
	}
	if n := len(f.marks[f.tenant]); n > 0 {
		b.WriteString(" · " + st.Mark.Render(fmt.Sprintf("%d marked", n)))
	}
	switch {
	case f.loading && len(f.devices) > 0:
		b.WriteString(" · " + st.Dim.Render(m.c.Spin()+" refreshing"))
	case f.err != nil && len(f.devices) > 0:
		b.WriteString(" · " + st.Bad.Render("✗ reload failed") + st.Dim.Render(" (L)"))
	}
	switch {
	case f.filtering:
		b.WriteString(" · " + st.Key.Render("/") + st.Input.Render(common.Clean(f.filter.String())) + "█")
	case f.filter.String() != "":
		b.WriteString(" · filter " + st.Input.Render(common.Clean(f.filter.String())) + st.Dim.Render(" (esc clears)"))
	}
	return common.Fit(b.String(), w)
}

// deviceCols are the widths of the device table's columns.
type deviceCols struct {
	name, host, ver, age, hash, chg, state int
}

// deviceColumns fits the table to w cells: fixed columns first (the state,
// the short hash and the age are what people scan for), then name and
// host share the rest; the host goes first when there is too little.
func deviceColumns(w int) deviceCols {
	c := deviceCols{ver: 7, age: 7, hash: common.ShortHashLen, chg: 3, state: 13}
	if w >= 150 {
		c.state = 20 // room for the full error kind
	}
	fixed := 2 + c.ver + c.age + c.hash + c.chg + c.state + 6
	rest := w - fixed - 1
	if rest >= 22 {
		c.name = min(max(rest*11/20, 10), 40)
		c.host = min(rest-c.name, 32)
		c.name = min(rest-c.host, 48)
		return c
	}
	// Too narrow for everything: drop columns, least useful first.
	c.name = rest + 1
	for _, col := range []*int{&c.ver, &c.chg, &c.age, &c.hash} {
		if c.name >= 10 {
			break
		}
		c.name += *col + 1
		*col = 0
	}
	c.name = max(c.name, 1)
	return c
}

func renderDeviceHeader(c deviceCols, sort sortKey, desc bool, st *common.Styles) string {
	arrow := "↑"
	if desc {
		arrow = "↓"
	}
	h := func(label string, key sortKey, hasKey bool) string {
		if hasKey && (key == sort || sort == sortTriage && key == sortState) {
			return label + arrow
		}
		return label
	}
	cells := []string{"  " + common.Fit(h("NAME", sortName, true), c.name)}
	if c.host > 0 {
		cells = append(cells, common.Fit("HOST", c.host))
	}
	for _, cell := range []struct {
		label string
		w     int
	}{{"ROS", c.ver}, {h("AGE", sortAge, true), c.age}, {"HASH", c.hash}, {"CHG", c.chg}, {h("STATE", sortState, true), c.state}} {
		if cell.w > 0 {
			cells = append(cells, common.Fit(cell.label, cell.w))
		}
	}
	return st.Header.Render(strings.Join(cells, " "))
}

// deviceRow is the data of one device line.
type deviceRow struct {
	name, host, version, age, hash string
	changed                        string // "yes", "no" or ""
	never                          bool
	state                          jobs.RowState
	spin                           string
}

func (m *Model) deviceRowOf(d api.Device, long bool) deviceRow {
	r := deviceRow{name: common.Clean(name(d)), host: common.Clean(d.Host), age: "never", never: true, state: m.rowState(d)}
	if r.state.Kind == jobs.StRunning {
		// Only a running row shows the spinner: the others stay equal
		// from frame to frame, so their rendered line is reused.
		r.spin = m.c.Spin()
	}
	if lb := d.LastBackup; lb != nil {
		r.version = common.Clean(lb.RouterOSVersion)
		r.age = common.Ago(m.c.Now(), lb.CollectedAt)
		r.hash = common.ShortHash(common.Clean(lb.SHA256))
		r.never = false
		r.changed = "no"
		if lb.Changed {
			r.changed = "yes"
		}
	}
	return r
}

// rowCache keeps the device lines of the last frame: a keystroke moves the
// cursor over two rows, a tick changes nothing, so most lines of the next
// frame are the same strings. Styling a line (about ten lipgloss renders)
// was most of a frame's CPU with 50 sessions served over SSH.
type rowCache struct {
	prev, cur map[rowKey]string
}

// rowKey is everything renderDeviceRow reads; styles tells the styles
// apart when the background colour (light or dark) changes them.
type rowKey struct {
	r                       deviceRow
	c                       deviceCols
	cursor, marked, focused bool
	styles                  uint64
}

func (rc *rowCache) render(r deviceRow, c deviceCols, cursor, marked, focused bool, st *common.Styles) string {
	k := rowKey{r: r, c: c, cursor: cursor, marked: marked, focused: focused, styles: st.ID()}
	s, ok := rc.cur[k]
	if !ok {
		if s, ok = rc.prev[k]; !ok {
			s = renderDeviceRow(r, c, cursor, marked, focused, st)
		}
		if rc.cur == nil {
			rc.cur = make(map[rowKey]string)
		}
		rc.cur[k] = s
	}
	return s
}

// endFrame forgets the lines the frame just drawn did not use, so the
// cache holds at most two screens of lines.
func (rc *rowCache) endFrame() {
	rc.prev, rc.cur = rc.cur, rc.prev
	clear(rc.cur)
}

// renderDeviceRow is a pure function from a device's data to one table
// line: the cursor and the mark are characters too, so the plain text
// (and NO_COLOR) still shows them.
func renderDeviceRow(r deviceRow, c deviceCols, cursor, marked, focused bool, st *common.Styles) string {
	sel := func(s lipgloss.Style) lipgloss.Style { return st.Sel(s, cursor, focused) }
	base := lipgloss.NewStyle()
	lead := " "
	if cursor {
		lead = "▸"
	}
	mark := " "
	if marked {
		mark = "●"
	}
	sp := sel(base).Render(" ")
	var b strings.Builder
	b.WriteString(sel(base).Render(lead))
	b.WriteString(sel(st.Mark).Render(mark))
	b.WriteString(sel(base).Render(common.Fit(r.name, c.name)))
	if c.host > 0 {
		b.WriteString(sp + sel(base).Render(common.Fit(r.host, c.host)))
	}
	ageStyle := base
	if r.never {
		ageStyle = st.Warn
	}
	chgStyle := st.Dim
	if r.changed == "yes" {
		chgStyle = st.Warn
	}
	for _, cell := range []struct {
		text  string
		w     int
		style lipgloss.Style
	}{
		{r.version, c.ver, st.Dim}, {r.age, c.age, ageStyle}, {r.hash, c.hash, st.Hash}, {r.changed, c.chg, chgStyle},
		{jobs.StateText(r.state, r.spin, c.state > 13), c.state, jobs.StateStyle(r.state.Kind, st)},
	} {
		if cell.w > 0 {
			b.WriteString(sp + sel(cell.style).Render(common.Fit(cell.text, cell.w)))
		}
	}
	return b.String()
}

// Mouse.

func (m *Model) click(x, y int) tea.Cmd {
	l := m.fleetLayout(m.c.Width, m.c.BodyHeight())
	if l.tenantW > 0 && x < l.tenantW {
		if i := m.tenantOffset + y - 1; y >= 1 && i < len(m.tenants) {
			m.focusTenants = true
			return m.selectTenant(i, i != m.tenant)
		}
		return nil
	}
	if y >= l.listY && y < l.listY+l.listH {
		i := m.fleet.Offset + y - l.listY
		if i < len(m.fleet.view) {
			m.focusTenants = false
			m.fleet.Cursor = i
		}
	}
	return nil
}

func (m *Model) wheel(x, y, delta int) {
	l := m.fleetLayout(m.c.Width, m.c.BodyHeight())
	if l.tenantW > 0 && x < l.tenantW {
		rows := max(m.c.BodyHeight()-1, 1)
		m.tenantOffset = min(max(m.tenantOffset+delta, 0), max(len(m.tenants)-rows, 0))
		return
	}
	f := &m.fleet
	f.Scroll(delta, len(f.view), l.listH)
}

// detailOf is what the detail pane shows of d.
func (m *Model) detailOf(d api.Device) detail.Data {
	dd := detail.Data{Dev: d, Tenant: m.fleet.tenant, Mode: m.c.Mode(), Now: m.c.Now(), Loc: m.c.Loc}
	if l, ok := m.jobs.Active(m.fleet.tenant, d.ID); ok {
		dd.Job = &l
		return dd
	}
	if r := m.jobs.Result(jobs.Key{Tenant: m.fleet.tenant, Device: d.ID}); r != nil && (d.LastBackup == nil || !d.LastBackup.CollectedAt.After(r.At)) {
		dd.Res = r
	}
	return dd
}
