// Package snapview is the snapshot screen: one stored configuration with
// line numbers and an incremental search, its secrets masked until the
// user reveals them, long lines wrapped or scrolled sideways.
package snapview

import (
	"fmt"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/overlay"
)

// Model is the snapshot viewer. The pager holds the position; the lines
// in view are drawn by RenderLine because search matches change with
// every keystroke and only the visible ones need drawing.
type Model struct {
	c         *common.Common
	req       int
	loading   bool
	err       error
	tenant    string
	device    string
	devName   string
	rec       api.SnapshotRecord
	raw       []string // as stored, for a reveal
	lines     []string // shown: masked unless revealed, cleaned, safe to print
	reveal    bool
	pager     common.Pager
	maxW      int // cells of the widest line, for the horizontal scroll
	search    common.LineInput
	searching bool
	query     string
	matches   []Match
	cur       int // index into matches, -1 for none
	// at is the line (1-based) the viewer was opened at, from a fleet
	// search: shown a third from the top with its number marked; 0 none.
	at int
}

// Match is one search hit: byte offsets into a line.
type Match struct{ Line, Start, End int }

// LoadedMsg carries the snapshot's content.
type LoadedMsg struct {
	req     int
	Rec     api.SnapshotRecord
	Content []byte
	Err     error
}

// Open shows rec, from the cache at once or fetched.
func Open(c *common.Common, cache *common.ContentCache, tenant, device, devName string, rec api.SnapshotRecord) (*Model, tea.Cmd) {
	m := &Model{c: c, tenant: tenant, device: device, devName: devName, rec: rec, loading: true, req: c.NextReq(), cur: -1}
	// A record with only a hash (from search or the changes) is fetched
	// even when the content is cached: the title needs its date and size.
	if b, ok := cache.Get(rec.SHA256); ok && !rec.CollectedAt.IsZero() {
		m.Update(LoadedMsg{req: m.req, Rec: rec, Content: b})
		return m, nil
	}
	req, cl, ctx := m.req, c.Client, c.Ctx
	return m, func() tea.Msg {
		got, content, err := common.FetchSnapshot(ctx, cl, tenant, device, rec.SHA256)
		if err == nil && !rec.CollectedAt.IsZero() {
			got = rec // keep the row the user picked: content is per hash
		}
		return LoadedMsg{req: req, Rec: got, Content: content, Err: err}
	}
}

// GoTo shows line (1-based) a third from the top and marks its number,
// now or once the content is there.
func (m *Model) GoTo(line int) {
	m.at = line
	if !m.loading && m.err == nil {
		m.showAt()
	}
}

func (m *Model) showAt() {
	if m.at <= 0 {
		return
	}
	m.pager.Off = m.at - 1 - m.rows()/3
	m.sync()
}

// At is the line the viewer was opened at (0 for none) and the first
// line shown.
func (m *Model) At() (at, top int) { return m.at, m.pager.Off + 1 }

// Loading reports whether the content is still being fetched.
func (m *Model) Loading() bool { return m.loading }

// Searching reports whether the search line has the keyboard.
func (m *Model) Searching() bool { return m.searching }

func (m *Model) rows() int { return max(m.c.BodyHeight()-2, 1) }

func (m *Model) gutter() int {
	g := len(fmt.Sprint(len(m.lines)))
	if m.at > 0 {
		g++ // room for the target line's ▸
	}
	return max(g, 3)
}

// sync clamps the position after a resize, a scroll or a wrap toggle.
func (m *Model) sync() {
	bw := m.c.Width - m.gutter() - 1
	m.pager.Clamp(len(m.lines), m.rows(), bw, func(i int) int { return ansi.StringWidth(m.lines[i]) })
	m.pager.ClampX(m.maxW, bw)
}

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
	m.setReveal(true)
	m.c.Log(common.LogWarn, "secrets revealed for %s/%s by %s (snapshot %s)", common.Clean(m.tenant), common.Clean(m.device), common.Clean(m.c.User), common.ShortHash(common.Clean(m.rec.SHA256)))
}

// setReveal rebuilds the shown lines; the search is run again on them, so
// that a match never points into a masked value.
func (m *Model) setReveal(on bool) {
	m.reveal = on
	src := m.raw
	if !on {
		src = redact.Lines(m.raw)
	}
	m.lines = make([]string, len(src))
	m.maxW = 0
	for i, l := range src {
		m.lines[i] = common.CleanLine(l)
		m.maxW = max(m.maxW, ansi.StringWidth(m.lines[i]))
	}
	if m.query != "" {
		cur := m.cur
		m.find(m.query)
		if cur >= 0 && len(m.matches) > 0 {
			m.cur = min(cur, len(m.matches)-1)
		}
	}
}

func (m *Model) load(msg LoadedMsg) {
	if msg.req != m.req {
		return
	}
	m.loading = false
	m.err = msg.Err
	if msg.Err != nil {
		m.c.Log(common.LogError, "snapshot of %s/%s: %s", common.Clean(m.tenant), common.Clean(m.device), common.Clean(msg.Err.Error()))
		return
	}
	m.rec = msg.Rec
	text := strings.TrimSuffix(strings.ReplaceAll(string(msg.Content), "\r\n", "\n"), "\n")
	m.raw = strings.Split(text, "\n")
	m.setReveal(m.reveal)
	m.showAt()
}

// find recomputes the matches of the query. Smart case: a query with an
// upper-case letter matches case, otherwise case is ignored.
func (m *Model) find(q string) {
	m.query = q
	m.matches = m.matches[:0]
	m.cur = -1
	if q == "" {
		return
	}
	fold := !strings.ContainsFunc(q, unicode.IsUpper)
	needle := q
	if fold {
		needle = strings.ToLower(q)
	}
	for i, l := range m.lines {
		hay := l
		if fold {
			hay = asciiLower(l)
		}
		for at := 0; at <= len(hay); {
			j := strings.Index(hay[at:], needle)
			if j < 0 {
				break
			}
			m.matches = append(m.matches, Match{Line: i, Start: at + j, End: at + j + len(needle)})
			at += j + max(len(needle), 1)
		}
	}
}

// asciiLower lowers ASCII letters only, so byte offsets stay those of the
// original line (RouterOS exports are ASCII; others just match exactly).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// jump makes match i current and scrolls it into view, a third from the
// top so that its context shows.
func (m *Model) jump(i int) {
	if len(m.matches) == 0 {
		m.cur = -1
		return
	}
	rows := m.rows()
	m.cur = (i%len(m.matches) + len(m.matches)) % len(m.matches)
	line := m.matches[m.cur].Line
	if off := m.pager.Off; line < off || line >= off+rows {
		m.pager.Off = line - rows/3
	}
	if !m.pager.Wrap {
		// Bring the match into view sideways too.
		mt := m.matches[m.cur]
		bw := m.c.Width - m.gutter() - 1
		start := ansi.StringWidth(m.lines[line][:mt.Start])
		end := ansi.StringWidth(m.lines[line][:mt.End])
		if start < m.pager.X || end > m.pager.X+bw {
			m.pager.X = max(start-bw/3, 0)
		}
	}
	m.sync()
}

// firstFrom returns the first match at or after line, wrapping around.
func (m *Model) firstFrom(line int) int {
	for i, mt := range m.matches {
		if mt.Line >= line {
			return i
		}
	}
	return 0
}

// Update handles the content's arrival, keys and the wheel.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	m.sync()
	switch msg := msg.(type) {
	case LoadedMsg:
		m.load(msg)
	case common.WheelMsg:
		m.pager.Off += msg.Delta
		m.sync()
	case tea.PasteMsg:
		if m.searching {
			m.search.Paste(msg.Content)
			m.find(m.search.String())
		}
	case tea.KeyPressMsg:
		if m.searching {
			m.searchKey(msg)
			return nil
		}
		return m.key(msg)
	}
	return nil
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.c.Keys
	p := &m.pager
	defer m.sync()
	switch {
	case key.Matches(msg, k.Back):
		if m.query != "" {
			m.find("")
			return nil
		}
		m.c.Send(common.BackMsg{})
	case p.Move(msg, k, len(m.lines), m.rows()):
	case key.Matches(msg, k.Wrap):
		p.Wrap = !p.Wrap
	case key.Matches(msg, k.ScrollLeft):
		p.X -= common.HScrollStep
	case key.Matches(msg, k.ScrollRight):
		if !p.Wrap {
			p.X += common.HScrollStep
		}
	case key.Matches(msg, k.Reveal):
		switch {
		case m.reveal:
			m.setReveal(false)
			m.c.Log(common.LogInfo, "secrets hidden again for %s/%s", common.Clean(m.tenant), common.Clean(m.device))
		case !m.loading && m.err == nil:
			m.c.Send(overlay.AskMsg{Q: overlay.RevealQuestion(m.tenant, m.device, m.devName)})
		}
	case key.Matches(msg, k.Search):
		m.searching = true
		m.search.Set("")
	case key.Matches(msg, k.NextMatch):
		m.jump(m.cur + 1)
	case key.Matches(msg, k.PrevMatch):
		m.jump(m.cur - 1)
	case key.Matches(msg, k.Copy):
		m.c.Send(common.CopyMsg{Text: m.rec.SHA256, What: "sha256 of " + common.Clean(m.devName) + " at " + common.Stamp(m.rec.CollectedAt, m.c.Loc)})
	}
	return nil
}

// searchKey edits the query; matches update as it is typed and the view
// jumps to the first match below the top line.
func (m *Model) searchKey(msg tea.KeyPressMsg) {
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Back):
		m.searching = false
		m.find("")
		return
	case key.Matches(msg, k.Accept):
		m.searching = false
		return
	}
	if changed, _ := m.search.Edit(msg, k); changed {
		top := m.pager.Off
		m.find(m.search.String())
		if len(m.matches) > 0 {
			m.jump(m.firstFrom(top))
		}
	}
}

// View is the title, the search line and the lines in view.
func (m *Model) View() string {
	m.sync()
	st := &m.c.Styles
	w := m.c.Width
	title := st.Title.Render("Snapshot") + " · " + st.Bold.Render(common.Clean(m.devName)) + " · " + st.Hash.Render(common.ShortHash(common.Clean(m.rec.SHA256)))
	if !m.rec.CollectedAt.IsZero() {
		title += " · " + common.Stamp(m.rec.CollectedAt, m.c.Loc)
	}
	if !m.loading && m.err == nil {
		title += st.Dim.Render(fmt.Sprintf(" · %s · %s", common.Plural(len(m.lines), "line", "lines"), common.HumanSize(m.rec.SizeBytes)))
		if m.pager.Wrap {
			title += st.Dim.Render(" · wrap")
		}
	}
	var status string
	switch {
	case m.searching:
		status = st.Key.Render("/") + st.Input.Render(common.Clean(m.search.String())) + "█" + st.Dim.Render(m.matchInfo())
	case m.query != "":
		status = st.Dim.Render("search ") + st.Input.Render(common.Clean(m.query)) + st.Dim.Render(m.matchInfo()+" · n/N next/previous · esc clears")
	default:
		status = st.Dim.Render("secrets hidden · R reveals · / searches · W wraps · y copies the hash · esc back")
		if m.reveal {
			status = st.Bad.Render("SECRETS SHOWN") + st.Dim.Render(" · R hides · / searches · W wraps · y copies the hash · esc back")
		}
	}
	out := []string{common.Fit(title, w), common.Fit(status, w)}
	switch {
	case m.loading:
		out = append(out, st.Dim.Render(m.c.Spin()+" fetching the snapshot…"))
		return strings.Join(out, "\n")
	case m.err != nil:
		out = append(append(out, st.Bad.Render("Could not fetch the snapshot.")), common.WrapText(common.Clean(m.err.Error()), w)...)
		return strings.Join(out, "\n")
	}
	gw := m.gutter()
	// Matches by line for the visible window only.
	off, rows := m.pager.Off, m.rows()
	first := 0
	for first < len(m.matches) && m.matches[first].Line < off {
		first++
	}
	n := 0
	for i := off; i < len(m.lines) && n < rows; i++ {
		var ms []Match
		curIdx := -1
		for j := first; j < len(m.matches) && m.matches[j].Line == i; j++ {
			if j == m.cur {
				curIdx = len(ms)
			}
			ms = append(ms, m.matches[j])
			first = j + 1
		}
		for _, r := range RenderRows(i+1, m.lines[i], ms, curIdx, i+1 == m.at, gw, w, &m.pager, st) {
			if n == rows {
				break
			}
			out = append(out, r)
			n++
		}
	}
	return strings.Join(out, "\n")
}

func (m *Model) matchInfo() string {
	switch {
	case m.query == "" && m.search.String() == "":
		return ""
	case len(m.matches) == 0:
		return " · no match"
	case m.cur < 0:
		return fmt.Sprintf(" · %s", common.Plural(len(m.matches), "match", "matches"))
	}
	return fmt.Sprintf(" · match %d of %d", m.cur+1, len(m.matches))
}

// RenderRows is a pure function: a numbered configuration line with its
// search matches highlighted (cur is the current one, -1 for none), laid
// out by p: cut at its horizontal offset, or wrapped onto more rows. A
// target line (the one a fleet search opened) has its number marked.
func RenderRows(no int, line string, ms []Match, cur int, target bool, gw, w int, p *common.Pager, st *common.Styles) []string {
	body := p.Body(highlight(line, ms, cur, st), max(w-gw-1, 1))
	rows := make([]string, len(body))
	for i, b := range body {
		switch {
		case i == 0 && target:
			rows[i] = st.MatchCur.Render(common.FitRight("▸"+fmt.Sprint(no), gw)) + " " + b
		case i == 0:
			rows[i] = st.LineNo.Render(common.FitRight(fmt.Sprint(no), gw)+" ") + b
		default:
			rows[i] = st.LineNo.Render(common.FitRight("↪", gw)+" ") + b
		}
	}
	return rows
}

// highlight styles the search matches of a line.
func highlight(line string, ms []Match, cur int, st *common.Styles) string {
	var b strings.Builder
	at := 0
	for i, mt := range ms {
		if mt.Start < at || mt.End > len(line) {
			continue
		}
		b.WriteString(line[at:mt.Start])
		style := st.Match
		if i == cur {
			style = st.MatchCur
		}
		b.WriteString(style.Render(line[mt.Start:mt.End]))
		at = mt.End
	}
	b.WriteString(line[at:])
	return b.String()
}

// ShortHelp is the footer while the snapshot is in front.
func (m *Model) ShortHelp() []key.Binding {
	k := &m.c.Keys
	return []key.Binding{k.Search, k.NextMatch, k.PrevMatch, k.Reveal, k.Wrap, k.Copy, k.Back, k.Help, k.Quit, k.ScrollRight}
}
