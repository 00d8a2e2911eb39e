package ui

import (
	"os/exec"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/shell"
)

// shellDoneMsg is the end of an ssh session the shell key opened.
type shellDoneMsg struct {
	target string
	err    error
}

// openShell hands the terminal to the system ssh for the device; the TUI
// is suspended until ssh exits. The device's password is not passed: the
// user's own keys, agent or a typed password log in, as with any ssh.
func (m *Model) openShell(msg common.ShellMsg) tea.Cmd {
	target := common.Clean(msg.Tenant + "/" + msg.Device.ID)
	login, note, err := shell.For(m.c.Client, msg.Tenant, msg.Device)
	var args []string
	if err == nil {
		args, err = shell.Args(login)
	}
	if err != nil {
		m.c.Tasks.Fail("cannot ssh to %s: %s", target, common.Clean(err.Error()))
		m.addLog(common.LogError, "ssh to %s: %s", target, common.Clean(err.Error()))
		return nil
	}
	path, err := exec.LookPath("ssh")
	if err != nil {
		m.c.Tasks.Fail("no ssh command found in PATH")
		m.addLog(common.LogError, "ssh to %s: no ssh command in PATH", target)
		return nil
	}
	m.addLog(common.LogInfo, "ssh to %s: %s (%s)", target, common.Clean(shell.Display(args)), note)
	return tea.ExecProcess(exec.Command(path, args...), func(err error) tea.Msg {
		return shellDoneMsg{target: target, err: err}
	})
}

func (m *Model) shellDone(msg shellDoneMsg) {
	if msg.err != nil {
		// ssh's own messages went to the terminal; the exit status says
		// whether it ended badly (255 is ssh's own failure).
		m.addLog(common.LogWarn, "ssh session to %s ended: %s", msg.target, common.Clean(msg.err.Error()))
		m.c.Tasks.Fail("ssh to %s ended: %s", msg.target, common.Clean(msg.err.Error()))
		return
	}
	m.addLog(common.LogInfo, "ssh session to %s ended", msg.target)
	m.c.Tasks.Done("ssh session to %s ended", msg.target)
}
