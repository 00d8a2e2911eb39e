// Package search is the fleet search screen: a regular expression matched
// against the latest configuration of every device the client may see,
// as the user types, with the matching lines listed grep-style and the
// snapshot opened at a line with enter. Secret values are masked and never
// matched: the screen never asks the backend for secrets.
package search

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Debounce is how long typing must pause before a search is sent: a fast
// typist then costs one request per pause, not one per key.
const Debounce = 150 * time.Millisecond

// Max bounds the matches asked for: more than a screen can usefully list,
// few enough that a one-letter pattern over 10,000 devices stays a small
// reply. The title says when more exist.
const Max = 500

// Model is the search screen. Only the reply to the latest request is
// applied (req), and starting a request cancels the one before: a slow
// reply to "ad" must never overwrite the results of "address".
type Model struct {
	c          *common.Common
	fleet      client.Fleet
	fleetErr   error
	input      common.LineInput
	editing    bool
	ignoreCase bool
	debounce   time.Duration

	gen     int // debounce generation: the latest edit
	req     int // the latest request sent
	cancel  context.CancelFunc
	loading bool

	// What is shown: the results of pattern (with shownIC), the regexp
	// that highlights them, or the error of that request.
	shown   string
	shownIC bool
	re      *regexp.Regexp
	reply   api.SearchReply
	devices int // devices with a match
	err     error
	cols    Cols
	colsW   int // the width cols were sized for; -1 after new results
	list    common.ListWindow
}

// DebounceMsg is the end of a pause in typing.
type DebounceMsg struct{ gen int }

// ResultMsg is a search reply.
type ResultMsg struct {
	req     int
	pattern string
	ic      bool
	reply   api.SearchReply
	err     error
}

// Open shows the search screen with pattern (the one of the last search
// of the session, or "") and runs it at once. debounce 0 is Debounce.
func Open(c *common.Common, pattern string, ignoreCase bool, debounce time.Duration) (*Model, tea.Cmd) {
	if debounce <= 0 {
		debounce = Debounce
	}
	m := &Model{c: c, editing: true, ignoreCase: ignoreCase, debounce: debounce, colsW: -1}
	m.fleet, m.fleetErr = client.AsFleet(c.Client)
	m.input.Set(pattern)
	if pattern == "" {
		return m, nil
	}
	return m, m.start()
}

// Editing reports whether the pattern line has the keyboard.
func (m *Model) Editing() bool { return m.editing }

// Loading reports whether a search is on its way.
func (m *Model) Loading() bool { return m.loading }

// Pattern is the pattern being typed and whether case is ignored, for the
// next time the screen opens.
func (m *Model) Pattern() (string, bool) { return m.input.String(), m.ignoreCase }

// Matches are the matches shown.
func (m *Model) Matches() []api.SearchMatch { return m.reply.Matches }

// Close cancels the search in flight.
func (m *Model) Close() {
	if m.cancel != nil {
		m.cancel()
	}
}

// rows is the height of the result list: title, pattern and header above.
func (m *Model) rows() int { return max(m.c.BodyHeight()-3, 1) }

// edited schedules a search for the new pattern after the pause.
func (m *Model) edited() tea.Cmd {
	m.gen++
	if strings.TrimSpace(m.input.String()) == "" {
		m.Close()
		m.req = m.c.NextReq() // whatever is in flight is stale now
		m.loading = false
		m.shown, m.reply, m.err, m.re, m.devices = "", api.SearchReply{}, nil, nil, 0
		return nil
	}
	gen := m.gen
	return tea.Tick(m.debounce, func(time.Time) tea.Msg { return DebounceMsg{gen: gen} })
}

// start sends the search of the current pattern, cancelling the previous.
func (m *Model) start() tea.Cmd {
	m.Close()
	pattern, ic := m.input.String(), m.ignoreCase
	if strings.TrimSpace(pattern) == "" {
		return nil
	}
	m.req = m.c.NextReq()
	if m.fleet == nil {
		m.apply(ResultMsg{req: m.req, pattern: pattern, ic: ic, err: m.fleetErr})
		return nil
	}
	ctx, cancel := context.WithTimeout(m.c.Ctx, common.RequestTimeout)
	m.cancel = cancel
	m.loading = true
	req, fl := m.req, m.fleet
	return func() tea.Msg {
		defer cancel()
		rep, err := fl.Search(ctx, api.SearchRequest{Pattern: pattern, IgnoreCase: ic, Max: Max})
		return ResultMsg{req: req, pattern: pattern, ic: ic, reply: rep, err: err}
	}
}

func (m *Model) apply(msg ResultMsg) {
	if msg.req != m.req {
		return // an older request's reply, possibly out of order
	}
	m.loading = false
	m.cancel = nil
	m.shown, m.shownIC, m.err = msg.pattern, msg.ic, msg.err
	m.reply, m.re, m.devices = api.SearchReply{}, nil, 0
	m.list = common.ListWindow{}
	if msg.err != nil {
		if !errors.Is(msg.err, context.Canceled) {
			m.c.Log(common.LogWarn, "search %q: %s", common.Clean(msg.pattern), common.Clean(msg.err.Error()))
		}
		return
	}
	m.reply = msg.reply
	// The backend matched with the same RE2 syntax; compiling it here
	// again only highlights the visible matches.
	expr := msg.pattern
	if msg.ic {
		expr = "(?i)" + expr
	}
	m.re, _ = regexp.Compile(expr)
	last := ""
	for _, mt := range m.reply.Matches {
		if d := mt.TenantID + "/" + mt.DeviceID; d != last {
			m.devices++
			last = d
		}
	}
	m.colsW = -1
}

// Update handles the debounce, replies, keys, paste, clicks and wheel.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case DebounceMsg:
		if msg.gen == m.gen {
			return m.start()
		}
	case ResultMsg:
		m.apply(msg)
	case tea.PasteMsg:
		if m.editing {
			m.input.Paste(msg.Content)
			return m.edited()
		}
	case tea.KeyPressMsg:
		if m.editing {
			return m.editKey(msg)
		}
		return m.key(msg)
	case common.WheelMsg:
		m.list.Scroll(msg.Delta, len(m.reply.Matches), m.rows())
	case common.ClickMsg:
		if i := m.list.Offset + msg.Y - 3; msg.Y >= 3 && i < len(m.reply.Matches) {
			m.list.Cursor = i
		}
	}
	return nil
}

// editKey: letters are the pattern; arrows move in the results, enter
// opens the selected one, tab goes to the list, esc goes back.
func (m *Model) editKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Back):
		m.c.Send(common.BackMsg{})
		return nil
	case key.Matches(msg, k.Accept):
		m.open()
		return nil
	case key.Matches(msg, k.Focus):
		m.editing = false
		return nil
	case key.Matches(msg, k.IgnoreCase):
		m.ignoreCase = !m.ignoreCase
		return m.start()
	case m.list.MoveTyping(msg, k, len(m.reply.Matches), m.rows()):
		return nil
	}
	if changed, _ := m.input.Edit(msg, k); changed {
		return m.edited()
	}
	return nil
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Back):
		m.c.Send(common.BackMsg{})
	case key.Matches(msg, k.Search), key.Matches(msg, k.Focus):
		m.editing = true
	case key.Matches(msg, k.View):
		m.open()
	case key.Matches(msg, k.IgnoreCase):
		m.ignoreCase = !m.ignoreCase
		return m.start()
	case key.Matches(msg, k.Refresh):
		return m.start()
	default:
		m.list.Move(msg, k, len(m.reply.Matches), m.rows())
	}
	return nil
}

// open shows the selected match's snapshot at its line.
func (m *Model) open() {
	ms := m.reply.Matches
	if m.list.Cursor < 0 || m.list.Cursor >= len(ms) {
		return
	}
	mt := ms[m.list.Cursor]
	m.editing = false // coming back, j/k move and / edits again
	m.c.Send(common.OpenSnapshotMsg{Tenant: mt.TenantID, Device: mt.DeviceID, DevName: mt.DeviceID,
		Rec: api.SnapshotRecord{TenantID: mt.TenantID, DeviceID: mt.DeviceID, SHA256: mt.SHA256}, Line: mt.Line})
}

// View is the title, the pattern line, the header and the matches.
func (m *Model) View() string {
	st := &m.c.Styles
	w := m.c.Width
	if m.colsW != w {
		m.cols, m.colsW = Columns(w, m.reply.Matches), w
	}
	title := st.Title.Render("Fleet search")
	switch {
	case m.err != nil || m.shown == "":
		title += " · " + st.Dim.Render("latest configuration of every device")
	case len(m.reply.Matches) == 0:
		title += " · no match in " + common.Plural(m.reply.Devices, "device", "devices")
	default:
		n := common.Plural(len(m.reply.Matches), "match", "matches")
		if m.reply.More {
			n = fmt.Sprintf("first %d matches", len(m.reply.Matches))
		}
		title += " · " + n + " in " + fmt.Sprintf("%d of %s", m.devices, common.Plural(m.reply.Devices, "device", "devices"))
	}
	if m.loading {
		title += " · " + st.Dim.Render(m.c.Spin()+" searching")
	}
	caseNote := "case-sensitive"
	if m.ignoreCase {
		caseNote = "ignoring case"
	}
	var status string
	if m.editing {
		status = st.Key.Render("/") + st.Input.Render(common.Clean(m.input.String())) + "█" + st.Dim.Render(" · "+caseNote+" (ctrl+t) · secrets masked")
	} else {
		status = st.Dim.Render("pattern ") + st.Input.Render(common.Clean(m.input.String())) + st.Dim.Render(" · "+caseNote+" (ctrl+t) · / edits · enter opens")
	}
	out := []string{common.Fit(title, w), common.Fit(status, w), RenderHeader(m.cols, st)}
	rows := m.rows()
	var lines []string
	switch {
	case m.err != nil:
		lines = append([]string{st.Bad.Render("The search failed.")}, common.WrapText(common.Clean(m.err.Error()), w)...)
		if api.KindOf(m.err) == api.KindBadRequest {
			lines = append(lines, st.Dim.Render("The pattern is a regular expression (RE2): escape . [ ( * + ? with \\ to match them."))
		}
	case m.shown == "" && !m.loading:
		for _, l := range common.WrapText("Type a regular expression (RE2) to search the latest configuration of every device. "+
			"Secret values are masked and never matched. enter opens the snapshot at the line.", w) {
			lines = append(lines, st.Dim.Render(l))
		}
	case m.shown != "" && m.reply.Devices == 0:
		lines = append(lines, st.Dim.Render("No device has a snapshot to search yet."))
	case m.shown != "" && len(m.reply.Matches) == 0:
		lines = append(lines, st.Dim.Render(fmt.Sprintf("No line matches %s in the latest configuration of %s.", common.Clean(m.shown), common.Plural(m.reply.Devices, "device", "devices"))))
	default:
		m.list.Clamp(len(m.reply.Matches), rows)
		for i := m.list.Offset; i < len(m.reply.Matches) && len(lines) < rows; i++ {
			lines = append(lines, RenderRow(m.reply.Matches[i], m.re, m.cols, i == m.list.Cursor, st))
		}
		if m.reply.More && len(lines) < rows && m.list.Offset+len(lines) == len(m.reply.Matches) {
			lines = append(lines, st.Warn.Render(fmt.Sprintf("… more than %d matches: narrow the pattern", len(m.reply.Matches))))
		}
	}
	out = append(out, common.RowsOf(lines, rows)...)
	return strings.Join(out, "\n")
}

// Cols are the widths of the result columns: where (TENANT/DEVICE:LINE),
// the menu and the text.
type Cols struct{ loc, menu, text int }

// Columns sizes the columns to the matches, within bounds that leave the
// text most of the width.
func Columns(w int, ms []api.SearchMatch) Cols {
	loc, menu := len("LOCATION"), len("MENU")
	for _, mt := range ms {
		loc = max(loc, common.Width(Location(mt)))
		menu = max(menu, common.Width(common.Clean(mt.Menu)))
	}
	c := Cols{loc: min(loc, max(w*2/5, 12)), menu: min(menu, min(max(w/5, 12), 30))}
	c.text = w - 2 - c.loc - 2 - c.menu - 2
	if c.text < 20 { // narrow: the menu goes first
		c.text += c.menu + 2
		c.menu = 0
	}
	c.text = max(c.text, 1)
	return c
}

// Location is TENANT/DEVICE:LINE, as the CLI prints it.
func Location(mt api.SearchMatch) string {
	return common.Clean(mt.TenantID) + "/" + common.Clean(mt.DeviceID) + fmt.Sprintf(":%d", mt.Line)
}

// RenderHeader is the column header.
func RenderHeader(c Cols, st *common.Styles) string {
	h := "  " + common.Fit("LOCATION", c.loc) + "  "
	if c.menu > 0 {
		h += common.Fit("MENU", c.menu) + "  "
	}
	return st.Header.Render(h + "TEXT")
}

// RenderRow is a pure function: one match as a row, its matched parts
// highlighted by re (nil: none), the text shifted left when the first
// match would be cut off at the right.
func RenderRow(mt api.SearchMatch, re *regexp.Regexp, c Cols, cursor bool, st *common.Styles) string {
	sel := func(s lipgloss.Style) lipgloss.Style { return st.Sel(s, cursor, true) }
	base := lipgloss.NewStyle()
	lead := "  "
	if cursor {
		lead = "▸ "
	}
	sp := sel(base).Render("  ")
	var b strings.Builder
	b.WriteString(sel(base).Render(lead))
	b.WriteString(sel(st.Hash).Render(common.Fit(Location(mt), c.loc)))
	b.WriteString(sp)
	if c.menu > 0 {
		b.WriteString(sel(st.Dim).Render(common.Fit(common.Clean(mt.Menu), c.menu)))
		b.WriteString(sp)
	}
	b.WriteString(sel(base).Render(Highlight(common.CleanLine(mt.Text), re, c.text, st)))
	return b.String()
}

// Highlight fits text into w cells with re's matches styled; when the
// first match ends beyond w, the text starts further right (marked by …)
// so that the match is seen.
func Highlight(text string, re *regexp.Regexp, w int, st *common.Styles) string {
	if w <= 0 {
		return ""
	}
	var idx [][]int
	if re != nil {
		idx = re.FindAllStringIndex(text, -1)
	}
	var b strings.Builder
	at := 0
	for _, ix := range idx {
		if ix[1] == ix[0] || ix[0] < at {
			continue // empty matches (^, a*) highlight nothing
		}
		b.WriteString(text[at:ix[0]])
		b.WriteString(st.Match.Render(text[ix[0]:ix[1]]))
		at = ix[1]
	}
	b.WriteString(text[at:])
	styled := b.String()
	if len(idx) > 0 {
		first := idx[0]
		start, end := common.Width(text[:first[0]]), common.Width(text[:first[1]])
		// A text cut at w ends in "…", which takes the last cell.
		if common.Width(text) > w && end > w-1 && w > 4 {
			left := max(start-w/3, 1)
			styled = "…" + ansi.Cut(styled, left, left+w-1)
		}
	}
	return common.Fit(styled, w)
}

// ShortHelp is the footer while the search is in front.
func (m *Model) ShortHelp() []key.Binding {
	k := &m.c.Keys
	if m.editing {
		return []key.Binding{common.WithHelp(k.Accept, "enter", "open"), common.WithHelp(k.InputDown, "↑↓", "move"),
			k.IgnoreCase, common.WithHelp(k.Focus, "tab", "list"), k.Back, k.Interrupt}
	}
	return []key.Binding{common.WithHelp(k.View, "enter", "open snapshot"), k.Search, k.IgnoreCase, k.Refresh, k.Back, k.Help, k.Quit}
}
