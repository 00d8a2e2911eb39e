// Package overlay is what opens over a screen: the full key help, the
// confirmations (quit, back up a whole tenant, forget a host key) and the
// tenant picker. Answers go to the root as messages; the overlay never
// acts on the fleet or the jobs itself.
package overlay

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Kind is which overlay is open.
type Kind int

// The overlays.
const (
	None Kind = iota
	Help
	Confirm
	Picker
	Prompt
)

// Replies the overlays send to the root.
type (
	// QuitMsg quits now: the user confirmed.
	QuitMsg struct{}
	// RequestQuitMsg asks to quit (ctrl+c in an overlay); the root asks
	// first when backups still run.
	RequestQuitMsg struct{}
	// BackupAllMsg backs up every device of Tenant.
	BackupAllMsg struct{ Tenant string }
	// ForgetMsg forgets the recorded host key of Device of Tenant.
	ForgetMsg struct {
		Tenant string
		Device api.Device
	}
	// PickMsg selects the tenant at Index of the list the picker showed.
	PickMsg struct{ Index int }
)

// Model is the overlay in front, if any.
type Model struct {
	c       *common.Common
	kind    Kind
	confirm *Question
	picker  picker
	prompt  prompt
}

// New returns a closed overlay.
func New(c *common.Common) *Model { return &Model{c: c} }

// Kind is the overlay that is open.
func (m *Model) Kind() Kind { return m.kind }

// Active reports whether an overlay has the keyboard.
func (m *Model) Active() bool { return m.kind != None }

// Close closes whatever is open.
func (m *Model) Close() {
	m.kind, m.confirm = None, nil
}

// OpenHelp opens the full key help.
func (m *Model) OpenHelp() { m.kind = Help }

// Update handles a key or a click while an overlay is open.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch m.kind {
		case Confirm:
			m.confirmKey(msg)
		case Help:
			m.Close()
			if key.Matches(msg, m.c.Keys.Interrupt) {
				m.c.Send(RequestQuitMsg{})
			}
		case Picker:
			m.pickerKey(msg)
		case Prompt:
			m.promptKey(msg)
		}
	case tea.PasteMsg:
		if m.kind == Prompt {
			m.promptPaste(msg.Content)
		}
	case common.ClickMsg:
		switch m.kind {
		case Help:
			m.Close()
		case Picker:
			m.pickerClick(msg.Y)
		}
		// A confirmation is answered with the keyboard: a stray click
		// must not confirm.
	}
	return nil
}

// ShortHelp is the footer's key help for the overlay in front.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	switch m.kind {
	case Confirm:
		return []key.Binding{k.Yes, k.No}
	case Help:
		return []key.Binding{common.WithHelp(k.Back, "any key", "closes help")}
	case Picker:
		return []key.Binding{common.WithHelp(k.Yes, "enter", "select"), common.WithHelp(k.Back, "esc", "cancel")}
	case Prompt:
		return []key.Binding{common.WithHelp(k.Accept, "enter", "back up"), common.WithHelp(k.Back, "esc", "cancel")}
	}
	return nil
}

// View draws the overlay over body, the lines of the screen behind it:
// the help replaces it, the dialogs are boxes in its middle.
func (m *Model) View(body []string, w, bh int) []string {
	switch m.kind {
	case Help:
		return m.helpView(w)
	case Confirm:
		return Box(body, w, m.confirmView(w))
	case Picker:
		return Box(body, w, m.pickerView(w, bh))
	case Prompt:
		return Box(body, w, m.promptView(w))
	}
	return body
}

// Box draws box centred over body (lines of w cells).
func Box(body []string, w int, box string) []string {
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
		body[y+i] = ansi.Truncate(row, x, "") + ansi.ResetStyle + common.Fit(l, bw) + ansi.ResetStyle + ansi.TruncateLeft(row, x+bw, "")
	}
	return body
}

// Requests to open an overlay, which components send to the root.
type (
	// AskMsg opens a confirmation.
	AskMsg struct{ Q *Question }
	// PickTenantMsg opens the tenant picker on Tenants, at Current.
	PickTenantMsg struct {
		Tenants []api.Tenant
		Current int
	}
)
