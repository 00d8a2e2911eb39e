package fleet

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
)

// Model is the fleet screen: tenants and the devices of the selected one.
type Model struct {
	c      *common.Common
	jobs   *jobs.Model
	bridge jobs.Bridge

	tenants        []api.Tenant
	tenantsErr     error
	tenantsLoading bool
	tenantReq      int
	tenant         int
	tenantOffset   int
	focusTenants   bool

	fleet     fleetState
	snapWatch snapWatch
	rows      rowCache
}

// New returns the fleet screen; the row states come from q, and snapshot
// notifications go through b.
func New(c *common.Common, q *jobs.Model, b jobs.Bridge) *Model {
	m := &Model{c: c, jobs: q, bridge: b}
	m.fleet.init()
	return m
}

// SnapshotMsg is a snapshot stored by anyone in a tenant (through the
// bridge).
type SnapshotMsg struct {
	Tenant string
	Rec    api.SnapshotRecord
}

// Update handles the fleet's replies, the keys and mouse while it is in
// front, and what other components send it.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tenantsMsg:
		return m.onTenants(msg)
	case devicesMsg:
		return m.onDevices(msg)
	case snapWatchMsg:
		m.onSnapWatch(msg)
	case forgotMsg:
		m.onForget(msg)
	case SnapshotMsg:
		m.onSnapshot(msg)
	case jobs.ResultMsg:
		m.onResult(msg)
	case jobs.QueuedMsg:
		if m.fleet.sort == sortState {
			m.resortKeep()
		}
	case common.BackupMsg:
		if i, ok := m.fleet.index[msg.Device]; ok && m.fleet.tenant == msg.Tenant {
			return m.jobs.Enqueue(msg.Tenant, []api.Device{m.fleet.devices[i]})
		}
	case tea.KeyPressMsg:
		if m.fleet.filtering {
			m.filterKey(msg)
			return nil
		}
		return m.fleetKey(msg)
	case tea.PasteMsg:
		if m.fleet.filtering {
			m.fleet.filter.Paste(msg.Content)
			m.resortKeep()
		}
	case common.ClickMsg:
		return m.click(msg.X, msg.Y)
	case common.WheelMsg:
		m.wheel(msg.X, msg.Y, msg.Delta)
	}
	return nil
}

// Filtering reports whether the filter input has the keyboard.
func (m *Model) Filtering() bool { return m.fleet.filtering }

// Loading reports whether tenants or devices are being fetched.
func (m *Model) Loading() bool { return m.tenantsLoading || m.fleet.loading }

// Tenant is the ID of the tenant whose devices are shown.
func (m *Model) Tenant() string { return m.fleet.tenant }

// TenantIndex is the position of the selected tenant.
func (m *Model) TenantIndex() int { return m.tenant }

// CurrentTenant is the ID of the selected tenant, "" before any loaded.
func (m *Model) CurrentTenant() string {
	if m.tenant >= 0 && m.tenant < len(m.tenants) {
		return m.tenants[m.tenant].ID
	}
	return ""
}

// TenantName is the name of tenant id, or id when it has none.
func (m *Model) TenantName(id string) string { return m.tenantName(id) }

// DeviceCount is how many devices the shown tenant has.
func (m *Model) DeviceCount() int { return len(m.fleet.devices) }

// Current is the device under the cursor.
func (m *Model) Current() (api.Device, bool) { return m.fleet.current() }

// Offset is the first device row shown.
func (m *Model) Offset() int { return m.fleet.Offset }

// FocusTenants reports whether the tenant pane has the keyboard.
func (m *Model) FocusTenants() bool { return m.focusTenants }

// Shown is the IDs of the devices listed, in order.
func (m *Model) Shown() []string {
	out := make([]string, len(m.fleet.view))
	for i, di := range m.fleet.view {
		out[i] = m.fleet.devices[di].ID
	}
	return out
}

// Select moves the cursor to device id if it is shown.
func (m *Model) Select(id string) bool {
	f := &m.fleet
	for i, di := range f.view {
		if f.devices[di].ID == id {
			f.Cursor = i
			f.Clamp(len(f.view), m.listRows())
			return true
		}
	}
	return false
}

// Request is the tenant and request number of the latest devices
// request, for replies built outside (benchmarks).
func (m *Model) Request() (tenant string, req int) { return m.fleet.tenant, m.fleet.req }

// DevicesReply is the reply to request req for tenant's devices.
func DevicesReply(req int, tenant string, devs []api.Device) tea.Msg {
	return devicesMsg{req: req, tenant: tenant, devices: devs}
}

// SelectTenant shows tenant i of the list.
func (m *Model) SelectTenant(i int) tea.Cmd { return m.selectTenant(i, i != m.tenant) }

// BackupAll backs up every device of tenant, if it is still shown.
func (m *Model) BackupAll(tenant string) tea.Cmd { return m.backupAll(tenant) }

// Reload loads the devices of the shown tenant again.
func (m *Model) Reload() tea.Cmd { return m.loadDevices() }

// LoadTenants loads the tenant list.
func (m *Model) LoadTenants() tea.Cmd { return m.loadTenants() }

// Resize keeps cursors valid after a change of window size; a narrow
// window has no tenant pane to focus.
func (m *Model) Resize() {
	if !m.c.Wide() {
		m.focusTenants = false
	}
	m.fleet.Clamp(len(m.fleet.view), m.listRows())
}

// Shutdown stops the snapshot watch.
func (m *Model) Shutdown() { m.stopSnapWatch() }

// ShortHelp is the footer's key help, with the keys that apply to the
// selected device first.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	if m.focusTenants && m.c.Wide() {
		return []key.Binding{k.Down, k.Up, common.WithHelp(k.Focus, "enter/tab", "devices"), k.Help, k.Quit}
	}
	var b []key.Binding
	if d, ok := m.fleet.current(); ok {
		s := m.rowState(d)
		if s.Kind == jobs.StLocked {
			b = append(b, k.Watch)
		}
		if s.Kind == jobs.StFailed && s.Err == api.KindHostKeyMismatch {
			b = append(b, k.Forget)
		}
	}
	// What does not fit is cut from the end: ? and q come early.
	// The fleet-wide questions come right after: they are what on call
	// asks first ("which routers carry X", "what changed").
	b = append(b, k.Backup, k.BackupMany, k.History, k.Filter, k.Help, k.Quit, k.FleetSearch, k.Changes, k.Mark)
	if !m.c.Wide() {
		b = append(b, common.WithHelp(k.NextTenant, "[ ] t", "tenant"))
	}
	if d, ok := m.fleet.current(); ok && d.LastBackup != nil {
		b = append(b, k.Copy)
	}
	b = append(b, k.Sort, k.Triage, k.BackupReason, k.LastDiff, k.Shell)
	if m.c.Wide() {
		b = append(b, k.Focus)
	}
	return append(b, k.Log)
}
