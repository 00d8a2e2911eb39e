package overlay

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Ask is what a confirmation asks for.
type Ask int

// The confirmations.
const (
	AskQuit Ask = iota
	AskBackupAll
	AskForget
	AskReveal
)

// RevealMsg shows the secrets of the viewer in front: the user confirmed.
type RevealMsg struct{ Tenant, Device string }

// RevealQuestion asks before secrets are shown: a screen may be shared or
// recorded, and the reveal is logged under the user's name.
func RevealQuestion(tenant, device, devName string) *Question {
	return &Question{
		Ask:   AskReveal,
		Title: "Reveal secrets of " + common.Clean(devName) + "?",
		Lines: []string{
			"Passwords, keys and PSKs will be shown in clear on this screen.",
			"The reveal is recorded in the log (L); leaving the screen hides them again.",
		},
		Yes:    "reveal",
		Danger: true,
		Tenant: tenant,
		Device: api.Device{ID: device, Name: devName},
	}
}

// Question is a confirmation: its text and, for the reply, what it is
// about.
type Question struct {
	Ask    Ask
	Title  string
	Lines  []string
	Yes    string
	Danger bool
	Tenant string
	Device api.Device
}

// OpenConfirm asks q.
func (m *Model) OpenConfirm(q *Question) {
	m.confirm = q
	m.kind = Confirm
}

// AskingQuit reports whether the quit confirmation is open, so that a
// second ctrl+c quits.
func (m *Model) AskingQuit() bool {
	return m.kind == Confirm && m.confirm != nil && m.confirm.Ask == AskQuit
}

func (m *Model) confirmKey(msg tea.KeyPressMsg) {
	q := m.confirm
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Interrupt) && q.Ask == AskQuit:
		m.c.Send(QuitMsg{})
	case key.Matches(msg, k.Interrupt):
		m.Close()
		m.c.Send(RequestQuitMsg{})
	case key.Matches(msg, k.Yes):
		m.Close()
		switch q.Ask {
		case AskQuit:
			m.c.Send(QuitMsg{})
		case AskBackupAll:
			m.c.Send(BackupAllMsg{Tenant: q.Tenant})
		case AskForget:
			m.c.Send(ForgetMsg{Tenant: q.Tenant, Device: q.Device})
		case AskReveal:
			m.c.Send(RevealMsg{Tenant: q.Tenant, Device: q.Device.ID})
		}
	case key.Matches(msg, k.No):
		m.Close()
	}
}

func (m *Model) confirmView(w int) string {
	st := &m.c.Styles
	q := m.confirm
	inner := min(w-6, 66)
	var lines []string
	lines = append(lines, st.Bold.Render(common.Trunc(q.Title, inner)), "")
	for _, l := range q.Lines {
		lines = append(lines, common.WrapText(l, inner)...)
	}
	yes := st.Key.Render("y") + " " + q.Yes
	if q.Danger {
		yes = st.Bad.Render("y") + " " + q.Yes
	}
	lines = append(lines, "", yes+st.Dim.Render("   ·   ")+st.Key.Render("n/esc")+" cancel")
	box := st.Dialog
	if q.Danger {
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
