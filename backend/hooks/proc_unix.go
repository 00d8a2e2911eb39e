//go:build unix

package hooks

import (
	"os/exec"
	"syscall"
)

// ownGroup puts the hook in a process group of its own and makes a
// cancelled hook kill that whole group: `/bin/sh -c "mail ... | curl ..."`
// starts children, and killing only the shell would leave them running
// past the timeout.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
