// Package shell opens an interactive SSH session to a device from the
// TUI: the system ssh runs in the terminal (tea.ExecProcess) so that the
// user's agent, keys, ProxyJump and ~/.ssh/config apply, and the TUI comes
// back when it ends.
package shell

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

// Login is where ssh goes. User is empty when it is not known (remote
// mode): ssh's own config and defaults decide then. KnownHosts are files
// ssh checks the host key against; empty keeps ssh's default.
type Login struct {
	Host       string
	Port       int
	User       string
	KnownHosts []string
}

// logins is what a client that knows the inventory offers (direct mode).
type logins interface {
	ShellLogin(tenant, device string) (client.ShellLogin, error)
}

// For returns the login of device d of tenant and a note for the log
// saying where its parts came from.
func For(c client.Client, tenant string, d api.Device) (Login, string, error) {
	if lc, ok := c.(logins); ok && c.Mode() == client.ModeDirect {
		l, err := lc.ShellLogin(tenant, d.ID)
		if err != nil {
			return Login{}, "", err
		}
		return Login{Host: l.Host, Port: l.Port, User: l.User, KnownHosts: l.KnownHosts},
			"host, port, user and known_hosts from the inventory", nil
	}
	if d.Host == "" {
		return Login{}, "", api.Errorf(api.KindNotFound, "the device list has no host for %s/%s", tenant, d.ID)
	}
	return Login{Host: d.Host, Port: d.Port},
		"remote mode: host and port from the service's device list; user and known_hosts from your ssh config", nil
}

// Args is the argument list of ssh for l (without "ssh" itself). The host
// comes after "--" so that a host starting with "-" is never an option.
func Args(l Login) ([]string, error) {
	host := strings.TrimSpace(l.Host)
	if host == "" || strings.ContainsAny(host, " \t\r\n@") {
		return nil, fmt.Errorf("not a host to ssh to: %q", l.Host)
	}
	if strings.ContainsAny(l.User, " \t\r\n@") {
		return nil, fmt.Errorf("not a user name to ssh as: %q", l.User)
	}
	var args []string
	if l.Port > 0 && l.Port != 22 {
		args = append(args, "-p", strconv.Itoa(l.Port))
	}
	if l.User != "" {
		args = append(args, "-l", l.User)
	}
	if len(l.KnownHosts) > 0 {
		files := make([]string, len(l.KnownHosts))
		for i, f := range l.KnownHosts {
			files[i] = quote(f)
		}
		args = append(args, "-o", "UserKnownHostsFile="+strings.Join(files, " "))
	}
	return append(args, "--", host), nil
}

// quote double-quotes a path with blanks, as ssh's option parser reads it.
func quote(p string) string {
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}

// Display is the command line as a person would type it, for the log.
func Display(args []string) string {
	out := []string{"ssh"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t\"") {
			a = "'" + a + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}
