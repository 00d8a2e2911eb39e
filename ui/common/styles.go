package common

import (
	"image/color"
	"strings"
	"sync/atomic"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Styles is every style of the TUI. It is built once per colour mode and
// background (light or dark) so that no render function decides colours on
// its own.
type Styles struct {
	NoColor bool
	id      uint64 // which NewStyles call made them: see ID

	StatusBar  lipgloss.Style
	StatusApp  lipgloss.Style
	ConnOK     lipgloss.Style
	ConnWarn   lipgloss.Style
	ConnBad    lipgloss.Style
	Title      lipgloss.Style // a pane's title when it has the focus
	TitleBlur  lipgloss.Style // a pane's title otherwise
	Rule       lipgloss.Style // separators between panes and sections
	Header     lipgloss.Style // table column headers
	Selected   lipgloss.Style // the cursor row of the focused pane
	SelBlur    lipgloss.Style // the cursor row of a pane without focus
	Mark       lipgloss.Style
	Dim        lipgloss.Style
	Bold       lipgloss.Style
	Hash       lipgloss.Style
	OK         lipgloss.Style
	Warn       lipgloss.Style
	Bad        lipgloss.Style
	Running    lipgloss.Style
	DiffAdd    lipgloss.Style
	DiffDel    lipgloss.Style
	DiffHunk   lipgloss.Style
	DiffFile   lipgloss.Style
	LineNo     lipgloss.Style
	Match      lipgloss.Style
	MatchCur   lipgloss.Style
	Key        lipgloss.Style
	Desc       lipgloss.Style
	Dialog     lipgloss.Style
	DialogDang lipgloss.Style
	Input      lipgloss.Style
	New        lipgloss.Style // snapshots that arrived while looking
}

// stylesMade numbers the NewStyles calls.
var stylesMade atomic.Uint64

// ID tells styles made by different NewStyles calls apart, so a cache of
// rendered lines can key on it instead of comparing every style.
func (s *Styles) ID() uint64 { return s.id }

// NewStyles builds the styles. With noColor every colour is dropped and
// emphasis relies on attributes (bold, reverse, faint) that NO_COLOR
// terminals still render.
func NewStyles(noColor, isDark bool) Styles {
	ld := lipgloss.LightDark(isDark)
	c := func(light, dark string) color.Color {
		if noColor {
			return lipgloss.NoColor{}
		}
		return ld(lipgloss.Color(light), lipgloss.Color(dark))
	}
	fg := func(light, dark string) lipgloss.Style { return lipgloss.NewStyle().Foreground(c(light, dark)) }

	accent := c("25", "75")
	green, red, amber := c("28", "78"), c("160", "203"), c("130", "221")

	s := Styles{NoColor: noColor, id: stylesMade.Add(1)}
	s.StatusBar = lipgloss.NewStyle().Foreground(c("235", "252")).Background(c("252", "236"))
	s.StatusApp = s.StatusBar.Bold(true).Foreground(accent)
	s.ConnOK = s.StatusBar.Foreground(green)
	s.ConnWarn = s.StatusBar.Foreground(amber).Bold(true)
	s.ConnBad = s.StatusBar.Foreground(red).Bold(true)
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.TitleBlur = fg("243", "245")
	s.Rule = fg("250", "239")
	s.Header = fg("243", "245").Bold(true)
	s.Selected = lipgloss.NewStyle().Background(c("254", "237")).Bold(true)
	s.SelBlur = lipgloss.NewStyle().Background(c("255", "235"))
	s.Mark = lipgloss.NewStyle().Foreground(amber).Bold(true)
	s.Dim = fg("243", "245")
	s.Bold = lipgloss.NewStyle().Bold(true)
	s.Hash = fg("91", "183")
	s.OK = lipgloss.NewStyle().Foreground(green)
	s.Warn = lipgloss.NewStyle().Foreground(amber)
	s.Bad = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Running = lipgloss.NewStyle().Foreground(accent)
	s.DiffAdd = lipgloss.NewStyle().Foreground(green)
	s.DiffDel = lipgloss.NewStyle().Foreground(red)
	s.DiffHunk = fg("30", "80")
	s.DiffFile = lipgloss.NewStyle().Bold(true)
	s.LineNo = fg("248", "240")
	s.Match = lipgloss.NewStyle().Foreground(c("232", "232")).Background(c("222", "222"))
	s.MatchCur = lipgloss.NewStyle().Foreground(c("232", "232")).Background(c("214", "214")).Bold(true)
	s.Key = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.Desc = fg("240", "250")
	s.Dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	s.DialogDang = s.Dialog.BorderForeground(red)
	s.Input = lipgloss.NewStyle().Bold(true)
	s.New = lipgloss.NewStyle().Foreground(green).Bold(true)

	if noColor {
		// Without colour the cursor row, the status bar and search matches
		// still have to stand out.
		s.StatusBar = lipgloss.NewStyle().Reverse(true)
		s.StatusApp = s.StatusBar.Bold(true)
		s.ConnOK = s.StatusBar
		s.ConnWarn = s.StatusBar.Bold(true)
		s.ConnBad = s.StatusBar.Bold(true)
		s.Selected = lipgloss.NewStyle().Reverse(true)
		s.SelBlur = lipgloss.NewStyle().Underline(true)
		s.Match = lipgloss.NewStyle().Underline(true)
		s.MatchCur = lipgloss.NewStyle().Reverse(true)
		s.Dim = lipgloss.NewStyle().Faint(true)
		s.LineNo = lipgloss.NewStyle().Faint(true)
		s.DiffHunk = lipgloss.NewStyle().Faint(true)
		s.DiffAdd = lipgloss.NewStyle().Bold(true)
	}
	return s
}

// HelpStyles matches bubbles' help to ours.
func (s Styles) HelpStyles() help.Styles {
	return help.Styles{
		Ellipsis:       s.Dim,
		ShortKey:       s.Key,
		ShortDesc:      s.Desc,
		ShortSeparator: s.Rule,
		FullKey:        s.Key,
		FullDesc:       s.Desc,
		FullSeparator:  s.Rule,
	}
}

// Sel returns st as it looks on the cursor row: the row's background (or
// reverse video) under the cell's own foreground.
func (s *Styles) Sel(st lipgloss.Style, selected, focused bool) lipgloss.Style {
	if !selected {
		return st
	}
	if focused {
		return st.Inherit(s.Selected)
	}
	return st.Inherit(s.SelBlur)
}

// SectionRule is a titled horizontal rule: "── Jobs · 2 running ─────".
func (s *Styles) SectionRule(title string, w int) string {
	t := "── " + Trunc(title, max(w-4, 1)) + " "
	return s.Rule.Render("── ") + s.Bold.Render(Trunc(title, max(w-4, 1))) + " " + s.Rule.Render(strings.Repeat("─", max(w-Width(t), 0)))
}
