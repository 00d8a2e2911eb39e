package overlay

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// MaxReason bounds a backup reason as typed: a change ticket and a few
// words, not an essay in the snapshot's metadata.
const MaxReason = 200

// ReasonMsg backs up Devices of Tenant with Reason (possibly empty): the
// user answered the reason prompt.
type ReasonMsg struct {
	Tenant  string
	Devices []api.Device
	Reason  string
}

// AskReasonMsg opens the reason prompt for a backup of Devices of
// Tenant, pre-filled with Last, the reason given before in this session.
type AskReasonMsg struct {
	Tenant  string
	Devices []api.Device
	Last    string
}

// prompt is the reason prompt of a backup.
type prompt struct {
	ask   AskReasonMsg
	input common.LineInput
}

// OpenReason opens the reason prompt.
func (m *Model) OpenReason(a AskReasonMsg) {
	if len(a.Devices) == 0 {
		return
	}
	m.kind = Prompt
	m.prompt = prompt{ask: a}
	m.prompt.input.Set(a.Last)
}

func (m *Model) promptKey(msg tea.KeyPressMsg) {
	p := &m.prompt
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Interrupt):
		m.Close()
		m.c.Send(RequestQuitMsg{})
	case key.Matches(msg, k.Back):
		m.Close()
	case key.Matches(msg, k.Accept):
		m.Close()
		m.c.Send(ReasonMsg{Tenant: p.ask.Tenant, Devices: p.ask.Devices, Reason: strings.TrimSpace(p.input.String())})
	default:
		p.input.Edit(msg, k)
		if r := []rune(p.input.String()); len(r) > MaxReason {
			p.input.Set(string(r[:MaxReason]))
		}
	}
}

func (m *Model) promptPaste(s string) {
	m.prompt.input.Paste(s)
	if r := []rune(m.prompt.input.String()); len(r) > MaxReason {
		m.prompt.input.Set(string(r[:MaxReason]))
	}
}

func (m *Model) promptView(w int) string {
	st := &m.c.Styles
	p := &m.prompt
	inner := min(w-6, 66)
	what := common.Clean(p.ask.Devices[0].Name)
	if what == "" {
		what = common.Clean(p.ask.Devices[0].ID)
	}
	if n := len(p.ask.Devices); n > 1 {
		what = common.Plural(n, "device", "devices")
	}
	lines := []string{
		st.Bold.Render(common.Trunc("Back up "+what+" with a reason", inner)), "",
		common.Trunc("Reason (a change ticket, e.g. CHG-1042 pre-change):", inner),
	}
	// The end of a long reason is what is being typed: show that.
	val := common.Clean(p.input.String())
	if common.Width(val) > inner-3 {
		val = "…" + string([]rune(val)[len([]rune(val))-(inner-4):])
	}
	lines = append(lines, st.Key.Render("> ")+st.Input.Render(val)+"█", "",
		st.Dim.Render(common.Trunc("Kept for this session; empty backs up without one.", inner)), "",
		st.Key.Render("enter")+" back up"+st.Dim.Render("   ·   ")+st.Key.Render("esc")+" cancel")
	return st.Dialog.Render(strings.Join(padLines(lines), "\n"))
}
