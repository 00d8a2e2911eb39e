// Package changes is the "what changed" screen: every configuration change
// of the fleet within a window (an hour, a day, a week, a month), newest
// first, with the lines added and removed, who or what triggered the
// backup and why; enter opens the diff of a change, or the snapshot of a
// new device.
package changes

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Window is one choice of how far back the screen looks.
type Window struct {
	D     time.Duration
	Label string
}

// Windows are the choices + and - step through; DefaultWindow (24 h) is
// the on-call question "what changed since yesterday".
var Windows = []Window{{time.Hour, "1h"}, {24 * time.Hour, "24h"}, {7 * 24 * time.Hour, "7d"}, {30 * 24 * time.Hour, "30d"}}

// DefaultWindow is the index of 24 h in Windows.
const DefaultWindow = 1

// Max bounds the changes asked for; the title says when more exist.
const Max = 1000

// Model is the changes screen.
type Model struct {
	c        *common.Common
	fleet    client.Fleet
	fleetErr error
	win      int
	req      int
	cancel   context.CancelFunc
	loading  bool
	err      error
	since    time.Time
	reply    api.ChangesReply
	list     common.ListWindow
}

// LoadedMsg is a changes reply.
type LoadedMsg struct {
	req   int
	reply api.ChangesReply
	err   error
}

// Open shows the changes within Windows[win] and loads them.
func Open(c *common.Common, win int) (*Model, tea.Cmd) {
	m := &Model{c: c, win: min(max(win, 0), len(Windows)-1)}
	m.fleet, m.fleetErr = client.AsFleet(c.Client)
	return m, m.Reload()
}

// Loading reports whether the list is being fetched.
func (m *Model) Loading() bool { return m.loading }

// Window is the index of the window shown, for the next time the screen
// opens.
func (m *Model) Window() int { return m.win }

// Changes are the changes shown.
func (m *Model) Changes() []api.Change { return m.reply.Changes }

// Close cancels the request in flight.
func (m *Model) Close() {
	if m.cancel != nil {
		m.cancel()
	}
}

// Reload asks for the changes of the window, cancelling an older request.
func (m *Model) Reload() tea.Cmd {
	m.Close()
	m.req = m.c.NextReq()
	m.since = m.c.Now().Add(-Windows[m.win].D)
	if m.fleet == nil {
		m.loaded(LoadedMsg{req: m.req, err: m.fleetErr})
		return nil
	}
	ctx, cancel := context.WithTimeout(m.c.Ctx, common.RequestTimeout)
	m.cancel, m.loading = cancel, true
	req, fl, since := m.req, m.fleet, m.since
	return func() tea.Msg {
		defer cancel()
		rep, err := fl.Changes(ctx, api.ChangesRequest{Since: since, Max: Max})
		return LoadedMsg{req: req, reply: rep, err: err}
	}
}

func (m *Model) loaded(msg LoadedMsg) {
	if msg.req != m.req {
		return
	}
	m.loading, m.cancel, m.err = false, nil, msg.err
	if msg.err != nil {
		m.c.Log(common.LogError, "changes: %s", common.Clean(msg.err.Error()))
		return
	}
	// Keep the cursor on the change it was on when the list is reloaded.
	keep := ""
	if ch, ok := m.current(); ok {
		keep = ch.SnapshotID
	}
	m.reply = msg.reply
	m.list.Cursor = 0
	for i, ch := range m.reply.Changes {
		if ch.SnapshotID == keep && keep != "" {
			m.list.Cursor = i
		}
	}
	m.list.Clamp(len(m.reply.Changes), m.rows())
}

func (m *Model) current() (api.Change, bool) {
	cs := m.reply.Changes
	if m.list.Cursor < 0 || m.list.Cursor >= len(cs) {
		return api.Change{}, false
	}
	return cs[m.list.Cursor], true
}

// rows is the height of the table: title and header above, two lines of
// the selected change's details below.
func (m *Model) rows() int { return max(m.c.BodyHeight()-5, 1) }

// Update handles replies, keys, clicks and the wheel.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case LoadedMsg:
		m.loaded(msg)
	case tea.KeyPressMsg:
		return m.key(msg)
	case common.WheelMsg:
		m.list.Scroll(msg.Delta, len(m.reply.Changes), m.rows())
	case common.ClickMsg:
		if i := m.list.Offset + msg.Y - 2; msg.Y >= 2 && msg.Y < 2+m.rows() && i < len(m.reply.Changes) {
			m.list.Cursor = i
		}
	}
	return nil
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.c.Keys
	rows, n := m.rows(), len(m.reply.Changes)
	switch {
	case key.Matches(msg, k.Back):
		m.c.Send(common.BackMsg{})
		return nil
	case key.Matches(msg, k.Wider):
		if m.win < len(Windows)-1 {
			m.win++
			return m.Reload()
		}
	case key.Matches(msg, k.Narrower):
		if m.win > 0 {
			m.win--
			return m.Reload()
		}
	case key.Matches(msg, k.Refresh):
		return m.Reload()
	case key.Matches(msg, k.View):
		m.open()
	case key.Matches(msg, k.Copy):
		if ch, ok := m.current(); ok {
			m.c.Send(common.CopyMsg{Text: ch.SHA256, What: "sha256 of " + common.Clean(ch.TenantID+"/"+ch.DeviceID) + " at " + common.Stamp(ch.CollectedAt, m.c.Loc)})
		}
	case m.list.Move(msg, k, n, rows):
	}
	m.list.Clamp(n, rows)
	return nil
}

// open shows the diff of the selected change against the configuration
// before it, or the snapshot of a new device. The records carry only the
// hashes: the viewers fetch the full records with the contents.
func (m *Model) open() {
	ch, ok := m.current()
	if !ok {
		return
	}
	to := api.SnapshotRecord{TenantID: ch.TenantID, DeviceID: ch.DeviceID, SHA256: ch.SHA256}
	if ch.Kind == api.ChangeNew || ch.PreviousHash == "" {
		m.c.Send(common.OpenSnapshotMsg{Tenant: ch.TenantID, Device: ch.DeviceID, DevName: ch.DeviceID, Rec: to})
		return
	}
	from := api.SnapshotRecord{TenantID: ch.TenantID, DeviceID: ch.DeviceID, SHA256: ch.PreviousHash}
	m.c.Send(common.OpenDiffMsg{Tenant: ch.TenantID, Device: ch.DeviceID, DevName: ch.DeviceID, From: from, To: to})
}

// View is the title, the table and the selected change's details.
func (m *Model) View() string {
	st := &m.c.Styles
	w := m.c.Width
	win := Windows[m.win]
	title := st.Title.Render("Changes") + " · last " + st.Bold.Render(win.Label) + st.Dim.Render(" (since "+m.since.In(m.c.Loc).Format(textfmt.MinuteLayout)+")")
	if m.err == nil && !m.loading {
		changed, fresh := 0, 0
		for _, ch := range m.reply.Changes {
			if ch.Kind == api.ChangeNew {
				fresh++
			} else {
				changed++
			}
		}
		title += " · " + common.Plural(changed, "change", "changes")
		if fresh > 0 {
			title += " · " + common.Plural(fresh, "new device", "new devices")
		}
		if m.reply.More {
			title += st.Warn.Render(fmt.Sprintf(" · first %d only: shorten the window", len(m.reply.Changes)))
		}
	}
	if m.loading {
		title += " · " + st.Dim.Render(m.c.Spin()+" loading")
	}
	cols := Columns(w)
	out := []string{common.Fit(title, w), RenderHeader(cols, st)}
	rows := m.rows()
	var lines []string
	switch {
	case m.err != nil:
		lines = append([]string{st.Bad.Render("Could not list the changes.")}, common.WrapText(common.Clean(m.err.Error()), w)...)
		lines = append(lines, st.Dim.Render("r retries · esc goes back"))
	case m.loading && len(m.reply.Changes) == 0:
	case len(m.reply.Changes) == 0:
		lines = append(lines, st.Dim.Render("No configuration changed in the last "+win.Label+"."))
		if m.win < len(Windows)-1 {
			lines = append(lines, st.Dim.Render("+ looks further back ("+Windows[m.win+1].Label+")."))
		}
	default:
		for i := m.list.Offset; i < len(m.reply.Changes) && len(lines) < rows; i++ {
			lines = append(lines, RenderRow(m.reply.Changes[i], m.c.Now(), m.c.Loc, cols, i == m.list.Cursor, st))
		}
	}
	out = append(out, common.RowsOf(lines, rows)...)
	if ch, ok := m.current(); ok && m.err == nil {
		out = append(out, st.SectionRule(common.Clean(ch.TenantID+"/"+ch.DeviceID)+" · "+common.Stamp(ch.CollectedAt, m.c.Loc), w))
		out = append(out, RenderDetail(ch, w, st)...)
	}
	return strings.Join(out, "\n")
}

// Cols are the widths of the table's columns; 0 drops one.
type Cols struct {
	time, age, device, change, trig, by, reason int
	secs                                        bool
}

// Columns fits the table to w: at 80 columns the time loses its seconds
// and the trigger and requester shrink; the reason takes what is left.
func Columns(w int) Cols {
	c := Cols{time: 16, age: 7, device: 20, change: 11, trig: 6, by: 10}
	if w >= 110 {
		c.time, c.secs, c.device, c.trig, c.by = 19, true, 26, 9, 16
	}
	fixed := 2 + c.time + c.age + c.device + c.change + c.trig + c.by + 6
	c.reason = w - fixed - 1
	if c.reason < 8 {
		c.by += max(c.reason, 0)
		c.reason = 0
	}
	return c
}

// RenderHeader is the table's header.
func RenderHeader(c Cols, st *common.Styles) string {
	trig := "TRIGGER"
	if c.trig < len(trig) {
		trig = "TRIG"
	}
	cells := []string{"  " + common.Fit("TIME", c.time), common.Fit("AGE", c.age), common.Fit("DEVICE", c.device),
		common.Fit("CHANGE", c.change), common.Fit(trig, c.trig), common.Fit("BY", c.by)}
	if c.reason > 0 {
		cells = append(cells, common.Fit("REASON", c.reason))
	}
	return st.Header.Render(strings.Join(cells, " "))
}

// ChangeText is "+3 −1", or "new device" for a device's first snapshot.
func ChangeText(ch api.Change) string {
	if ch.Kind == api.ChangeNew {
		return "new device"
	}
	return fmt.Sprintf("+%d −%d", ch.Added, ch.Removed)
}

// RenderRow is a pure function: one change as a table line.
func RenderRow(ch api.Change, now time.Time, loc *time.Location, c Cols, cursor bool, st *common.Styles) string {
	sel := func(s lipgloss.Style) lipgloss.Style { return st.Sel(s, cursor, true) }
	base := lipgloss.NewStyle()
	lead := "  "
	if cursor {
		lead = "▸ "
	}
	ts := ch.CollectedAt.In(loc).Format(textfmt.MinuteLayout)
	if c.secs {
		ts = common.Stamp(ch.CollectedAt, loc)
	}
	chStyle := st.Warn
	if ch.Kind == api.ChangeNew {
		chStyle = st.New
	}
	trig := common.Clean(string(ch.Trigger))
	if c.trig < 9 && ch.Trigger == api.TriggerScheduled {
		trig = "sched"
	}
	sp := sel(base).Render(" ")
	var b strings.Builder
	b.WriteString(sel(base).Render(lead + common.Fit(ts, c.time)))
	for _, cell := range []struct {
		text  string
		w     int
		style lipgloss.Style
	}{
		{common.Ago(now, ch.CollectedAt), c.age, st.Dim},
		{common.Clean(ch.TenantID + "/" + ch.DeviceID), c.device, st.Bold},
		{ChangeText(ch), c.change, chStyle},
		{trig, c.trig, st.Dim},
		{common.Clean(ch.RequestedBy), c.by, base},
		{common.Clean(ch.Reason), c.reason, st.Dim},
	} {
		if cell.w > 0 {
			b.WriteString(sp + sel(cell.style).Render(common.Fit(cell.text, cell.w)))
		}
	}
	return b.String()
}

// RenderDetail is the selected change under the table: the hashes and
// who asked why, in full.
func RenderDetail(ch api.Change, w int, st *common.Styles) []string {
	hashes := st.Dim.Render("sha256 ") + st.Hash.Render(common.ShortHash(common.Clean(ch.SHA256)))
	if ch.PreviousHash != "" {
		hashes += st.Dim.Render(" · previous ") + st.Hash.Render(common.ShortHash(common.Clean(ch.PreviousHash))) + st.Dim.Render(" · enter shows the diff")
	} else {
		hashes += st.Dim.Render(" · first snapshot of the device · enter shows it")
	}
	who := common.JoinNonEmpty(" · ", common.Clean(string(ch.Trigger)), by(ch.RequestedBy), reason(ch.Reason))
	return []string{common.Fit(hashes, w), common.Fit(who, w)}
}

func by(s string) string {
	if s == "" {
		return ""
	}
	return "by " + common.Clean(s)
}

func reason(s string) string {
	if s == "" {
		return ""
	}
	return "reason: " + common.Clean(s)
}

// ShortHelp is the footer while the changes are in front.
func (m *Model) ShortHelp() []key.Binding {
	k := &m.c.Keys
	return []key.Binding{common.WithHelp(k.View, "enter", "diff"), common.WithHelp(k.Wider, "+/-", "window"), k.Refresh, k.Copy, k.Back, k.Help, k.Quit}
}
