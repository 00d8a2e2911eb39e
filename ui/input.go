package ui

import (
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"
)

// lineInput is the one-line editor of the filter and the search. It is
// smaller than bubbles' textinput on purpose: no blinking cursor (a blink
// is a redraw every half second over a slow SSH link) and no suggestions.
type lineInput struct {
	value []rune
}

func (in *lineInput) String() string { return string(in.value) }

func (in *lineInput) set(s string) { in.value = []rune(s) }

// edit applies an editing key and reports whether the value changed and
// whether the key was an editing key at all.
func (in *lineInput) edit(msg tea.KeyPressMsg) (changed, handled bool) {
	switch msg.String() {
	case "backspace", "ctrl+h":
		if len(in.value) == 0 {
			return false, true
		}
		in.value = in.value[:len(in.value)-1]
		return true, true
	case "ctrl+u":
		changed = len(in.value) > 0
		in.value = in.value[:0]
		return changed, true
	case "ctrl+w", "alt+backspace":
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

// paste adds pasted text (one line of it).
func (in *lineInput) paste(s string) {
	s, _, _ = strings.Cut(s, "\n")
	for _, r := range s {
		if unicode.IsPrint(r) {
			in.value = append(in.value, r)
		}
	}
}
