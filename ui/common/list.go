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
	switch {
	case key.Matches(msg, k.Up):
		l.Cursor--
	case key.Matches(msg, k.Down):
		l.Cursor++
	case key.Matches(msg, k.PageUp):
		l.Cursor -= rows
	case key.Matches(msg, k.PageDown):
		l.Cursor += rows
	case key.Matches(msg, k.Top):
		l.Cursor = 0
	case key.Matches(msg, k.Bottom):
		l.Cursor = n - 1
	default:
		return false
	}
	l.Clamp(n, rows)
	return true
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
