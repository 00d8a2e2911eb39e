package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// keyMap is the one keymap of the TUI. Screens pick the bindings they use
// for their short help; the full help (?) shows all of them by group.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Focus, NextTenant, PrevTenant, Tenants                key.Binding
	Filter, Sort, SortReverse, Mark, MarkAll, Refresh     key.Binding
	Backup, BackupMany, History, Copy, Watch, Forget, Log key.Binding

	Diff, View, NextHunk, PrevHunk, Search, NextMatch, PrevMatch key.Binding

	Back, Help, Quit, Yes, No key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+d"}, "pgdn", "page down"),
		Top:      b([]string{"home", "g"}, "g", "top"),
		Bottom:   b([]string{"end", "G"}, "G", "bottom"),

		Focus:      b([]string{"tab"}, "tab", "pane"),
		NextTenant: b([]string{"]"}, "]", "next tenant"),
		PrevTenant: b([]string{"["}, "[", "prev tenant"),
		Tenants:    b([]string{"t"}, "t", "pick tenant"),

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

		Diff:      b([]string{"d"}, "d", "diff"),
		View:      b([]string{"enter", "v"}, "enter/v", "view"),
		NextHunk:  b([]string{"n", "}"}, "n", "next hunk"),
		PrevHunk:  b([]string{"N", "{"}, "N", "prev hunk"),
		Search:    b([]string{"/"}, "/", "search"),
		NextMatch: b([]string{"n"}, "n", "next match"),
		PrevMatch: b([]string{"N"}, "N", "prev match"),

		Back: b([]string{"esc"}, "esc", "back"),
		Help: b([]string{"?"}, "?", "help"),
		Quit: b([]string{"q", "ctrl+c"}, "q", "quit"),
		Yes:  b([]string{"y", "enter"}, "y", "yes"),
		No:   b([]string{"n", "esc"}, "n/esc", "no"),
	}
}

// keyGroup is one titled column of the full help.
type keyGroup struct {
	title    string
	bindings []key.Binding
}

func (k keyMap) groups() []keyGroup {
	return []keyGroup{
		{"Move", []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Focus, k.NextTenant, k.PrevTenant, k.Tenants}},
		{"Devices", []key.Binding{k.Filter, k.Sort, k.SortReverse, k.Mark, k.MarkAll, k.Backup, k.BackupMany, k.History, k.Copy, k.Watch, k.Forget, k.Refresh}},
		{"History", []key.Binding{k.View, k.Diff, k.Mark, k.Copy, k.Back}},
		{"Diff / snapshot", []key.Binding{k.NextHunk, k.PrevHunk, k.Search, k.NextMatch, k.PrevMatch, k.Back}},
		{"General", []key.Binding{k.Log, k.Help, k.Quit}},
	}
}

// shortKeys implements help.KeyMap for the footer.
type shortKeys []key.Binding

func (s shortKeys) ShortHelp() []key.Binding  { return s }
func (s shortKeys) FullHelp() [][]key.Binding { return [][]key.Binding{s} }

func matches(msg tea.KeyPressMsg, b ...key.Binding) bool { return key.Matches(msg, b...) }
