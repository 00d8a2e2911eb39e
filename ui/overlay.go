package ui

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Confirmations.

type confirmKind int

const (
	confirmQuit confirmKind = iota
	confirmBackupAll
	confirmForget
)

type confirmState struct {
	kind   confirmKind
	title  string
	lines  []string
	yes    string
	danger bool
	tenant string
	device api.Device
}

func (m *Model) openConfirm(c *confirmState) {
	m.confirm = c
	m.overlay = overlayConfirm
}

func (m *Model) confirmKey(msg tea.KeyPressMsg) tea.Cmd {
	c := m.confirm
	switch {
	case key.Matches(msg, m.c.Keys.Interrupt) && c.kind == confirmQuit:
		return tea.Quit
	case key.Matches(msg, m.c.Keys.Interrupt):
		m.overlay, m.confirm = overlayNone, nil
		return m.requestQuit()
	case key.Matches(msg, m.c.Keys.Yes):
		m.overlay, m.confirm = overlayNone, nil
		switch c.kind {
		case confirmQuit:
			return tea.Quit
		case confirmBackupAll:
			return m.backupAll(c.tenant)
		case confirmForget:
			return m.forget(c.tenant, c.device)
		}
	case key.Matches(msg, m.c.Keys.No):
		m.overlay, m.confirm = overlayNone, nil
	}
	return nil
}

func (m *Model) confirmView(w int) string {
	st := &m.c.Styles
	c := m.confirm
	inner := min(w-6, 66)
	var lines []string
	lines = append(lines, st.Bold.Render(common.Trunc(c.title, inner)), "")
	for _, l := range c.lines {
		lines = append(lines, common.WrapText(l, inner)...)
	}
	yes := st.Key.Render("y") + " " + c.yes
	if c.danger {
		yes = st.Bad.Render("y") + " " + c.yes
	}
	lines = append(lines, "", yes+st.Dim.Render("   ·   ")+st.Key.Render("n/esc")+" cancel")
	box := st.Dialog
	if c.danger {
		box = st.DialogDang
	}
	return box.Render(strings.Join(padLines(lines), "\n"))
}

// padLines pads lines to the widest one so the dialog box is square.
func padLines(lines []string) []string {
	wmax := 0
	for _, l := range lines {
		wmax = max(wmax, common.Width(l))
	}
	for i, l := range lines {
		lines[i] = common.Fit(l, wmax)
	}
	return lines
}

// overlayBox draws box centred over body (lines of w cells).
func (m *Model) overlayBox(body []string, w int, box string) []string {
	body = common.Block(body, w, len(body))
	bl := strings.Split(box, "\n")
	bw := 0
	for _, l := range bl {
		bw = max(bw, common.Width(l))
	}
	bw = min(bw, w)
	x := max((w-bw)/2, 0)
	y := max((len(body)-len(bl))/2, 0)
	for i, l := range bl {
		if y+i >= len(body) {
			break
		}
		row := body[y+i]
		body[y+i] = ansi.Truncate(row, x, "") + "\x1b[m" + common.Fit(l, bw) + "\x1b[m" + ansi.TruncateLeft(row, x+bw, "")
	}
	return body
}

// Forgetting a host key.

type forgetMsg struct {
	task   int
	tenant string
	device string
	name   string
	err    error
}

func (m *Model) askForget(d api.Device) {
	key := devKey{m.fleet.tenant, d.ID}
	lines := []string{
		fmt.Sprintf("The recorded SSH host key of %s (%s) is removed; the next backup trusts and records whatever key the device presents then.", common.Clean(name(d)), common.Clean(d.Host)),
		"Only do this after checking the new fingerprint with whoever runs the device.",
	}
	errText := ""
	if r := m.results[key]; r != nil && r.reply != nil && r.reply.ErrorKind == api.KindHostKeyMismatch {
		errText = r.reply.Error
	} else if d.LastError != nil && d.LastError.Kind == api.KindHostKeyMismatch {
		errText = d.LastError.Error
	}
	if pres, _ := fingerprints(errText); pres != "" {
		lines = append(lines, "It presented: "+pres)
	}
	if m.c.Mode() == client.ModeRemote {
		lines = append(lines, "Remote mode: the key is kept by the backup service, which may refuse; then run 'cfgsnap hostkey forget "+common.Clean(key.String())+"' on its host.")
	}
	m.openConfirm(&confirmState{
		kind: confirmForget, title: "Forget the host key of " + common.Clean(name(d)) + "?",
		lines: lines, yes: "forget the old key", danger: true, tenant: m.fleet.tenant, device: d,
	})
}

func (m *Model) forget(tenant string, d api.Device) tea.Cmd {
	if m.c.Client == nil {
		return nil
	}
	id := m.c.Tasks.Start("forgetting the host key of " + common.Clean(name(d)) + "…")
	c, ctx := m.c.Client, m.c.Ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
		defer cancel()
		err := c.ForgetHostKey(ctx, tenant, d.ID)
		return forgetMsg{task: id, tenant: tenant, device: d.ID, name: name(d), err: err}
	}
}

func (m *Model) onForget(msg forgetMsg) {
	key := devKey{msg.tenant, msg.device}
	if msg.err != nil {
		m.c.Tasks.Finish(msg.task, false, "could not forget the host key of "+common.Clean(msg.name)+": "+common.Clean(msg.err.Error()))
		m.addLog(common.LogError, "forget host key of %s: %s", key, common.Clean(msg.err.Error()))
		return
	}
	m.c.Tasks.Finish(msg.task, true, "forgot the host key of "+common.Clean(msg.name)+": b records the new one")
	m.addLog(common.LogOK, "forgot the recorded host key of %s", key)
	delete(m.results, key)
	if msg.tenant == m.fleet.tenant {
		if i, ok := m.fleet.index[msg.device]; ok {
			m.fleet.devices[i].LastError = nil
		}
	}
}

// Tenant picker.

type pickerState struct {
	cursor int
	filter common.LineInput
}

func (m *Model) openPicker() {
	if len(m.tenants) == 0 {
		return
	}
	m.overlay = overlayPicker
	m.picker = pickerState{cursor: m.tenant}
}

func (m *Model) pickerItems() []int {
	q := strings.ToLower(m.picker.filter.String())
	var out []int
	for i, t := range m.tenants {
		if common.Subsequence(strings.ToLower(t.ID+" "+t.Name), q) {
			out = append(out, i)
		}
	}
	return out
}

func (m *Model) pickerKey(msg tea.KeyPressMsg) tea.Cmd {
	p := &m.picker
	items := m.pickerItems()
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Back):
		m.overlay = overlayNone
		return nil
	case key.Matches(msg, k.Interrupt):
		m.overlay = overlayNone
		return m.requestQuit()
	case key.Matches(msg, k.Accept):
		m.overlay = overlayNone
		if p.cursor >= 0 && p.cursor < len(items) {
			return m.selectTenant(items[p.cursor], items[p.cursor] != m.tenant)
		}
		return nil
	case key.Matches(msg, k.PickerUp):
		p.cursor--
	case key.Matches(msg, k.PickerDown):
		p.cursor++
	default:
		if changed, _ := p.filter.Edit(msg, &m.c.Keys); changed {
			p.cursor = 0
		}
	}
	p.cursor = min(max(p.cursor, 0), max(len(m.pickerItems())-1, 0))
	return nil
}

func (m *Model) pickerView(w, bh int) string {
	st := &m.c.Styles
	items := m.pickerItems()
	inner := min(w-6, 50)
	lines := []string{st.Bold.Render("Tenant") + st.Dim.Render(" (type to filter)"), st.Key.Render("/") + common.Clean(m.picker.filter.String()) + "█"}
	rows := max(bh-6, 3)
	start := max(m.picker.cursor-rows+1, 0)
	for k := start; k < len(items) && k < start+rows; k++ {
		t := m.tenants[items[k]]
		lines = append(lines, renderTenantRow(t, inner, k == m.picker.cursor, true, st))
	}
	if len(items) == 0 {
		lines = append(lines, st.Dim.Render("no tenant matches"))
	}
	lines = append(lines, "", st.Key.Render("enter")+" select"+st.Dim.Render(" · ")+st.Key.Render("esc")+" cancel")
	for i := range lines {
		lines[i] = common.Fit(lines[i], inner)
	}
	return st.Dialog.Render(strings.Join(lines, "\n"))
}

// pickerClick selects the clicked tenant: rows start after the border,
// the title and the filter line.
func (m *Model) pickerClick(x, y int) tea.Cmd {
	box := strings.Split(m.pickerView(m.c.Width, m.c.BodyHeight()), "\n")
	bh := len(box)
	top := max((m.c.BodyHeight()-bh)/2, 0)
	items := m.pickerItems()
	rows := max(m.c.BodyHeight()-6, 3)
	start := max(m.picker.cursor-rows+1, 0)
	k := start + (y - top - 3)
	if y-top-3 >= 0 && k < len(items) && k < start+rows {
		m.overlay = overlayNone
		return m.selectTenant(items[k], items[k] != m.tenant)
	}
	return nil
}

// Full help.

func (m *Model) helpView(w, bh int) []string {
	st := &m.c.Styles
	head := st.Title.Render("cfgsnap") + " " + st.Dim.Render(common.Clean(cmp.Or(m.opts.Version, "dev"))) + " · keys"
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
