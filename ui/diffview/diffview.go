// Package diffview is the diff screen: two snapshots of a device compared
// line by line, with hunk navigation.
package diffview

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Model is the diff viewer. The viewport holds the rendered diff and owns
// scrolling; cur is the current hunk that n/N move.
type Model struct {
	c        *common.Common
	req      int
	loading  bool
	err      error
	tenant   string
	device   string
	devName  string
	from, to api.SnapshotRecord
	res      Result
	vp       viewport.Model
	cur      int
	// what the viewport's lines were rendered for
	drawnW, drawnCur int
}

// LoadedMsg carries both contents (to cache) and the diff, computed off
// the event loop.
type LoadedMsg struct {
	req      int
	From, To api.SnapshotRecord
	Contents map[string][]byte
	res      Result
	err      error
}

// Open starts fetching both snapshots (those not in cache) and diffing.
func Open(c *common.Common, cache *common.ContentCache, tenant, device, devName string, from, to api.SnapshotRecord) (*Model, tea.Cmd) {
	m := &Model{c: c, tenant: tenant, device: device, devName: devName, from: from, to: to, loading: true, req: c.NextReq(), vp: viewport.New(), drawnW: -1}
	req, cl, ctx := m.req, c.Client, c.Ctx
	have := map[string][]byte{}
	for _, h := range []string{from.SHA256, to.SHA256} {
		if b, ok := cache.Get(h); ok {
			have[h] = b
		}
	}
	return m, func() tea.Msg {
		msg := LoadedMsg{req: req, From: from, To: to, Contents: have}
		for _, rec := range []*api.SnapshotRecord{&msg.From, &msg.To} {
			if _, ok := have[rec.SHA256]; ok {
				continue
			}
			got, content, err := common.FetchSnapshot(ctx, cl, tenant, device, rec.SHA256)
			if err != nil {
				msg.err = err
				return msg
			}
			if rec.CollectedAt.IsZero() {
				*rec = got
			}
			have[rec.SHA256] = content
		}
		// Diffing is done here, off the event loop: a large export must
		// not freeze typing.
		msg.res, msg.err = Compute(string(have[from.SHA256]), string(have[to.SHA256]))
		return msg
	}
}

// Loading reports whether the snapshots are still being fetched.
func (m *Model) Loading() bool { return m.loading }

// hunkAt is the index of the hunk shown at the top, -1 before the first.
func (m *Model) hunkAt() int {
	cur := -1
	for i, at := range m.res.Hunks {
		if at <= m.vp.YOffset() {
			cur = i
		}
	}
	return cur
}

// sync fits the viewport to the window and renders the lines when the
// width or the current hunk changed.
func (m *Model) sync() {
	w := m.c.Width
	m.vp.SetWidth(w)
	m.vp.SetHeight(max(m.c.BodyHeight()-2, 1))
	if w != m.drawnW || m.cur != m.drawnCur {
		st := &m.c.Styles
		gw := Gutter(m.res)
		curAt := -1
		if m.cur < len(m.res.Hunks) && len(m.res.Hunks) > 1 {
			curAt = m.res.Hunks[m.cur]
		}
		lines := make([]string, len(m.res.Lines))
		for i, l := range m.res.Lines {
			if i == curAt {
				lines[i] = st.Selected.Render(common.Trunc(l.Text+" ◀", w))
			} else {
				lines[i] = RenderLine(l, gw, w, st)
			}
		}
		off := m.vp.YOffset()
		m.vp.SetContentLines(lines)
		m.vp.SetYOffset(off)
		m.drawnW, m.drawnCur = w, m.cur
	}
	m.vp.SetYOffset(m.vp.YOffset()) // clamp after a resize
}

// Update handles the diff's arrival, keys and the wheel.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case LoadedMsg:
		if msg.req != m.req {
			return nil
		}
		m.loading = false
		m.err = msg.err
		m.from, m.to, m.res = msg.From, msg.To, msg.res
		m.drawnW = -1
		if msg.err != nil {
			m.c.Log(common.LogError, "diff of %s/%s: %s", common.Clean(m.tenant), common.Clean(m.device), common.Clean(msg.err.Error()))
		}
	case common.WheelMsg:
		m.sync()
		if msg.Delta < 0 {
			m.vp.ScrollUp(-msg.Delta)
		} else {
			m.vp.ScrollDown(msg.Delta)
		}
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return nil
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	m.sync()
	k := &m.c.Keys
	before := m.vp.YOffset()
	switch {
	case key.Matches(msg, k.Back):
		m.c.Send(common.BackMsg{})
		return nil
	case key.Matches(msg, k.Up):
		m.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		m.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		m.vp.PageUp()
	case key.Matches(msg, k.PageDown):
		m.vp.PageDown()
	case key.Matches(msg, k.Top):
		m.vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		m.vp.GotoBottom()
	case key.Matches(msg, k.NextHunk):
		if m.cur+1 < len(m.res.Hunks) {
			m.cur++
			m.vp.SetYOffset(m.res.Hunks[m.cur])
		}
		return nil
	case key.Matches(msg, k.PrevHunk):
		if m.cur > 0 {
			m.cur--
			m.vp.SetYOffset(m.res.Hunks[m.cur])
		}
		return nil
	}
	// Scrolling by line or page makes the hunk at the top the current one.
	if m.vp.YOffset() != before {
		m.cur = max(m.hunkAt(), 0)
	}
	return nil
}

// View is the title, the two sides and the diff in view.
func (m *Model) View() string {
	st := &m.c.Styles
	w := m.c.Width
	title := st.Title.Render("Diff") + " · " + st.Bold.Render(common.Clean(m.devName))
	if !m.loading && m.err == nil {
		title += " · " + st.DiffAdd.Render(fmt.Sprintf("+%d", m.res.Adds)) + " " + st.DiffDel.Render(fmt.Sprintf("−%d", m.res.Dels))
		if n := len(m.res.Hunks); n > 0 {
			title += st.Dim.Render(fmt.Sprintf(" · hunk %d/%d", m.cur+1, n))
		}
	}
	side := func(r api.SnapshotRecord) string {
		s := st.Hash.Render(common.ShortHash(common.Clean(r.SHA256)))
		if !r.CollectedAt.IsZero() {
			s += " " + common.Stamp(r.CollectedAt, m.c.Loc)
		}
		return s
	}
	head := common.Fit(title, w) + "\n" + common.Fit(st.DiffDel.Render("−")+" "+side(m.from)+st.Dim.Render("  →  ")+st.DiffAdd.Render("+")+" "+side(m.to), w) + "\n"
	switch {
	case m.loading:
		return head + st.Dim.Render(m.c.Spin()+" fetching both snapshots…")
	case m.err != nil:
		body := st.Bad.Render("Could not build the diff.")
		for _, l := range common.WrapText(common.Clean(m.err.Error()), w) {
			body += "\n" + l
		}
		return head + body
	case len(m.res.Lines) == 0:
		return head + st.OK.Render("No differences: both snapshots have the same configuration ("+common.ShortHash(common.Clean(m.to.SHA256))+").")
	}
	m.sync()
	return head + m.vp.View()
}

// ShortHelp is the footer while the diff is in front.
func (m *Model) ShortHelp() []key.Binding {
	k := &m.c.Keys
	return []key.Binding{k.NextHunk, k.PrevHunk, k.Down, k.PageDown, k.Back, k.Help, k.Quit}
}
