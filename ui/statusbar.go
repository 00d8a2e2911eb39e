package ui

import (
	"charm.land/bubbles/v2/key"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
	"github.com/cfgsnap/cfgsnap/ui/statusbar"
)

// statusInfo is what the status bar shows of the fleet and the jobs.
func (m *Model) statusInfo() statusbar.Info {
	in := statusbar.Info{Conn: m.conn, Tenant: m.currentTenant(), Devices: len(m.fleet.devices)}
	if in.Tenant != "" {
		in.TenantName = m.tenantName(in.Tenant)
	}
	in.Running, in.Waiting, in.Watching, _ = m.jobs.Counts()
	return in
}

func (m *Model) shortHelp() []key.Binding {
	k := m.c.Keys
	if m.ov.Active() {
		return m.ov.ShortHelp()
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
	}
	if m.focusTenants && m.c.Wide() {
		return []key.Binding{k.Down, k.Up, common.WithHelp(k.Focus, "enter/tab", "devices"), k.Help, k.Quit}
	}
	var b []key.Binding
	if d, ok := m.fleet.current(); ok {
		s := m.jobs.State(m.fleet.tenant, d)
		if s.Kind == jobs.StLocked {
			b = append(b, k.Watch)
		}
		if s.Kind == jobs.StFailed && s.Err == api.KindHostKeyMismatch {
			b = append(b, k.Forget)
		}
	}
	// What does not fit is cut from the end: ? and q come early.
	b = append(b, k.Backup, k.BackupMany, k.History, k.Filter, k.Help, k.Quit, k.Mark)
	if !m.c.Wide() {
		b = append(b, common.WithHelp(k.NextTenant, "[ ] t", "tenant"))
	}
	if d, ok := m.fleet.current(); ok && d.LastBackup != nil {
		b = append(b, k.Copy)
	}
	b = append(b, k.Sort)
	if m.c.Wide() {
		b = append(b, k.Focus)
	}
	return append(b, k.Log)
}
