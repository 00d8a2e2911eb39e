package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// statusBar is the top line: mode and where, connection, tenant, device
// count and running jobs. It is always visible.
func (m *Model) statusBar(w int) string {
	st := &m.c.Styles
	bar := st.StatusBar
	sep := bar.Render(" │ ")
	app := st.StatusApp.Render(" cfgsnap ")
	if !m.c.Wide() {
		app = bar.Render(" ") // every cell counts at 80 columns
	}

	var conn string
	switch m.conn {
	case client.ConnConnected:
		conn = st.ConnOK.Render("● connected")
	case client.ConnReconnecting:
		conn = st.ConnWarn.Render("◐ reconnecting")
	case client.ConnDisconnected:
		conn = st.ConnBad.Render("○ disconnected")
	}
	var right []string
	if t := m.currentTenant(); t != "" {
		// Narrow windows show the tenant's ID; its name is in the title
		// of the device list there.
		label := m.tenantName(t)
		if !m.c.Wide() {
			label = t
		}
		right = append(right, bar.Render(common.Clean(label)))
		right = append(right, bar.Render(common.Plural(len(m.fleet.devices), "device", "devices")))
	}
	running, waiting, watching, _ := m.jobs.counts()
	var jobs []string
	if running > 0 {
		jobs = append(jobs, fmt.Sprintf("%d running", running))
	}
	if waiting > 0 {
		jobs = append(jobs, fmt.Sprintf("%d waiting", waiting))
	}
	if watching > 0 {
		jobs = append(jobs, fmt.Sprintf("%d watched", watching))
	}
	if len(jobs) > 0 {
		right = append(right, st.ConnWarn.Render(m.c.Spin()+" "+strings.Join(jobs, ", ")))
	} else {
		right = append(right, bar.Render("no jobs"))
	}
	tail := strings.Join(right, sep) + bar.Render(" ")

	head := app + bar.Render(string(m.c.Mode())+" ")
	after := ""
	if conn != "" {
		after = bar.Render(" ") + conn
	}
	// The location gets the room that is left, cut from the left: the end
	// of a path or URL is the part that tells them apart.
	where := common.Clean(m.c.Where())
	room := w - common.Width(head) - common.Width(after) - common.Width(sep) - common.Width(tail)
	if ww := common.Width(where); ww > room {
		if room > 1 {
			where = ansi.TruncateLeft(where, ww-room+1, "…")
		} else {
			where = ""
		}
	}
	left := head + bar.Render(where) + after
	gap := sep
	if free := w - common.Width(left) - common.Width(tail); free > common.Width(sep) {
		gap = bar.Render(strings.Repeat(" ", free))
	}
	return common.Fit(left+gap+tail, w)
}

// Footer tasks (gh-dash): a line that says what the tool just did or is
// doing, with a spinner while it runs; finished ones clear themselves.

type taskState int

const (
	taskRunning taskState = iota
	taskDone
	taskFailed
)

type task struct {
	id    int
	state taskState
	text  string
	at    time.Time
}

type taskList struct {
	items []task
	next  int
	now   func() time.Time
}

// taskLinger is how long a finished task stays in the footer.
const taskLinger = 6 * time.Second

// Start shows a running task; Finish ends it.
func (t *taskList) Start(text string) int {
	t.next++
	t.items = append(t.items, task{id: t.next, state: taskRunning, text: text, at: t.now()})
	return t.next
}

// Finish ends task id with its outcome.
func (t *taskList) Finish(id int, ok bool, text string) {
	for i := range t.items {
		if t.items[i].id == id {
			t.items[i].state, t.items[i].text, t.items[i].at = taskFailed, text, t.now()
			if ok {
				t.items[i].state = taskDone
			}
			return
		}
	}
}

// Done shows something that just worked.
func (t *taskList) Done(format string, args ...any) {
	t.Finish(t.Start(""), true, fmt.Sprintf(format, args...))
}

// Fail shows something that just failed.
func (t *taskList) Fail(format string, args ...any) {
	t.Finish(t.Start(""), false, fmt.Sprintf(format, args...))
}

func (t *taskList) expire(now time.Time) {
	keep := t.items[:0]
	for _, it := range t.items {
		if it.state == taskRunning || now.Sub(it.at) < taskLinger {
			keep = append(keep, it)
		}
	}
	t.items = keep
}

func (t *taskList) running() int {
	n := 0
	for _, it := range t.items {
		if it.state == taskRunning {
			n++
		}
	}
	return n
}

// latest is the task the footer shows: the newest one.
func (t *taskList) latest() (task, bool) {
	if len(t.items) == 0 {
		return task{}, false
	}
	return t.items[len(t.items)-1], true
}

func (m *Model) taskLine(w int) string {
	st := &m.c.Styles
	t, ok := m.tasks.latest()
	if !ok {
		return ""
	}
	switch t.state {
	case taskRunning:
		return st.Running.Render(m.c.Spin()) + " " + common.Trunc(t.text, w-2)
	case taskDone:
		return st.OK.Render("✓") + " " + common.Trunc(t.text, w-2)
	}
	return st.Bad.Render("✗") + " " + common.Trunc(t.text, w-2)
}

// footer is the short key help of what is in front, with the keys that
// apply to the selected device first.
func (m *Model) footer(w int) string {
	m.help.SetWidth(w)
	return m.help.ShortHelpView(m.shortHelp())
}

func (m *Model) shortHelp() []key.Binding {
	k := m.c.Keys
	switch m.overlay {
	case overlayConfirm:
		return []key.Binding{k.Yes, k.No}
	case overlayHelp:
		return []key.Binding{common.WithHelp(k.Back, "any key", "closes help")}
	case overlayPicker:
		return []key.Binding{common.WithHelp(k.Yes, "enter", "select"), common.WithHelp(k.Back, "esc", "cancel")}
	}
	if m.inputActive() {
		return []key.Binding{common.WithHelp(k.Yes, "enter", "done"), common.WithHelp(k.Back, "esc", "clear")}
	}
	switch m.screen() {
	case screenHistory:
		if m.hist != nil {
			return m.hist.ShortHelp()
		}
	case screenDiff:
		if m.diff != nil {
			return m.diff.ShortHelp()
		}
	case screenSnapshot:
		if m.snap != nil {
			return m.snap.ShortHelp()
		}
	case screenLog:
		return m.logv.ShortHelp()
	}
	if m.focusTenants && m.c.Wide() {
		return []key.Binding{k.Down, k.Up, common.WithHelp(k.Focus, "enter/tab", "devices"), k.Help, k.Quit}
	}
	var b []key.Binding
	if d, ok := m.fleet.current(); ok {
		s := m.deviceState(d)
		if s.kind == stLocked {
			b = append(b, k.Watch)
		}
		if s.kind == stFailed && s.err == api.KindHostKeyMismatch {
			b = append(b, k.Forget)
		}
	}
	// What does not fit is cut from the end: ? and q come early.
	b = append(b, k.Backup, k.BackupMany, k.History, k.Filter, k.Help, k.Quit, k.Mark)
	if !m.c.Wide() {
		b = append(b, common.WithHelp(k.NextTenant, "[ ] t", "tenant"))
	}
	if d, ok := m.fleet.current(); ok && d.LastBackup != nil {
		b = append(b, k.Copy)
	}
	b = append(b, k.Sort)
	if m.c.Wide() {
		b = append(b, k.Focus)
	}
	return append(b, k.Log)
}
