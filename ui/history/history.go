// Package history is the history screen: one device's snapshots, newest
// first, kept up to date by the tenant's snapshot watch, from which the
// diff and snapshot screens open.
package history

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// pageSize is how many snapshots one request asks for; scrolling to the
// end asks for the next page.
const pageSize = 50

// Model is one device's history.
type Model struct {
	c                                   *common.Common
	tenant, tenantName, device, devName string
	recs                                []api.SnapshotRecord
	ids                                 map[string]bool
	more                                bool
	loading                             bool
	err                                 error
	req                                 int
	list                                common.ListWindow
	marks                               []string        // snapshot IDs, in marking order
	fresh                               map[string]bool // arrived while the screen was open
}

// LoadedMsg is a page of history.
type LoadedMsg struct {
	req   int
	older bool
	recs  []api.SnapshotRecord
	more  bool
	err   error
}

// PinnedMsg is the answer to pinning or unpinning a snapshot.
type PinnedMsg struct {
	rec api.SnapshotRecord
	err error
}

// Open shows the history of device d of tenant and loads its first page.
func Open(c *common.Common, tenant, tenantName string, d api.Device) (*Model, tea.Cmd) {
	m := &Model{c: c, tenant: tenant, tenantName: tenantName, device: d.ID, devName: cmp.Or(d.Name, d.ID), ids: map[string]bool{}, fresh: map[string]bool{}}
	return m, m.Reload()
}

// Shows reports whether this is the history of tenant/device.
func (m *Model) Shows(tenant, device string) bool { return m.tenant == tenant && m.device == device }

// Loading reports whether a page is being fetched.
func (m *Model) Loading() bool { return m.loading }

// Len is how many snapshots are loaded.
func (m *Model) Len() int { return len(m.recs) }

// Reload loads the first page again.
func (m *Model) Reload() tea.Cmd { return m.load(false) }

func (m *Model) load(older bool) tea.Cmd {
	if m.c.Client == nil {
		return nil
	}
	before := ""
	if older {
		if len(m.recs) == 0 {
			return nil
		}
		before = m.recs[len(m.recs)-1].SnapshotID
	}
	m.req = m.c.NextReq()
	m.loading = true
	req, cl, ctx, tenant, device := m.req, m.c.Client, m.c.Ctx, m.tenant, m.device
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
		defer cancel()
		recs, more, err := cl.History(ctx, tenant, device, pageSize, before)
		return LoadedMsg{req: req, older: older, recs: recs, more: more, err: err}
	}
}

// pin toggles the selected snapshot's pin (retention never removes a
// pinned snapshot) where the client can pin.
func (m *Model) pin() tea.Cmd {
	r, ok := m.current()
	if !ok {
		return nil
	}
	p, ok := m.c.Client.(client.Pinner)
	if !ok {
		m.c.Log(common.LogWarn, "pinning is not available in this session")
		return nil
	}
	ctx, tenant, device, pinned := m.c.Ctx, m.tenant, m.device, !r.Pinned
	note := ""
	if pinned {
		note = "pinned in the TUI by " + m.c.User
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
		defer cancel()
		// By snapshot ID: that very record, not the newest with its hash
		// (a configuration rolled back has the hash of the one before the
		// change). A service older than snapshot-ID refs refuses the ID as
		// a bad request; the hash is the best it can do.
		rec, err := p.Pin(ctx, tenant, device, r.SnapshotID, pinned, note)
		if err != nil && api.KindOf(err) == api.KindBadRequest {
			rec, err = p.Pin(ctx, tenant, device, r.SHA256, pinned, note)
		}
		return PinnedMsg{rec: rec, err: err}
	}
}

// pinned puts the record the service returned in place of the shown one.
func (m *Model) pinned(msg PinnedMsg) {
	if msg.err != nil {
		m.c.Log(common.LogError, "pin %s/%s: %s", common.Clean(m.tenant), common.Clean(m.device), common.Clean(msg.err.Error()))
		return
	}
	what := "unpinned"
	if msg.rec.Pinned {
		what = "pinned"
	}
	m.c.Log(common.LogInfo, "%s %s/%s@%s", what, common.Clean(m.tenant), common.Clean(m.device), common.ShortHash(common.Clean(msg.rec.SHA256)))
	for i := range m.recs {
		// The service pins the newest record of the selected hash (a
		// reference is a hash): that record shows the mark.
		if m.recs[i].SnapshotID == msg.rec.SnapshotID {
			m.recs[i].Pinned, m.recs[i].PinNote = msg.rec.Pinned, msg.rec.PinNote
		}
	}
}

func (m *Model) current() (api.SnapshotRecord, bool) {
	if m.list.Cursor < 0 || m.list.Cursor >= len(m.recs) {
		return api.SnapshotRecord{}, false
	}
	return m.recs[m.list.Cursor], true
}

func (m *Model) marked(id string) bool { return slices.Contains(m.marks, id) }

// Add inserts a snapshot stored by anyone while the screen is open,
// keeping the cursor on the snapshot it was on.
func (m *Model) Add(rec api.SnapshotRecord) {
	if m.ids[rec.SnapshotID] {
		return
	}
	i, _ := slices.BinarySearchFunc(m.recs, rec, func(a, b api.SnapshotRecord) int {
		return b.CollectedAt.Compare(a.CollectedAt) // newest first
	})
	m.recs = slices.Insert(m.recs, i, rec)
	m.ids[rec.SnapshotID] = true
	m.fresh[rec.SnapshotID] = true
	if i <= m.list.Cursor && len(m.recs) > 1 {
		m.list.Cursor++
	}
}

func (m *Model) loaded(msg LoadedMsg) {
	if msg.req != m.req {
		return
	}
	m.loading = false
	m.err = msg.err
	if msg.err != nil {
		m.c.Log(common.LogError, "history of %s/%s: %s", common.Clean(m.tenant), common.Clean(m.device), common.Clean(msg.err.Error()))
		return
	}
	keep := ""
	if r, ok := m.current(); ok {
		keep = r.SnapshotID
	}
	if !msg.older {
		// Live snapshots that the reply predates stay.
		var live []api.SnapshotRecord
		for _, r := range m.recs {
			if m.fresh[r.SnapshotID] {
				live = append(live, r)
			}
		}
		m.recs, m.ids = nil, map[string]bool{}
		for _, r := range msg.recs {
			if !m.ids[r.SnapshotID] {
				m.recs = append(m.recs, r)
				m.ids[r.SnapshotID] = true
			}
		}
		for _, r := range live {
			if !m.ids[r.SnapshotID] {
				m.Add(r)
			}
		}
	} else {
		for _, r := range msg.recs {
			if !m.ids[r.SnapshotID] {
				m.recs = append(m.recs, r)
				m.ids[r.SnapshotID] = true
			}
		}
	}
	m.more = msg.more
	if keep != "" {
		if i := slices.IndexFunc(m.recs, func(r api.SnapshotRecord) bool { return r.SnapshotID == keep }); i >= 0 {
			m.list.Cursor = i
		}
	}
	m.Clamp()
}

// detailH is the height of the selected snapshot's details under the
// table.
func (m *Model) detailH() int {
	if m.c.BodyHeight() >= 30 {
		return 7
	}
	return 5
}

// Rows is how many table rows fit: title, header, rows, details.
func (m *Model) Rows() int {
	if !m.c.Sized {
		return 10
	}
	return max(m.c.BodyHeight()-2-m.detailH(), 1)
}

// Clamp keeps the cursor valid after a resize.
func (m *Model) Clamp() { m.list.Clamp(len(m.recs), m.Rows()) }

// Update handles pages, keys, clicks and the wheel.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case LoadedMsg:
		m.loaded(msg)
	case PinnedMsg:
		m.pinned(msg)
	case tea.KeyPressMsg:
		return m.key(msg)
	case common.ClickMsg:
		if msg.Y >= 2 && msg.Y < 2+m.Rows() {
			if i := m.list.Offset + msg.Y - 2; i < len(m.recs) {
				m.list.Cursor = i
			}
		}
	case common.WheelMsg:
		rows := m.Rows()
		m.list.Scroll(msg.Delta, len(m.recs), rows)
		if m.more && !m.loading && m.list.Offset+rows >= len(m.recs) {
			return m.load(true)
		}
	}
	return nil
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.c.Keys
	rows := m.Rows()
	var cmd tea.Cmd
	switch {
	case key.Matches(msg, k.Back):
		m.c.Send(common.BackMsg{})
		return nil
	case m.list.Move(msg, k, len(m.recs), rows):
	case key.Matches(msg, k.Mark):
		if r, ok := m.current(); ok {
			if i := slices.Index(m.marks, r.SnapshotID); i >= 0 {
				m.marks = slices.Delete(m.marks, i, i+1)
			} else {
				m.marks = append(m.marks, r.SnapshotID)
			}
			m.list.Cursor++
		}
	case key.Matches(msg, k.Diff):
		m.diff()
	case key.Matches(msg, k.Pin):
		cmd = m.pin()
	case key.Matches(msg, k.View):
		if r, ok := m.current(); ok {
			m.c.Send(common.OpenSnapshotMsg{Tenant: m.tenant, Device: m.device, DevName: m.devName, Rec: r})
		}
	case key.Matches(msg, k.Copy):
		if r, ok := m.current(); ok {
			m.c.Send(common.CopyMsg{Text: r.SHA256, What: "sha256 of " + common.Clean(m.devName) + " at " + common.Stamp(r.CollectedAt, m.c.Loc)})
		}
	case key.Matches(msg, k.Refresh):
		cmd = m.Reload()
	case key.Matches(msg, k.Backup):
		m.c.Send(common.BackupMsg{Tenant: m.tenant, Device: m.device})
	}
	m.list.Clamp(len(m.recs), rows)
	if m.more && !m.loading && m.list.Cursor >= len(m.recs)-1 && len(m.recs) > 0 {
		cmd = tea.Batch(cmd, m.load(true))
	}
	return cmd
}

// diff compares the two marked snapshots, or the selected one with the
// snapshot before it.
func (m *Model) diff() {
	switch len(m.marks) {
	case 0:
	case 2:
		var a, b api.SnapshotRecord
		for _, r := range m.recs {
			if r.SnapshotID == m.marks[0] {
				a = r
			}
			if r.SnapshotID == m.marks[1] {
				b = r
			}
		}
		if b.CollectedAt.Before(a.CollectedAt) {
			a, b = b, a
		}
		m.c.Send(common.OpenDiffMsg{Tenant: m.tenant, Device: m.device, DevName: m.devName, From: a, To: b})
		return
	default:
		m.c.Tasks.Fail("mark exactly two snapshots to compare them (%d marked), or none to compare with the previous one", len(m.marks))
		return
	}
	r, ok := m.current()
	if !ok {
		return
	}
	if r.PreviousHash == "" {
		m.c.Tasks.Fail("this is the first snapshot of %s: nothing before it to compare", common.Clean(m.devName))
		return
	}
	prev := api.SnapshotRecord{SHA256: r.PreviousHash, TenantID: m.tenant, DeviceID: m.device}
	// The previous snapshot is usually the next row; its record gives the
	// diff a date.
	for _, o := range m.recs[m.list.Cursor+1:] {
		if o.SHA256 == r.PreviousHash {
			prev = o
			break
		}
	}
	m.c.Send(common.OpenDiffMsg{Tenant: m.tenant, Device: m.device, DevName: m.devName, From: prev, To: r})
}

// View is the title, the table and the selected snapshot's details.
func (m *Model) View() string {
	st := &m.c.Styles
	w := m.c.Width
	title := st.Title.Render("History") + " · " + st.Bold.Render(common.Clean(m.tenantName)+" / "+common.Clean(m.devName))
	n := fmt.Sprintf("%d", len(m.recs))
	if m.more {
		n += "+"
	}
	title += " · " + n + " snapshots · " + st.OK.Render("live")
	if len(m.marks) > 0 {
		title += " · " + st.Mark.Render(fmt.Sprintf("%d marked", len(m.marks)))
	}
	if m.loading {
		title += " · " + st.Dim.Render(m.c.Spin()+" loading")
	}
	out := []string{common.Fit(title, w)}
	cols := Columns(w)
	out = append(out, RenderHeader(cols, st))
	rows := m.Rows()
	var lines []string
	switch {
	case m.err != nil && len(m.recs) == 0:
		lines = append([]string{st.Bad.Render("Could not load the history.")}, common.WrapText(common.Clean(m.err.Error()), w)...)
		lines = append(lines, st.Dim.Render("r retries · esc goes back"))
	case m.loading && len(m.recs) == 0:
	case len(m.recs) == 0:
		lines = []string{st.Dim.Render("No snapshots yet. b backs the device up now.")}
	default:
		for i := m.list.Offset; i < len(m.recs) && len(lines) < rows; i++ {
			r := m.recs[i]
			lines = append(lines, RenderRow(r, m.c.Now(), m.c.Loc, cols, i == m.list.Cursor, m.marked(r.SnapshotID), m.fresh[r.SnapshotID], st))
		}
	}
	out = append(out, common.RowsOf(lines, rows)...)
	if r, ok := m.current(); ok {
		out = append(out, st.SectionRule("snapshot "+common.Clean(r.SnapshotID), w))
		out = append(out, RenderDetail(r, w, st)...)
	}
	return strings.Join(out, "\n")
}

// ShortHelp is the footer while the history is in front.
func (m *Model) ShortHelp() []key.Binding {
	k := &m.c.Keys
	return []key.Binding{k.View, k.Diff, k.Mark, k.Pin, k.Copy, k.Backup, k.Back, k.Help, k.Quit}
}
