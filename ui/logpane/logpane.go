// Package logpane is the log pane (L): what the tool did on the user's
// behalf this session — backups requested and their results, watches,
// forgotten keys, connection changes. Nothing is ever printed over the
// screen; diagnostics go to the log file that cmd sets up.
package logpane

import (
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Entry is one line of the session log.
type Entry struct {
	At    time.Time
	Level common.LogLevel
	Text  string
}

// maxEntries bounds the session log.
const maxEntries = 1000

// Model is the log pane. It keeps every entry of the session whether it
// is shown or not; the viewport scrolls them.
type Model struct {
	c       *common.Common
	entries []Entry
	vp      viewport.Model
	follow  bool // stick to the newest entry
	dirty   bool // entries or width changed since the viewport was filled
	width   int
}

// New returns an empty log.
func New(c *common.Common) *Model {
	return &Model{c: c, vp: viewport.New(), follow: true}
}

// Add records an entry; callers Clean what came from outside.
func (m *Model) Add(level common.LogLevel, format string, args ...any) {
	m.entries = append(m.entries, Entry{At: m.c.Now(), Level: level, Text: fmt.Sprintf(format, args...)})
	if len(m.entries) > maxEntries {
		m.entries = m.entries[len(m.entries)-maxEntries:]
	}
	m.dirty = true
}

// Entries is the session log, oldest first.
func (m *Model) Entries() []Entry { return m.entries }

// Open is called when the pane comes to the front: it shows the newest.
func (m *Model) Open() { m.follow = true }

// sync fits the viewport to the window and the entries.
func (m *Model) sync() {
	w, rows := m.c.Width, max(m.c.BodyHeight()-1, 1)
	m.vp.SetWidth(w)
	m.vp.SetHeight(rows)
	if m.dirty || w != m.width {
		lines := make([]string, len(m.entries))
		for i, e := range m.entries {
			lines[i] = RenderLine(e, w, m.c.Loc, &m.c.Styles)
		}
		m.vp.SetContentLines(lines)
		m.dirty, m.width = false, w
	}
	if m.follow {
		m.vp.GotoBottom()
	} else {
		m.vp.SetYOffset(m.vp.YOffset()) // clamp after a resize
	}
}

// Update scrolls on keys and the wheel; esc asks the root to close it.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	m.sync()
	k := &m.c.Keys
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
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
		}
	case common.WheelMsg:
		scroll(&m.vp, msg.Delta)
	}
	m.follow = m.vp.AtBottom()
	return nil
}

// scroll moves a viewport by delta lines, up when negative.
func scroll(vp *viewport.Model, delta int) {
	if delta < 0 {
		vp.ScrollUp(-delta)
	} else {
		vp.ScrollDown(delta)
	}
}

// View is the title line and the entries in view.
func (m *Model) View() string {
	m.sync()
	st := &m.c.Styles
	title := common.Fit(st.Title.Render("Log")+st.Dim.Render(fmt.Sprintf(" · %s · what cfgsnap did for you this session", common.Plural(len(m.entries), "entry", "entries"))), m.c.Width)
	if len(m.entries) == 0 {
		return title + "\n" + st.Dim.Render("Nothing yet.")
	}
	return title + "\n" + m.vp.View()
}

// ShortHelp is the footer while the pane is in front.
func (m *Model) ShortHelp() []key.Binding {
	k := &m.c.Keys
	return []key.Binding{k.Down, k.Up, common.WithHelp(k.Back, "esc/L", "close log"), k.Help, k.Quit}
}

// RenderLine is a pure function: one entry as a line of at most w cells.
func RenderLine(e Entry, w int, loc *time.Location, st *common.Styles) string {
	mark := st.Dim.Render("·")
	switch e.Level {
	case common.LogOK:
		mark = st.OK.Render("✓")
	case common.LogWarn:
		mark = st.Warn.Render("!")
	case common.LogError:
		mark = st.Bad.Render("✗")
	}
	return common.Trunc(st.Dim.Render(common.Clock(e.At, loc))+" "+mark+" "+e.Text, w)
}
