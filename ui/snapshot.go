package ui

import (
	"fmt"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// snapState is the snapshot viewer: one configuration with line numbers
// and an incremental search.
type snapState struct {
	req       int
	loading   bool
	err       error
	tenant    string
	device    string
	devName   string
	rec       api.SnapshotRecord
	lines     []string // cleaned, safe to print
	offset    int
	search    common.LineInput
	searching bool
	query     string
	matches   []match
	cur       int // index into matches, -1 for none
}

type match struct{ line, start, end int } // byte offsets into the line

func (s *snapState) clamp(rows int) {
	s.offset = min(max(s.offset, 0), max(len(s.lines)-max(rows, 1), 0))
}

type contentMsg struct {
	req     int
	rec     api.SnapshotRecord
	content []byte
	err     error
}

func (m *Model) openSnapshot(tenant, device, devName string, rec api.SnapshotRecord) tea.Cmd {
	m.snap = &snapState{tenant: tenant, device: device, devName: devName, rec: rec, loading: true, req: m.c.NextReq(), cur: -1}
	m.push(screenSnapshot)
	if b, ok := m.contents.get(rec.SHA256); ok {
		m.onContent(contentMsg{req: m.snap.req, rec: rec, content: b})
		return nil
	}
	req, c, ctx := m.snap.req, m.c.Client, m.c.Ctx
	return func() tea.Msg {
		got, content, err := fetchSnapshot(ctx, c, tenant, device, rec.SHA256)
		if err == nil && !rec.CollectedAt.IsZero() {
			got = rec // keep the row the user picked: content is per hash
		}
		return contentMsg{req: req, rec: got, content: content, err: err}
	}
}

func (m *Model) onContent(msg contentMsg) {
	if msg.err == nil {
		m.contents.put(msg.rec.SHA256, msg.content)
	}
	s := m.snap
	if s == nil || msg.req != s.req {
		return
	}
	s.loading = false
	s.err = msg.err
	if msg.err != nil {
		m.addLog(common.LogError, "snapshot of %s/%s: %s", common.Clean(s.tenant), common.Clean(s.device), common.Clean(msg.err.Error()))
		return
	}
	s.rec = msg.rec
	text := strings.TrimSuffix(strings.ReplaceAll(string(msg.content), "\r\n", "\n"), "\n")
	raw := strings.Split(text, "\n")
	s.lines = make([]string, len(raw))
	for i, l := range raw {
		s.lines[i] = common.CleanLine(l)
	}
}

// find recomputes the matches of the query. Smart case: a query with an
// upper-case letter matches case, otherwise case is ignored.
func (s *snapState) find(q string) {
	s.query = q
	s.matches = s.matches[:0]
	s.cur = -1
	if q == "" {
		return
	}
	fold := !strings.ContainsFunc(q, unicode.IsUpper)
	needle := q
	if fold {
		needle = strings.ToLower(q)
	}
	for i, l := range s.lines {
		hay := l
		if fold {
			hay = asciiLower(l)
		}
		for at := 0; at <= len(hay); {
			j := strings.Index(hay[at:], needle)
			if j < 0 {
				break
			}
			s.matches = append(s.matches, match{line: i, start: at + j, end: at + j + len(needle)})
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
func (s *snapState) jump(i, rows int) {
	if len(s.matches) == 0 {
		s.cur = -1
		return
	}
	s.cur = (i%len(s.matches) + len(s.matches)) % len(s.matches)
	line := s.matches[s.cur].line
	if line < s.offset || line >= s.offset+rows {
		s.offset = line - rows/3
	}
	s.clamp(rows)
}

// firstFrom returns the first match at or after line, wrapping around.
func (s *snapState) firstFrom(line int) int {
	for i, mt := range s.matches {
		if mt.line >= line {
			return i
		}
	}
	return 0
}

func (m *Model) snapRows() int { return max(m.c.BodyHeight()-2, 1) }

func (m *Model) snapKey(msg tea.KeyPressMsg) tea.Cmd {
	s := m.snap
	if s == nil {
		m.pop()
		return nil
	}
	k := m.c.Keys
	rows := m.snapRows()
	switch {
	case key.Matches(msg, k.Back):
		if s.query != "" {
			s.find("")
			return nil
		}
		m.pop()
		return nil
	case key.Matches(msg, k.Up):
		s.offset--
	case key.Matches(msg, k.Down):
		s.offset++
	case key.Matches(msg, k.PageUp):
		s.offset -= rows
	case key.Matches(msg, k.PageDown):
		s.offset += rows
	case key.Matches(msg, k.Top):
		s.offset = 0
	case key.Matches(msg, k.Bottom):
		s.offset = len(s.lines)
	case key.Matches(msg, k.Search):
		s.searching = true
		s.search.Set("")
	case key.Matches(msg, k.NextMatch):
		s.jump(s.cur+1, rows)
		return nil
	case key.Matches(msg, k.PrevMatch):
		s.jump(s.cur-1, rows)
		return nil
	case key.Matches(msg, k.Copy):
		return m.copyText(s.rec.SHA256, "sha256 of "+common.Clean(s.devName)+" at "+common.Stamp(s.rec.CollectedAt, m.c.Loc))
	}
	s.clamp(rows)
	return nil
}

// snapSearchKey edits the query; matches update as it is typed and the
// view jumps to the first match below the top line.
func (m *Model) snapSearchKey(msg tea.KeyPressMsg) {
	s := m.snap
	rows := m.snapRows()
	switch {
	case key.Matches(msg, m.c.Keys.Back):
		s.searching = false
		s.find("")
		return
	case key.Matches(msg, m.c.Keys.Accept):
		s.searching = false
		return
	}
	if changed, _ := s.search.Edit(msg, &m.c.Keys); changed {
		top := s.offset
		s.find(s.search.String())
		if len(s.matches) > 0 {
			s.jump(s.firstFrom(top), rows)
		}
	}
}

func (m *Model) snapView(w, bh int) []string {
	st := &m.c.Styles
	s := m.snap
	if s == nil {
		return nil
	}
	title := st.Title.Render("Snapshot") + " · " + st.Bold.Render(common.Clean(s.devName)) + " · " + st.Hash.Render(common.ShortHash(common.Clean(s.rec.SHA256)))
	if !s.rec.CollectedAt.IsZero() {
		title += " · " + common.Stamp(s.rec.CollectedAt, m.c.Loc)
	}
	if !s.loading && s.err == nil {
		title += st.Dim.Render(fmt.Sprintf(" · %s · %s", common.Plural(len(s.lines), "line", "lines"), common.HumanSize(s.rec.SizeBytes)))
	}
	var status string
	switch {
	case s.searching:
		status = st.Key.Render("/") + st.Input.Render(common.Clean(s.search.String())) + "█" + st.Dim.Render(matchInfo(s))
	case s.query != "":
		status = st.Dim.Render("search ") + st.Input.Render(common.Clean(s.query)) + st.Dim.Render(matchInfo(s)+" · n/N next/previous · esc clears")
	default:
		status = st.Dim.Render("/ searches · y copies the hash · esc goes back")
	}
	out := []string{common.Fit(title, w), common.Fit(status, w)}
	switch {
	case s.loading:
		return append(out, st.Dim.Render(m.c.Spin()+" fetching the snapshot…"))
	case s.err != nil:
		return append(append(out, st.Bad.Render("Could not fetch the snapshot.")), common.WrapText(common.Clean(s.err.Error()), w)...)
	}
	gw := max(len(fmt.Sprint(len(s.lines))), 3)
	// Matches by line for the visible window only.
	rows := bh - 2
	first := 0
	for first < len(s.matches) && s.matches[first].line < s.offset {
		first++
	}
	for i := s.offset; i < len(s.lines) && len(out) < rows+2; i++ {
		var ms []match
		curIdx := -1
		for j := first; j < len(s.matches) && s.matches[j].line == i; j++ {
			if j == s.cur {
				curIdx = len(ms)
			}
			ms = append(ms, s.matches[j])
			first = j + 1
		}
		out = append(out, renderSnapLine(i+1, s.lines[i], ms, curIdx, gw, w, st))
	}
	return out
}

func matchInfo(s *snapState) string {
	switch {
	case s.query == "" && s.search.String() == "":
		return ""
	case len(s.matches) == 0:
		return " · no match"
	case s.cur < 0:
		return fmt.Sprintf(" · %s", common.Plural(len(s.matches), "match", "matches"))
	}
	return fmt.Sprintf(" · match %d of %d", s.cur+1, len(s.matches))
}

// renderSnapLine is a pure function: a numbered configuration line with
// its search matches highlighted (cur is the current one, -1 for none).
func renderSnapLine(no int, line string, ms []match, cur, gw, w int, st *common.Styles) string {
	var b strings.Builder
	b.WriteString(st.LineNo.Render(common.FitRight(fmt.Sprint(no), gw) + " "))
	at := 0
	for i, mt := range ms {
		if mt.start < at || mt.end > len(line) {
			continue
		}
		b.WriteString(line[at:mt.start])
		style := st.Match
		if i == cur {
			style = st.MatchCur
		}
		b.WriteString(style.Render(line[mt.start:mt.end]))
		at = mt.end
	}
	b.WriteString(line[at:])
	return common.Trunc(b.String(), w)
}

func (m *Model) snapWheel(delta int) {
	if s := m.snap; s != nil {
		s.offset += delta
		s.clamp(m.snapRows())
	}
}

func (m *Model) diffWheel(delta int) {
	if d := m.diff; d != nil {
		d.offset += delta
		d.clamp(m.c.BodyHeight() - 2)
	}
}
