package fleet

import (
	"context"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/detail"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
	"github.com/cfgsnap/cfgsnap/ui/overlay"
)

// Forgetting a host key.

type forgotMsg struct {
	task   int
	tenant string
	device string
	name   string
	err    error
}

func (m *Model) askForget(d api.Device) {
	key := jobs.Key{Tenant: m.fleet.tenant, Device: d.ID}
	lines := []string{
		fmt.Sprintf("The recorded SSH host key of %s (%s) is removed; the next backup trusts and records whatever key the device presents then.", common.Clean(name(d)), common.Clean(d.Host)),
		"Only do this after checking the new fingerprint with whoever runs the device.",
	}
	errText := ""
	if r := m.jobs.Result(key); r != nil && r.Reply != nil && r.Reply.ErrorKind == api.KindHostKeyMismatch {
		errText = r.Reply.Error
	} else if d.LastError != nil && d.LastError.Kind == api.KindHostKeyMismatch {
		errText = d.LastError.Error
	}
	if pres, _ := detail.Fingerprints(errText); pres != "" {
		lines = append(lines, "It presented: "+pres)
	}
	if m.c.Mode() == client.ModeRemote {
		lines = append(lines, "Remote mode: the key is kept by the backup service, which may refuse; then run 'cfgsnap hostkey forget "+common.Clean(key.String())+"' on its host.")
	}
	m.c.Send(overlay.AskMsg{Q: &overlay.Question{
		Ask: overlay.AskForget, Title: "Forget the host key of " + common.Clean(name(d)) + "?",
		Lines: lines, Yes: "forget the old key", Danger: true, Tenant: m.fleet.tenant, Device: d,
	}})
}

// Forget asks the backend to forget the recorded host key of d.
func (m *Model) Forget(tenant string, d api.Device) tea.Cmd {
	if m.c.Client == nil {
		return nil
	}
	id := m.c.Tasks.Start("forgetting the host key of " + common.Clean(name(d)) + "…")
	c, ctx := m.c.Client, m.c.Ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
		defer cancel()
		err := c.ForgetHostKey(ctx, tenant, d.ID)
		return forgotMsg{task: id, tenant: tenant, device: d.ID, name: name(d), err: err}
	}
}

func (m *Model) onForget(msg forgotMsg) {
	key := jobs.Key{Tenant: msg.tenant, Device: msg.device}
	if msg.err != nil {
		m.c.Tasks.Finish(msg.task, false, "could not forget the host key of "+common.Clean(msg.name)+": "+common.Clean(msg.err.Error()))
		m.c.Log(common.LogError, "forget host key of %s: %s", key, common.Clean(msg.err.Error()))
		return
	}
	m.c.Tasks.Finish(msg.task, true, "forgot the host key of "+common.Clean(msg.name)+": b records the new one")
	m.c.Log(common.LogOK, "forgot the recorded host key of %s", key)
	m.jobs.Forget(key)
	if msg.tenant == m.fleet.tenant {
		if i, ok := m.fleet.index[msg.device]; ok {
			m.fleet.devices[i].LastError = nil
		}
	}
}
