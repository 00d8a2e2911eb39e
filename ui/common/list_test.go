package common

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

// The list keys move the cursor and keep it on an item and in view; any
// other key is left to the caller.
func TestListWindowMove(t *testing.T) {
	k := NewKeyMap()
	var l ListWindow
	const n, rows = 25, 10
	steps := []struct {
		msg         tea.KeyPressMsg
		cursor, off int
	}{
		{tea.KeyPressMsg{Code: tea.KeyDown}, 1, 0},
		{tea.KeyPressMsg{Code: tea.KeyPgDown}, 11, 2},
		{tea.KeyPressMsg{Code: tea.KeyEnd}, 24, 15},
		{tea.KeyPressMsg{Code: tea.KeyDown}, 24, 15},
		{tea.KeyPressMsg{Code: tea.KeyPgUp}, 14, 14},
		{tea.KeyPressMsg{Code: tea.KeyUp}, 13, 13},
		{tea.KeyPressMsg{Code: tea.KeyHome}, 0, 0},
		{tea.KeyPressMsg{Code: tea.KeyUp}, 0, 0},
	}
	for i, s := range steps {
		if !l.Move(s.msg, &k, n, rows) {
			t.Fatalf("step %d: %s was not taken as a list key", i, s.msg)
		}
		if l.Cursor != s.cursor || l.Offset != s.off {
			t.Fatalf("step %d (%s): cursor %d offset %d, want %d %d", i, s.msg, l.Cursor, l.Offset, s.cursor, s.off)
		}
	}
	if l.Move(tea.KeyPressMsg{Code: 'x', Text: "x"}, &k, n, rows) {
		t.Fatal("x was taken as a list key")
	}
	if !l.Move(tea.KeyPressMsg{Code: tea.KeyEnd}, &k, 0, rows) || l.Cursor != 0 || l.Offset != 0 {
		t.Fatalf("end of an empty list: cursor %d offset %d, want 0 0", l.Cursor, l.Offset)
	}
}

// The scroll keys move a pager's first line, unclamped (the viewer clamps
// with its line widths); other keys are the viewer's.
func TestPagerMove(t *testing.T) {
	k := NewKeyMap()
	var p Pager
	const n, rows = 100, 20
	steps := []struct {
		msg tea.KeyPressMsg
		off int
	}{
		{tea.KeyPressMsg{Code: tea.KeyDown}, 1},
		{tea.KeyPressMsg{Code: tea.KeyPgDown}, 21},
		{tea.KeyPressMsg{Code: tea.KeyUp}, 20},
		{tea.KeyPressMsg{Code: tea.KeyPgUp}, 0},
		{tea.KeyPressMsg{Code: tea.KeyEnd}, n},
		{tea.KeyPressMsg{Code: tea.KeyHome}, 0},
		{tea.KeyPressMsg{Code: tea.KeyUp}, -1},
	}
	for i, s := range steps {
		if !p.Move(s.msg, &k, n, rows) || p.Off != s.off {
			t.Fatalf("step %d (%s): offset %d, want %d", i, s.msg, p.Off, s.off)
		}
	}
	if p.Move(tea.KeyPressMsg{Code: 'w', Text: "w"}, &k, n, rows) || p.Off != -1 {
		t.Fatalf("w moved the pager to %d", p.Off)
	}
}
