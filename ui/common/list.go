package common

import (
	"cmp"
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// ListWindow is the cursor and scroll offset of a selectable list (the
// devices, the tenants, the history). The scrolling text viewers use
// bubbles' viewport; a list of 10,000 devices cannot, because a viewport
// holds every line rendered, and this list renders only the rows it shows.
type ListWindow struct {
	Cursor, Offset int
}

// Clamp keeps the cursor on one of n items and in view of rows lines.
func (l *ListWindow) Clamp(n, rows int) {
	l.Cursor = min(max(l.Cursor, 0), max(n-1, 0))
	rows = max(rows, 1)
	if l.Cursor < l.Offset {
		l.Offset = l.Cursor
	}
	if l.Cursor >= l.Offset+rows {
		l.Offset = l.Cursor - rows + 1
	}
	l.Offset = min(max(l.Offset, 0), max(n-rows, 0))
}

// Move moves the cursor over n items shown in rows lines when msg is one of
// the list keys of k (up, down, page up and down, top, bottom), and
// reports whether it was; the lists share these keys and how they move.
func (l *ListWindow) Move(msg tea.KeyPressMsg, k *KeyMap, n, rows int) bool {
	return l.moveBy(msg, n, rows, k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom)
}

// MoveTyping moves the cursor like Move but with the keys that still move
// it while a filter or pattern is typed: arrows and page keys, no letters
// and no top or bottom.
func (l *ListWindow) MoveTyping(msg tea.KeyPressMsg, k *KeyMap, n, rows int) bool {
	return l.moveBy(msg, n, rows, k.InputUp, k.InputDown, k.InputPageUp, k.InputPageDown, key.Binding{}, key.Binding{})
}

func (l *ListWindow) moveBy(msg tea.KeyPressMsg, n, rows int, up, down, pgUp, pgDown, top, bottom key.Binding) bool {
	c, ok := step(msg, l.Cursor, n-1, rows, up, down, pgUp, pgDown, top, bottom)
	if !ok {
		return false
	}
	l.Cursor = c
	l.Clamp(n, rows)
	return true
}

// step is where the bindings move pos, with rows in view and last the
// bottom key's target, and whether msg is one of them. The lists and the
// pager move alike and differ only in their keys and what they clamp to.
func step(msg tea.KeyPressMsg, pos, last, rows int, up, down, pgUp, pgDown, top, bottom key.Binding) (int, bool) {
	switch {
	case key.Matches(msg, up):
		return pos - 1, true
	case key.Matches(msg, down):
		return pos + 1, true
	case key.Matches(msg, pgUp):
		return pos - rows, true
	case key.Matches(msg, pgDown):
		return pos + rows, true
	case key.Matches(msg, top):
		return 0, true
	case key.Matches(msg, bottom):
		return last, true
	}
	return pos, false
}

// Scroll moves the offset by delta lines and keeps the cursor on screen,
// as lazygit does when scrolling with the wheel.
func (l *ListWindow) Scroll(delta, n, rows int) {
	l.Offset = min(max(l.Offset+delta, 0), max(n-rows, 0))
	l.Cursor = min(max(l.Cursor, l.Offset), l.Offset+rows-1)
	l.Clamp(n, rows)
}

// RenderTenantRow is one tenant line of the tenant pane and the picker.
func RenderTenantRow(t api.Tenant, w int, current, focused bool, st *Styles) string {
	cur := "  "
	if current {
		cur = "▸ "
	}
	count := fmt.Sprintf(" %d", t.DeviceCount)
	label := cur + Fit(Clean(cmp.Or(t.Name, t.ID)), max(w-2-len(count), 1)) + count
	if current {
		return st.Sel(lipgloss.NewStyle(), true, focused).Render(label)
	}
	return label
}
