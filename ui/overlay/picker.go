package overlay

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// picker is the tenant picker: a filter over the tenants.
type picker struct {
	cursor  int
	filter  common.LineInput
	tenants []api.Tenant
}

// OpenPicker opens the tenant picker on tenants, at the current one.
func (m *Model) OpenPicker(tenants []api.Tenant, current int) {
	if len(tenants) == 0 {
		return
	}
	m.kind = Picker
	m.picker = picker{cursor: current, tenants: tenants}
}

func (m *Model) pickerItems() []int {
	q := strings.ToLower(m.picker.filter.String())
	var out []int
	for i, t := range m.picker.tenants {
		if common.Subsequence(strings.ToLower(t.ID+" "+t.Name), q) {
			out = append(out, i)
		}
	}
	return out
}

func (m *Model) pick(i int) {
	m.Close()
	m.c.Send(PickMsg{Index: i})
}

func (m *Model) pickerKey(msg tea.KeyPressMsg) {
	p := &m.picker
	items := m.pickerItems()
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Back):
		m.Close()
		return
	case key.Matches(msg, k.Interrupt):
		m.Close()
		m.c.Send(RequestQuitMsg{})
		return
	case key.Matches(msg, k.Accept):
		if p.cursor >= 0 && p.cursor < len(items) {
			m.pick(items[p.cursor])
		} else {
			m.Close()
		}
		return
	case key.Matches(msg, k.PickerUp):
		p.cursor--
	case key.Matches(msg, k.PickerDown):
		p.cursor++
	default:
		if changed, _ := p.filter.Edit(msg, k); changed {
			p.cursor = 0
		}
	}
	p.cursor = min(max(p.cursor, 0), max(len(m.pickerItems())-1, 0))
}

// pickerRows is how many tenants the picker shows in a body bh high.
func pickerRows(bh int) int { return max(bh-6, 3) }

func (m *Model) pickerView(w, bh int) string {
	st := &m.c.Styles
	items := m.pickerItems()
	inner := min(w-6, 50)
	lines := []string{st.Bold.Render("Tenant") + st.Dim.Render(" (type to filter)"), st.Key.Render("/") + common.Clean(m.picker.filter.String()) + "█"}
	rows := pickerRows(bh)
	start := max(m.picker.cursor-rows+1, 0)
	for k := start; k < len(items) && k < start+rows; k++ {
		lines = append(lines, common.RenderTenantRow(m.picker.tenants[items[k]], inner, k == m.picker.cursor, true, st))
	}
	if len(items) == 0 {
		lines = append(lines, st.Dim.Render("no tenant matches"))
	}
	lines = append(lines, "", st.Key.Render("enter")+" select"+st.Dim.Render(" · ")+st.Key.Render("esc")+" cancel")
	for i := range lines {
		lines[i] = common.Fit(lines[i], inner)
	}
	return st.Dialog.Render(strings.Join(lines, "\n"))
}

// pickerClick selects the clicked tenant: rows start after the border,
// the title and the filter line.
func (m *Model) pickerClick(y int) {
	bh := m.c.BodyHeight()
	box := strings.Split(m.pickerView(m.c.Width, bh), "\n")
	top := max((bh-len(box))/2, 0)
	items := m.pickerItems()
	rows := pickerRows(bh)
	start := max(m.picker.cursor-rows+1, 0)
	k := start + (y - top - 3)
	if y-top-3 >= 0 && k < len(items) && k < start+rows {
		m.pick(items[k])
	}
}
