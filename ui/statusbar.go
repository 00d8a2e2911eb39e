package ui

import (
	"charm.land/bubbles/v2/key"

	"github.com/cfgsnap/cfgsnap/ui/statusbar"
)

// statusInfo is what the status bar shows of the fleet and the jobs.
func (m *Model) statusInfo() statusbar.Info {
	in := statusbar.Info{Conn: m.conn, Tenant: m.fleet.CurrentTenant(), Devices: m.fleet.DeviceCount()}
	if in.Tenant != "" {
		in.TenantName = m.fleet.TenantName(in.Tenant)
	}
	in.Running, in.Waiting, in.Watching, _ = m.jobs.Counts()
	if m.screen() == screenFleet && m.fleet.Triage() {
		in.Triage = m.fleet.TriageCounts()
		if in.Triage == "" {
			in.Triage = "all healthy"
		}
	}
	return in
}

func (m *Model) shortHelp() []key.Binding {
	k := m.c.Keys
	if m.ov.Active() {
		return m.ov.ShortHelp()
	}
	if m.screen() == screenSearch && m.srch != nil {
		return m.srch.ShortHelp() // its own input help: enter opens there
	}
	if m.inputActive() {
		return statusbar.InputHelp(&k)
	}
	switch m.screen() {
	case screenHistory:
		if m.hist != nil {
			return m.hist.ShortHelp()
		}
	case screenDiff:
		if m.diff != nil {
			return m.diff.ShortHelp()
		}
	case screenSnapshot:
		if m.snap != nil {
			return m.snap.ShortHelp()
		}
	case screenLog:
		return m.logv.ShortHelp()
	case screenSearch:
		if m.srch != nil {
			return m.srch.ShortHelp()
		}
	case screenChanges:
		if m.chg != nil {
			return m.chg.ShortHelp()
		}
	}
	return m.fleet.ShortHelp()
}
