package ui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/ui/common"
)

// wheelStep is how many lines one wheel notch scrolls.
const wheelStep = 3

func (m *Model) onClick(ms tea.Mouse) tea.Cmd {
	if !m.c.Sized || ms.Button != tea.MouseLeft {
		return nil
	}
	y := ms.Y - 1 // body coordinates: the status bar is line 0
	if y < 0 || y >= m.c.BodyHeight() {
		return nil
	}
	if m.ov.Active() {
		return m.ov.Update(common.ClickMsg{X: ms.X, Y: y})
	}
	switch m.screen() {
	case screenFleet:
		return m.fleet.Update(common.ClickMsg{X: ms.X, Y: y})
	case screenHistory:
		if m.hist != nil {
			m.hist.Update(common.ClickMsg{X: ms.X, Y: y})
		}
	case screenSearch:
		if m.srch != nil {
			m.srch.Update(common.ClickMsg{X: ms.X, Y: y})
		}
	case screenChanges:
		if m.chg != nil {
			m.chg.Update(common.ClickMsg{X: ms.X, Y: y})
		}
	}
	return nil
}

func (m *Model) onWheel(ms tea.Mouse) tea.Cmd {
	if !m.c.Sized || m.ov.Active() {
		return nil
	}
	var delta int
	switch ms.Button {
	case tea.MouseWheelUp:
		delta = -wheelStep
	case tea.MouseWheelDown:
		delta = wheelStep
	default:
		return nil
	}
	switch m.screen() {
	case screenFleet:
		m.fleet.Update(common.WheelMsg{X: ms.X, Y: ms.Y - 1, Delta: delta})
	case screenHistory:
		if m.hist != nil {
			return m.hist.Update(common.WheelMsg{X: ms.X, Y: ms.Y - 1, Delta: delta})
		}
	case screenDiff:
		if m.diff != nil {
			m.diff.Update(common.WheelMsg{X: ms.X, Y: ms.Y - 1, Delta: delta})
		}
	case screenSnapshot:
		if m.snap != nil {
			m.snap.Update(common.WheelMsg{X: ms.X, Y: ms.Y - 1, Delta: delta})
		}
	case screenLog:
		m.logv.Update(common.WheelMsg{X: ms.X, Y: ms.Y - 1, Delta: delta})
	case screenSearch:
		if m.srch != nil {
			m.srch.Update(common.WheelMsg{X: ms.X, Y: ms.Y - 1, Delta: delta})
		}
	case screenChanges:
		if m.chg != nil {
			m.chg.Update(common.WheelMsg{X: ms.X, Y: ms.Y - 1, Delta: delta})
		}
	}
	return nil
}
