package ui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/aymanbagabas/go-udiff"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// diffLine is one line of a unified diff with its line numbers on either
// side (0 where the line does not exist on that side).
type diffLine struct {
	kind         byte // '@' hunk header, '+', '-', ' ', '\\' no newline
	text         string
	oldNo, newNo int
}

type diffResult struct {
	lines      []diffLine
	hunks      []int // index in lines of each hunk header
	adds, dels int
}

// computeDiff diffs two configurations line by line with three lines of
// context, as diff -u does.
func computeDiff(old, new string) (diffResult, error) {
	var res diffResult
	if old == new {
		return res, nil
	}
	edits := udiff.Lines(old, new)
	u, err := udiff.ToUnifiedDiff("a", "b", old, edits, udiff.DefaultContextLines)
	if err != nil {
		return res, fmt.Errorf("diff: %w", err)
	}
	for _, h := range u.Hunks {
		res.hunks = append(res.hunks, len(res.lines))
		oldN, newN := 0, 0
		for _, l := range h.Lines {
			switch l.Kind {
			case udiff.Delete:
				oldN++
			case udiff.Insert:
				newN++
			default:
				oldN++
				newN++
			}
		}
		res.lines = append(res.lines, diffLine{kind: '@', text: fmt.Sprintf("@@ -%d,%d +%d,%d @@", h.FromLine, oldN, h.ToLine, newN)})
		o, n := h.FromLine, h.ToLine
		for _, l := range h.Lines {
			text := strings.TrimSuffix(l.Content, "\n")
			dl := diffLine{text: common.CleanLine(strings.TrimSuffix(text, "\r"))}
			switch l.Kind {
			case udiff.Delete:
				dl.kind, dl.oldNo = '-', o
				o++
				res.dels++
			case udiff.Insert:
				dl.kind, dl.newNo = '+', n
				n++
				res.adds++
			default:
				dl.kind, dl.oldNo, dl.newNo = ' ', o, n
				o++
				n++
			}
			res.lines = append(res.lines, dl)
			if !strings.HasSuffix(l.Content, "\n") {
				res.lines = append(res.lines, diffLine{kind: '\\', text: `\ No newline at end of file`})
			}
		}
	}
	return res, nil
}

// diffState is the diff viewer.
type diffState struct {
	req      int
	loading  bool
	err      error
	tenant   string
	device   string
	devName  string
	from, to api.SnapshotRecord
	res      diffResult
	offset   int
	cur      int // the current hunk: n/N move it, scrolling follows it
}

func (d *diffState) clamp(rows int) {
	d.offset = min(max(d.offset, 0), max(len(d.res.lines)-max(rows, 1), 0))
}

// hunkAt is the index of the hunk shown at the top, -1 before the first.
func (d *diffState) hunkAt() int {
	cur := -1
	for i, at := range d.res.hunks {
		if at <= d.offset {
			cur = i
		}
	}
	return cur
}

type diffMsg struct {
	req      int
	from, to api.SnapshotRecord
	contents map[string][]byte
	res      diffResult
	err      error
}

// contentCacheSize bounds the snapshot contents kept in memory (a diff
// needs two; going back and forth in history reuses them).
const contentCacheSize = 16

type contentCache struct {
	order []string
	data  map[string][]byte
}

func (c *contentCache) get(hash string) ([]byte, bool) {
	b, ok := c.data[hash]
	return b, ok
}

func (c *contentCache) put(hash string, b []byte) {
	if c.data == nil {
		c.data = map[string][]byte{}
	}
	if _, ok := c.data[hash]; ok {
		return
	}
	c.data[hash] = b
	c.order = append(c.order, hash)
	if len(c.order) > contentCacheSize {
		delete(c.data, c.order[0])
		c.order = c.order[1:]
	}
}

func (m *Model) openDiff(tenant, device, devName string, from, to api.SnapshotRecord) tea.Cmd {
	m.diff = &diffState{tenant: tenant, device: device, devName: devName, from: from, to: to, loading: true, req: m.c.NextReq()}
	m.push(screenDiff)
	req, c, ctx := m.diff.req, m.c.Client, m.c.Ctx
	have := map[string][]byte{}
	for _, h := range []string{from.SHA256, to.SHA256} {
		if b, ok := m.contents.get(h); ok {
			have[h] = b
		}
	}
	return func() tea.Msg {
		msg := diffMsg{req: req, from: from, to: to, contents: have}
		for _, rec := range []*api.SnapshotRecord{&msg.from, &msg.to} {
			if _, ok := have[rec.SHA256]; ok {
				continue
			}
			got, content, err := fetchSnapshot(ctx, c, tenant, device, rec.SHA256)
			if err != nil {
				msg.err = err
				return msg
			}
			if rec.CollectedAt.IsZero() {
				*rec = got
			}
			have[rec.SHA256] = content
		}
		// Diffing is done here, off the event loop: a large export must
		// not freeze typing.
		msg.res, msg.err = computeDiff(string(have[from.SHA256]), string(have[to.SHA256]))
		return msg
	}
}

func fetchSnapshot(ctx context.Context, c client.Client, tenant, device, hash string) (api.SnapshotRecord, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
	defer cancel()
	rec, content, err := c.Snapshot(ctx, tenant, device, hash)
	if err != nil {
		return rec, nil, fmt.Errorf("snapshot %s of %s/%s: %w", common.ShortHash(hash), tenant, device, err)
	}
	return rec, content, nil
}

func (m *Model) onDiff(msg diffMsg) {
	for h, b := range msg.contents {
		m.contents.put(h, b)
	}
	d := m.diff
	if d == nil || msg.req != d.req {
		return
	}
	d.loading = false
	d.err = msg.err
	d.from, d.to, d.res = msg.from, msg.to, msg.res
	if msg.err != nil {
		m.addLog(common.LogError, "diff of %s/%s: %s", common.Clean(d.tenant), common.Clean(d.device), common.Clean(msg.err.Error()))
	}
}

func (m *Model) diffKey(msg tea.KeyPressMsg) tea.Cmd {
	d := m.diff
	if d == nil {
		m.pop()
		return nil
	}
	k := m.c.Keys
	rows := m.c.BodyHeight() - 2
	before := d.offset
	defer func() {
		d.clamp(rows)
		if d.offset != before && !key.Matches(msg, k.NextHunk, k.PrevHunk) {
			d.cur = max(d.hunkAt(), 0)
		}
	}()
	switch {
	case key.Matches(msg, k.Back):
		m.pop()
		return nil
	case key.Matches(msg, k.Up):
		d.offset--
	case key.Matches(msg, k.Down):
		d.offset++
	case key.Matches(msg, k.PageUp):
		d.offset -= rows
	case key.Matches(msg, k.PageDown):
		d.offset += rows
	case key.Matches(msg, k.Top):
		d.offset = 0
	case key.Matches(msg, k.Bottom):
		d.offset = len(d.res.lines)
	case key.Matches(msg, k.NextHunk):
		if d.cur+1 < len(d.res.hunks) {
			d.cur++
			d.offset = d.res.hunks[d.cur]
		}
	case key.Matches(msg, k.PrevHunk):
		if d.cur > 0 {
			d.cur--
			d.offset = d.res.hunks[d.cur]
		}
	}
	return nil
}

func (m *Model) diffView(w, bh int) []string {
	st := &m.c.Styles
	d := m.diff
	if d == nil {
		return nil
	}
	title := st.Title.Render("Diff") + " · " + st.Bold.Render(common.Clean(d.devName))
	if !d.loading && d.err == nil {
		title += " · " + st.DiffAdd.Render(fmt.Sprintf("+%d", d.res.adds)) + " " + st.DiffDel.Render(fmt.Sprintf("−%d", d.res.dels))
		if n := len(d.res.hunks); n > 0 {
			title += st.Dim.Render(fmt.Sprintf(" · hunk %d/%d", d.cur+1, n))
		}
	}
	side := func(r api.SnapshotRecord) string {
		s := st.Hash.Render(common.ShortHash(common.Clean(r.SHA256)))
		if !r.CollectedAt.IsZero() {
			s += " " + common.Stamp(r.CollectedAt, m.c.Loc)
		}
		return s
	}
	out := []string{common.Fit(title, w), common.Fit(st.DiffDel.Render("−")+" "+side(d.from)+st.Dim.Render("  →  ")+st.DiffAdd.Render("+")+" "+side(d.to), w)}
	rows := bh - 2
	switch {
	case d.loading:
		return append(out, st.Dim.Render(m.c.Spin()+" fetching both snapshots…"))
	case d.err != nil:
		return append(append(out, st.Bad.Render("Could not build the diff.")), common.WrapText(common.Clean(d.err.Error()), w)...)
	case len(d.res.lines) == 0:
		return append(out, st.OK.Render("No differences: both snapshots have the same configuration ("+common.ShortHash(common.Clean(d.to.SHA256))+")."))
	}
	gw := diffGutter(d.res)
	curAt := -1
	if d.cur < len(d.res.hunks) {
		curAt = d.res.hunks[d.cur]
	}
	for i := d.offset; i < len(d.res.lines) && len(out) < rows+2; i++ {
		l := renderDiffLine(d.res.lines[i], gw, w, st)
		if i == curAt && len(d.res.hunks) > 1 {
			l = st.Selected.Render(common.Trunc(d.res.lines[i].text+" ◀", w))
		}
		out = append(out, l)
	}
	return out
}

// diffGutter is the width of one line-number column.
func diffGutter(r diffResult) int {
	hi := 0
	for _, l := range r.lines {
		hi = max(hi, l.oldNo, l.newNo)
	}
	return max(len(fmt.Sprint(hi)), 3)
}

// renderDiffLine is a pure function: one diff line with both line numbers.
func renderDiffLine(l diffLine, gw, w int, st *common.Styles) string {
	num := func(n int) string {
		if n == 0 {
			return strings.Repeat(" ", gw)
		}
		return common.FitRight(fmt.Sprint(n), gw)
	}
	switch l.kind {
	case '@':
		return st.DiffHunk.Render(common.Trunc(l.text, w))
	case '\\':
		return st.Dim.Render(common.Trunc(strings.Repeat(" ", 2*gw+2)+l.text, w))
	}
	gutter := st.LineNo.Render(num(l.oldNo) + " " + num(l.newNo) + " ")
	body := common.Trunc(string(l.kind)+" "+l.text, max(w-2*gw-2, 1))
	switch l.kind {
	case '+':
		body = st.DiffAdd.Render(body)
	case '-':
		body = st.DiffDel.Render(body)
	}
	return gutter + body
}
