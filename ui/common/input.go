package common

import (
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// LineInput is the one-line editor of the filter, the search and the
// tenant picker. It is used instead of bubbles' textinput on purpose: that
// one blinks its cursor (a redraw every half second over a slow SSH link,
// for every user watching a 10k-device fleet) and keeps suggestion and
// cursor-movement state nobody here needs; this one is a rune slice that
// the views draw with a fixed block cursor.
type LineInput struct {
	value []rune
}

func (in *LineInput) String() string { return string(in.value) }

// Set replaces the value.
func (in *LineInput) Set(s string) { in.value = []rune(s) }

// Edit applies an editing key and reports whether the value changed and
// whether the key was an editing key at all.
func (in *LineInput) Edit(msg tea.KeyPressMsg, k *KeyMap) (changed, handled bool) {
	switch {
	case key.Matches(msg, k.DeleteChar):
		if len(in.value) == 0 {
			return false, true
		}
		in.value = in.value[:len(in.value)-1]
		return true, true
	case key.Matches(msg, k.ClearLine):
		changed = len(in.value) > 0
		in.value = in.value[:0]
		return changed, true
	case key.Matches(msg, k.DeleteWord):
		v := strings.TrimRightFunc(string(in.value), unicode.IsSpace)
		i := strings.LastIndexFunc(v, unicode.IsSpace)
		before := len(in.value)
		in.value = []rune(v[:i+1])
		return len(in.value) != before, true
	}
	if msg.Text == "" || msg.Mod.Contains(tea.ModCtrl) || msg.Mod.Contains(tea.ModAlt) {
		return false, false
	}
	for _, r := range msg.Text {
		if unicode.IsPrint(r) {
			in.value = append(in.value, r)
		}
	}
	return true, true
}

// Paste adds pasted text (one line of it).
func (in *LineInput) Paste(s string) {
	s, _, _ = strings.Cut(s, "\n")
	for _, r := range s {
		if unicode.IsPrint(r) {
			in.value = append(in.value, r)
		}
	}
}
