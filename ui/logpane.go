package ui

import (
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/ui/common"
)

// The log pane (L) lists what the tool did on the user's behalf: backups
// requested and their results, watches, forgotten keys, connection
// changes. Nothing is ever printed over the screen; diagnostics go to the
// log file that cmd sets up.

type logEntry struct {
	at    time.Time
	level common.LogLevel
	text  string
}

type logState struct {
	entries []logEntry
	offset  int
	follow  bool // stick to the newest entry
}

const maxLog = 1000

// addLog records an entry; callers clean() what came from outside.
func (m *Model) addLog(level common.LogLevel, format string, args ...any) {
	l := &m.logv
	l.entries = append(l.entries, logEntry{at: m.c.Now(), level: level, text: fmt.Sprintf(format, args...)})
	if len(l.entries) > maxLog {
		l.entries = l.entries[len(l.entries)-maxLog:]
	}
}

func (m *Model) logRows() int { return max(m.c.BodyHeight()-1, 1) }

func (m *Model) logKey(msg tea.KeyPressMsg) tea.Cmd {
	l := &m.logv
	k := m.c.Keys
	rows := m.logRows()
	maxOff := max(len(l.entries)-rows, 0)
	if l.follow {
		l.offset = maxOff
	}
	switch {
	case key.Matches(msg, k.Back):
		m.pop()
		return nil
	case key.Matches(msg, k.Up):
		l.offset--
	case key.Matches(msg, k.Down):
		l.offset++
	case key.Matches(msg, k.PageUp):
		l.offset -= rows
	case key.Matches(msg, k.PageDown):
		l.offset += rows
	case key.Matches(msg, k.Top):
		l.offset = 0
	case key.Matches(msg, k.Bottom):
		l.offset = maxOff
	}
	l.offset = min(max(l.offset, 0), maxOff)
	l.follow = l.offset == maxOff
	return nil
}

func (m *Model) logView(w, bh int) []string {
	st := &m.c.Styles
	l := &m.logv
	rows := bh - 1
	out := []string{common.Fit(st.Title.Render("Log")+st.Dim.Render(fmt.Sprintf(" · %s · what cfgsnap did for you this session", common.Plural(len(l.entries), "entry", "entries"))), w)}
	if len(l.entries) == 0 {
		return append(out, st.Dim.Render("Nothing yet."))
	}
	off := l.offset
	if l.follow {
		off = max(len(l.entries)-rows, 0)
	}
	for i := off; i < len(l.entries) && len(out) < rows+1; i++ {
		out = append(out, renderLogLine(l.entries[i], m, w))
	}
	return out
}

func renderLogLine(e logEntry, m *Model, w int) string {
	st := &m.c.Styles
	mark := st.Dim.Render("·")
	switch e.level {
	case common.LogOK:
		mark = st.OK.Render("✓")
	case common.LogWarn:
		mark = st.Warn.Render("!")
	case common.LogError:
		mark = st.Bad.Render("✗")
	}
	return common.Trunc(st.Dim.Render(common.Clock(e.at, m.c.Loc))+" "+mark+" "+e.text, w)
}

func (m *Model) logWheel(delta int) {
	l := &m.logv
	maxOff := max(len(l.entries)-m.logRows(), 0)
	if l.follow {
		l.offset = maxOff
	}
	l.offset = min(max(l.offset+delta, 0), maxOff)
	l.follow = l.offset == maxOff
}
