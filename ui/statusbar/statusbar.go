// Package statusbar is the frame around every screen: the status bar on
// top (mode, connection, tenant, jobs), and the two footer lines under
// it, the task line (what the tool just did or is doing) and the short
// key help of what is in front.
package statusbar

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Info is what the status bar shows besides the mode and location.
type Info struct {
	Conn client.ConnState
	// Tenant is the current tenant's ID ("" for none), TenantName its
	// name and Devices how many devices it has.
	Tenant, TenantName         string
	Devices                    int
	Running, Waiting, Watching int
	// Triage is the devices per failure kind and stale
	// ("2 auth_failed · 1 timeout · 3 stale"), shown by the triage view.
	Triage string
}

// Model is the status bar, the footer task list and the short help.
type Model struct {
	c     *common.Common
	help  help.Model
	Tasks *Tasks

	footerKey, footer string // the last Footer and what it was made of
}

// New returns the status bar; its task list is c's Notifier.
func New(c *common.Common) *Model {
	return &Model{c: c, help: help.New(), Tasks: newTasks(c.Now)}
}

// SetStyles applies the styles of c after a change of palette.
func (m *Model) SetStyles() { m.help.Styles = m.c.Styles.HelpStyles() }

// Bar is the top line: mode and where, connection, tenant, device count
// and running jobs. It is always visible.
func (m *Model) Bar(in Info, w int) string {
	st := &m.c.Styles
	bar := st.StatusBar
	sep := bar.Render(" │ ")
	app := st.StatusApp.Render(" cfgsnap ")
	if !m.c.Wide() {
		app = bar.Render(" ") // every cell counts at 80 columns
	}

	var conn string
	switch in.Conn {
	case client.ConnConnected:
		conn = st.ConnOK.Render("● connected")
	case client.ConnReconnecting:
		conn = st.ConnWarn.Render("◐ reconnecting")
	case client.ConnDisconnected:
		conn = st.ConnBad.Render("○ disconnected")
	}
	var right []string
	if in.Tenant != "" {
		// Narrow windows show the tenant's ID; its name is in the title
		// of the device list there.
		label := in.TenantName
		if !m.c.Wide() {
			label = in.Tenant
		}
		right = append(right, bar.Render(common.Clean(label)))
		if in.Triage == "" || m.c.Wide() {
			right = append(right, bar.Render(common.Plural(in.Devices, "device", "devices")))
		}
	}
	if in.Triage != "" {
		right = append(right, st.ConnWarn.Render(common.Clean(in.Triage)))
	}
	var jobs []string
	if in.Running > 0 {
		jobs = append(jobs, fmt.Sprintf("%d running", in.Running))
	}
	if in.Waiting > 0 {
		jobs = append(jobs, fmt.Sprintf("%d waiting", in.Waiting))
	}
	if in.Watching > 0 {
		jobs = append(jobs, fmt.Sprintf("%d watched", in.Watching))
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

// TaskLine is the footer's task line: the newest task.
func (m *Model) TaskLine(w int) string {
	st := &m.c.Styles
	t, ok := m.Tasks.latest()
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

// Footer is the short key help of what is in front; what does not fit is
// cut from the end.
func (m *Model) Footer(keys []key.Binding, w int) string {
	// The help is the same from keystroke to keystroke on a screen, and
	// styling it was a twentieth of a frame's CPU: keep the last one.
	var b strings.Builder
	fmt.Fprintf(&b, "%d\x00%d", w, m.c.Styles.ID())
	for _, k := range keys {
		if k.Enabled() {
			h := k.Help()
			b.WriteString("\x00" + h.Key + "\x00" + h.Desc)
		}
	}
	if b.String() == m.footerKey {
		return m.footer
	}
	m.help.SetWidth(w)
	m.footerKey, m.footer = b.String(), m.help.ShortHelpView(keys)
	return m.footer
}

// InputHelp is the short help while a one-line input has the keyboard.
func InputHelp(k *common.KeyMap) []key.Binding {
	return []key.Binding{common.WithHelp(k.Yes, "enter", "done"), common.WithHelp(k.Back, "esc", "clear")}
}
