package common

import (
	"charm.land/bubbles/v2/key"
)

// KeyMap is the one keymap of the TUI: every key any component reacts to
// is a binding here, so that the help, the footer and the code agree.
// Components pick the bindings they use for their short help; the full
// help (?) shows the documented ones by group.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Focus, FocusDevices, FocusTenants, NextTenant, PrevTenant, Tenants key.Binding
	Filter, Sort, SortReverse, Mark, MarkAll, Refresh                  key.Binding
	Backup, BackupMany, History, Copy, Watch, Forget, Log              key.Binding
	// BackupReason asks for a reason (a change ticket) first; LastDiff
	// opens the diff of the device's latest snapshot against the one
	// before; Triage sorts by failure; Shell opens ssh to the device.
	BackupReason, LastDiff, Triage, Shell key.Binding
	// FleetSearch opens the search of every device's configuration,
	// Changes the list of what changed; IgnoreCase toggles case in the
	// search (a control key: letters are the pattern); Wider and Narrower
	// change the window of the changes.
	FleetSearch, Changes, IgnoreCase, Wider, Narrower key.Binding

	Diff, View, NextHunk, PrevHunk, Search, NextMatch, PrevMatch key.Binding
	// Pin pins or unpins the selected snapshot in the history.
	Pin key.Binding
	// Of the text viewers (snapshot, diff).
	NextSection, PrevSection, Wrap, ScrollLeft, ScrollRight, Reveal key.Binding

	Back, Help, Quit, Yes, No key.Binding
	// Interrupt is ctrl+c alone: it quits even where q is text.
	Interrupt key.Binding

	// Keys of the one-line inputs (filter, search, picker), where letters
	// are text: only arrows and control keys move or edit.
	InputUp, InputDown, InputPageUp, InputPageDown key.Binding
	PickerUp, PickerDown                           key.Binding
	Accept, FilterDone                             key.Binding
	DeleteChar, DeleteWord, ClearLine              key.Binding
}

// NewKeyMap returns the keymap.
func NewKeyMap() KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return KeyMap{
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+d"}, "pgdn", "page down"),
		Top:      b([]string{"home", "g"}, "g", "top"),
		Bottom:   b([]string{"end", "G"}, "G", "bottom"),

		Focus:        b([]string{"tab"}, "tab", "pane"),
		FocusDevices: b([]string{"enter", "right", "l", "tab"}, "enter/tab", "devices"),
		FocusTenants: b([]string{"left"}, "←", "tenants"),
		NextTenant:   b([]string{"]"}, "]", "next tenant"),
		PrevTenant:   b([]string{"["}, "[", "prev tenant"),
		Tenants:      b([]string{"t"}, "t", "pick tenant"),

		Filter:      b([]string{"/"}, "/", "filter"),
		Sort:        b([]string{"s"}, "s", "sort"),
		SortReverse: b([]string{"S"}, "S", "reverse sort"),
		Mark:        b([]string{"space"}, "space", "mark"),
		MarkAll:     b([]string{"A"}, "A", "mark all shown"),
		Refresh:     b([]string{"r"}, "r", "reload"),

		Backup:     b([]string{"b"}, "b", "back up"),
		BackupMany: b([]string{"B"}, "B", "marked/all"),
		History:    b([]string{"enter", "h"}, "enter", "history"),
		Copy:       b([]string{"y"}, "y", "copy hash"),
		Watch:      b([]string{"w"}, "w", "watch lock holder"),
		Forget:     b([]string{"F"}, "F", "forget host key"),
		Log:        b([]string{"L"}, "L", "log"),

		BackupReason: b([]string{"c"}, "c", "back up with reason"),
		LastDiff:     b([]string{"d"}, "d", "diff last change"),
		Triage:       b([]string{"T"}, "T", "triage sort"),
		Shell:        b([]string{"x"}, "x", "ssh to device"),

		FleetSearch: b([]string{"f"}, "f", "find in configs"),
		Changes:     b([]string{"C"}, "C", "what changed"),
		IgnoreCase:  b([]string{"ctrl+t"}, "ctrl+t", "ignore case"),
		Wider:       b([]string{"+", "="}, "+", "longer window"),
		Narrower:    b([]string{"-"}, "-", "shorter window"),

		Diff:      b([]string{"d"}, "d", "diff"),
		Pin:       b([]string{"p"}, "p", "pin/unpin"),
		View:      b([]string{"enter", "v"}, "enter/v", "view"),
		NextHunk:  b([]string{"n", "}"}, "n", "next hunk"),
		PrevHunk:  b([]string{"N", "{"}, "N", "prev hunk"),
		Search:    b([]string{"/"}, "/", "search"),
		NextMatch: b([]string{"n"}, "n", "next match"),
		PrevMatch: b([]string{"N"}, "N", "prev match"),

		NextSection: b([]string{"]"}, "]", "next section"),
		PrevSection: b([]string{"["}, "[", "prev section"),
		Wrap:        b([]string{"W"}, "W", "wrap"),
		ScrollLeft:  b([]string{"left", "h"}, "←/h", "scroll left"),
		ScrollRight: b([]string{"right", "l"}, "→/l", "scroll right"),
		Reveal:      b([]string{"R"}, "R", "reveal secrets"),

		Back:      b([]string{"esc"}, "esc", "back"),
		Help:      b([]string{"?"}, "?", "help"),
		Quit:      b([]string{"q", "ctrl+c"}, "q", "quit"),
		Yes:       b([]string{"y", "enter"}, "y", "yes"),
		No:        b([]string{"n", "esc", "q"}, "n/esc", "no"),
		Interrupt: b([]string{"ctrl+c"}, "ctrl+c", "quit"),

		InputUp:       b([]string{"up"}, "↑", "previous match"),
		InputDown:     b([]string{"down"}, "↓", "next match"),
		InputPageUp:   b([]string{"pgup"}, "pgup", "page up"),
		InputPageDown: b([]string{"pgdown"}, "pgdn", "page down"),
		PickerUp:      b([]string{"up", "ctrl+p"}, "↑", "up"),
		PickerDown:    b([]string{"down", "ctrl+n"}, "↓", "down"),
		Accept:        b([]string{"enter"}, "enter", "done"),
		FilterDone:    b([]string{"enter", "tab"}, "enter", "done"),
		DeleteChar:    b([]string{"backspace", "ctrl+h"}, "backspace", "delete"),
		DeleteWord:    b([]string{"ctrl+w", "alt+backspace"}, "ctrl+w", "delete word"),
		ClearLine:     b([]string{"ctrl+u"}, "ctrl+u", "clear"),
	}
}

// KeyGroup is one titled column of the full help.
type KeyGroup struct {
	Title    string
	Bindings []key.Binding
}

// Groups are the columns of the full help. Pairs share a line ("n/N") so
// that the whole help fits 80×24.
func (k KeyMap) Groups() []KeyGroup {
	w := WithHelp
	return []KeyGroup{
		{"Move", []key.Binding{w(k.Up, "↑↓/jk", "move"), w(k.PageDown, "pgup/dn", "page"), w(k.Top, "g/G", "top/bottom"),
			k.Focus, w(k.NextTenant, "]/[", "next/prev tenant"), k.Tenants}},
		{"Devices", []key.Binding{k.Filter, w(k.Sort, "s/S", "sort/reverse"), k.Triage, w(k.Mark, "space/A", "mark/all"),
			k.History, k.Copy, k.Refresh}},
		{"Back up", []key.Binding{k.Backup, k.BackupReason, k.BackupMany, k.LastDiff, k.Watch, k.Forget, k.Shell}},
		{"History", []key.Binding{k.View, k.Diff, k.Mark, k.Copy, k.Back}},
		{"Diff / snapshot", []key.Binding{w(k.NextHunk, "n/N", "next/prev hunk"), w(k.NextSection, "]/[", "next/prev section"),
			k.Search, w(k.NextMatch, "n/N", "next/prev match"), k.Reveal, k.Wrap, w(k.ScrollRight, "←→/hl", "scroll"), k.Back}},
		{"General", []key.Binding{k.FleetSearch, k.Changes, w(k.Wider, "+/-", "changes window"), k.Log, k.Help, k.Quit}},
	}
}

// ShortKeys implements help.KeyMap for the footer.
type ShortKeys []key.Binding

// ShortHelp implements help.KeyMap.
func (s ShortKeys) ShortHelp() []key.Binding { return s }

// FullHelp implements help.KeyMap.
func (s ShortKeys) FullHelp() [][]key.Binding { return [][]key.Binding{s} }

// WithHelp is b with other help text, for a footer that names the key
// differently in one place.
func WithHelp(b key.Binding, k, desc string) key.Binding {
	b.SetHelp(k, desc)
	return b
}
