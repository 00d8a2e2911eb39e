// Package diffview is the diff screen: two snapshots of a device compared
// line by line with the CLI's diff, secrets masked until the user reveals
// them, the menu in effect as a sticky heading, hunk and section
// navigation, wrap and horizontal scroll.
package diffview

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/overlay"
)

// Model is the diff viewer. pager.Off is the first line shown; cur is the
// current hunk that n/N move.
type Model struct {
	c        *common.Common
	req      int
	loading  bool
	err      error
	tenant   string
	device   string
	devName  string
	from, to api.SnapshotRecord
	diff     Diff
	res      Result
	reveal   bool
	pager    common.Pager
	cur      int
	// pin is the line a hunk or section jump put at the top, kept there
	// even near the end, where the last page would otherwise start
	// earlier and the heading name the menu before; -1 after other moves.
	pin int
}

// LoadedMsg carries both contents (to cache) and the diff, computed off
// the event loop.
type LoadedMsg struct {
	req      int
	From, To api.SnapshotRecord
	Contents map[string][]byte
	diff     Diff
	err      error
}

// Open starts fetching both snapshots (those not in cache) and diffing.
func Open(c *common.Common, cache *common.ContentCache, tenant, device, devName string, from, to api.SnapshotRecord) (*Model, tea.Cmd) {
	m := &Model{c: c, tenant: tenant, device: device, devName: devName, from: from, to: to, loading: true, req: c.NextReq(), pin: -1}
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
		msg.diff = Compute(string(have[from.SHA256]), string(have[to.SHA256]))
		return msg
	}
}

// Loading reports whether the snapshots are still being fetched.
func (m *Model) Loading() bool { return m.loading }

// Shows reports whether this viewer shows device of tenant.
func (m *Model) Shows(tenant, device string) bool { return m.tenant == tenant && m.device == device }

// Revealed reports whether secrets are shown.
func (m *Model) Revealed() bool { return m.reveal }

// Reveal shows the secrets (the user confirmed) and logs who did it; they
// are hidden again when the screen closes, as the model goes with it.
func (m *Model) Reveal() {
	if m.reveal || m.loading || m.err != nil {
		return
	}
	m.reveal = true
	m.res = m.diff.Build(true)
	m.c.Log(common.LogWarn, "secrets revealed for %s/%s by %s (diff)", common.Clean(m.tenant), common.Clean(m.device), common.Clean(m.c.User))
}

func (m *Model) hide() {
	m.reveal = false
	m.res = m.diff.Build(false)
	m.c.Log(common.LogInfo, "secrets hidden again for %s/%s", common.Clean(m.tenant), common.Clean(m.device))
}

func (m *Model) rows() int { return max(m.c.BodyHeight()-3, 1) }

func (m *Model) clamp() {
	gw := Gutter(m.res)
	bw := m.c.Width - PrefixWidth(gw)
	m.pager.Clamp(len(m.res.Lines), m.rows(), bw, func(i int) int {
		if m.res.Lines[i].Kind == '@' {
			return min(ansi.StringWidth(m.res.Lines[i].Text), bw)
		}
		return ansi.StringWidth(m.res.Lines[i].Text)
	})
	maxW := 0
	for _, l := range m.res.Lines {
		if l.Kind != '@' {
			maxW = max(maxW, ansi.StringWidth(l.Text))
		}
	}
	m.pager.ClampX(maxW, bw)
	if m.pin > m.pager.Off && m.pin < len(m.res.Lines) {
		m.pager.Off = m.pin
	}
}

// hunkAt is the index of the hunk shown at the top, -1 before the first.
func (m *Model) hunkAt() int {
	cur := -1
	for i, at := range m.res.Hunks {
		if at <= m.pager.Off {
			cur = i
		}
	}
	return cur
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
		m.from, m.to, m.diff = msg.From, msg.To, msg.diff
		m.res = m.diff.Build(m.reveal)
		if msg.err != nil {
			m.c.Log(common.LogError, "diff of %s/%s: %s", common.Clean(m.tenant), common.Clean(m.device), common.Clean(msg.err.Error()))
		}
	case common.WheelMsg:
		if m.pin >= 0 {
			m.pager.Off, m.pin = m.pin, -1
		}
		m.pager.Off += msg.Delta
		m.clamp()
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return nil
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.c.Keys
	p := &m.pager
	before := p.Off
	pin := m.pin
	m.pin = -1
	switch {
	case key.Matches(msg, k.Back):
		m.c.Send(common.BackMsg{})
		return nil
	case p.Move(msg, k, len(m.res.Lines), m.rows()):
	case key.Matches(msg, k.NextHunk):
		m.pin = pin
		if m.cur+1 < len(m.res.Hunks) {
			m.cur++
			p.Off, m.pin = m.res.Hunks[m.cur], m.res.Hunks[m.cur]
		}
		m.clamp()
		return nil
	case key.Matches(msg, k.PrevHunk):
		m.pin = pin
		if m.cur > 0 {
			m.cur--
			p.Off, m.pin = m.res.Hunks[m.cur], m.res.Hunks[m.cur]
		}
		m.clamp()
		return nil
	case key.Matches(msg, k.NextSection):
		m.pin = pin
		if at, ok := NextSection(m.res.Sections, p.Off); ok {
			p.Off, m.pin = at, at
		}
	case key.Matches(msg, k.PrevSection):
		m.pin = pin
		if at, ok := PrevSection(m.res.Sections, p.Off); ok {
			p.Off, m.pin = at, at
		}
	case key.Matches(msg, k.Wrap), key.Matches(msg, k.ScrollLeft), key.Matches(msg, k.ScrollRight):
		// Sideways moves keep the top line.
		m.pin = pin
		switch {
		case key.Matches(msg, k.Wrap):
			p.Wrap = !p.Wrap
		case key.Matches(msg, k.ScrollLeft):
			p.X -= common.HScrollStep
		case !p.Wrap:
			p.X += common.HScrollStep
		}
	case key.Matches(msg, k.Reveal):
		switch {
		case m.reveal:
			m.hide()
		case !m.loading && m.err == nil && len(m.res.Lines) > 0:
			m.c.Send(overlay.AskMsg{Q: overlay.RevealQuestion(m.tenant, m.device, m.devName)})
		}
		return nil
	}
	m.clamp()
	// Scrolling makes the hunk at the top the current one.
	if p.Off != before {
		m.cur = max(m.hunkAt(), 0)
	}
	return nil
}

// NextSection is the first section start below the top line off.
func NextSection(sections []int, off int) (int, bool) {
	for _, s := range sections {
		if s > off {
			return s, true
		}
	}
	return 0, false
}

// PrevSection is the last section start above the top line off.
func PrevSection(sections []int, off int) (int, bool) {
	for i := len(sections) - 1; i >= 0; i-- {
		if sections[i] < off {
			return sections[i], true
		}
	}
	return 0, false
}

// Result is the diff as shown.
func (m *Model) Result() Result { return m.res }

// Top is the first line shown.
func (m *Model) Top() int { return m.pager.Off }

// Heading is the menu in effect at the top line: the sticky heading.
func (m *Model) Heading() string {
	if m.pager.Off < len(m.res.Lines) {
		return m.res.Lines[m.pager.Off].Menu
	}
	return ""
}

// View is the title, the two sides, the sticky heading and the diff.
func (m *Model) View() string {
	st := &m.c.Styles
	w := m.c.Width
	title := st.Title.Render("Diff") + " · " + st.Bold.Render(common.Clean(m.devName))
	if !m.loading && m.err == nil {
		title += " · " + st.DiffAdd.Render(fmt.Sprintf("+%d", m.res.Adds)) + " " + st.DiffDel.Render(fmt.Sprintf("−%d", m.res.Dels))
		if n := len(m.res.Hunks); n > 0 {
			title += st.Dim.Render(fmt.Sprintf(" · hunk %d/%d", m.cur+1, n))
		}
		title += " · " + secretsLabel(m.reveal, st)
		if m.pager.Wrap {
			title += st.Dim.Render(" · wrap")
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
	m.clamp()
	heading := m.Heading()
	if heading == "" {
		heading = "(top of the export)"
	}
	out := head + common.Fit(st.DiffFile.Render("▸ "+heading), w)
	gw := Gutter(m.res)
	curAt := -1
	if m.cur < len(m.res.Hunks) && len(m.res.Hunks) > 1 {
		curAt = m.res.Hunks[m.cur]
	}
	rows := m.rows()
	n := 0
	for i := m.pager.Off; i < len(m.res.Lines) && n < rows; i++ {
		var lines []string
		if i == curAt {
			lines = []string{st.Selected.Render(common.Trunc(m.res.Lines[i].Text+" ◀", w))}
		} else {
			lines = RenderRows(m.res.Lines[i], gw, w, &m.pager, st)
		}
		for _, l := range lines {
			if n == rows {
				break
			}
			out += "\n" + l
			n++
		}
	}
	return out
}

// secretsLabel says whether secrets are masked; shown ones are flagged
// loudly, so nobody shares the screen by mistake.
func secretsLabel(reveal bool, st *common.Styles) string {
	if reveal {
		return st.Bad.Render("SECRETS SHOWN")
	}
	return st.Dim.Render("secrets hidden")
}

// ShortHelp is the footer while the diff is in front.
func (m *Model) ShortHelp() []key.Binding {
	k := &m.c.Keys
	return []key.Binding{k.NextHunk, k.PrevHunk, k.NextSection, k.Reveal, k.Wrap, k.Back, k.Help, k.Quit, k.Down, k.PageDown, k.ScrollRight}
}
