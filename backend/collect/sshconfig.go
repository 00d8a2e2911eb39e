package collect

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"

	"github.com/cfgsnap/cfgsnap/backend/proxyjump"
)

// SSHConfig is the user's OpenSSH client configuration (~/.ssh/config or
// --ssh-config FILE). cfgsnap reads from it, for a device's host as the
// inventory names it, only HostName, Port, User, IdentityFile and
// ProxyJump, and only where the inventory leaves the setting open: the
// inventory is what the whole team shares, the ssh_config one person's.
type SSHConfig struct {
	Path string
	cfg  *ssh_config.Config
}

// maxSSHConfig bounds the read: a client config is a few KiB.
const maxSSHConfig = 4 << 20

// DefaultSSHConfigPath is ~/.ssh/config, or "" without a home directory.
func DefaultSSHConfigPath() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".ssh", "config")
}

// LoadSSHConfig parses the OpenSSH client config at path. A missing file is
// no config (nil, nil) when optional is set, as for the default
// ~/.ssh/config; a file named on the command line must exist.
func LoadSSHConfig(path string, optional bool) (*SSHConfig, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	if len(data) > maxSSHConfig {
		return nil, fmt.Errorf("read ssh config %s: larger than %d MiB; is this the right file?", path, maxSSHConfig>>20)
	}
	cfg, err := ssh_config.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse ssh config %s: %w", path, err)
	}
	return &SSHConfig{Path: path, cfg: cfg}, nil
}

// sshHost is what the config says about one host alias.
type sshHost struct {
	HostName      string
	Port          int
	User          string
	IdentityFiles []string
	ProxyJump     string
}

func (c *SSHConfig) lookup(alias string) (sshHost, error) {
	var h sshHost
	if c == nil || c.cfg == nil {
		return h, nil
	}
	get := func(key string) (string, error) {
		v, err := c.cfg.Get(alias, key)
		if err != nil {
			return "", fmt.Errorf("%s of %s in %s: %w", key, alias, c.Path, err)
		}
		return strings.TrimSpace(v), nil
	}
	var err error
	if h.HostName, err = get("HostName"); err != nil {
		return h, err
	}
	h.HostName = strings.ReplaceAll(h.HostName, "%h", alias)
	port, err := get("Port")
	if err != nil {
		return h, err
	}
	if port != "" {
		n, perr := strconv.Atoi(port)
		if perr != nil || n < 1 || n > 65535 {
			return h, fmt.Errorf("the Port of %s in %s is %q: not a port number", alias, c.Path, port)
		}
		h.Port = n
	}
	if h.User, err = get("User"); err != nil {
		return h, err
	}
	if h.ProxyJump, err = get("ProxyJump"); err != nil {
		return h, err
	}
	files, err := c.cfg.GetAll(alias, "IdentityFile")
	if err != nil {
		return h, fmt.Errorf("IdentityFile of %s in %s: %w", alias, c.Path, err)
	}
	h.IdentityFiles = files
	return h, nil
}

// resolve fills the settings t leaves open from the config entry for
// t.Host: HostName replaces the address (the inventory's host is then an
// alias), Port and User apply where the inventory only has its defaults,
// IdentityFile where the inventory names none, ProxyJump where the
// inventory says nothing (proxy_jump: none turns it off).
func (c *SSHConfig) resolve(t Target) (Target, error) {
	if c == nil {
		return t, nil
	}
	alias := t.Host
	h, err := c.lookup(alias)
	if err != nil {
		return t, err
	}
	if h.HostName != "" {
		t.Host = h.HostName
	}
	if h.Port != 0 && (t.Port == 0 || t.Implicit.Port) {
		t.Port = h.Port
	}
	if h.User != "" && (t.Auth.Username == "" || t.Implicit.Username) {
		t.Auth.Username = h.User
	}
	if t.Auth.IdentityFile == "" {
		for _, f := range h.IdentityFiles {
			p, err := expandIdentityPath(f, alias, t.Host, t.Auth.Username)
			if err != nil {
				return t, fmt.Errorf("IdentityFile %q of %s in %s: %w", f, alias, c.Path, err)
			}
			// Like OpenSSH, a listed key that does not exist is skipped
			// (Host * entries name keys some machines lack).
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				continue
			}
			t.Auth.IdentityFile = p
			t.identityFrom = c.Path
			break
		}
	}
	if t.ProxyJump == "" && h.ProxyJump != "" {
		t.ProxyJump = h.ProxyJump
		t.proxyJumpFrom = c.Path
	}
	return t, nil
}

// resolveHop applies the config to one jump host the same way.
func (c *SSHConfig) resolveHop(hop proxyjump.Hop) (proxyjump.Hop, []string, error) {
	if c == nil {
		return hop, nil, nil
	}
	h, err := c.lookup(hop.Host)
	if err != nil {
		return hop, nil, err
	}
	alias := hop.Host
	if h.HostName != "" {
		hop.Host = h.HostName
	}
	if hop.Port == 0 {
		hop.Port = h.Port
	}
	if hop.User == "" {
		hop.User = h.User
	}
	var ids []string
	for _, f := range h.IdentityFiles {
		p, err := expandIdentityPath(f, alias, hop.Host, hop.User)
		if err != nil {
			return hop, nil, fmt.Errorf("IdentityFile %q of %s in %s: %w", f, alias, c.Path, err)
		}
		if _, err := os.Stat(p); err == nil {
			ids = append(ids, p)
		}
	}
	return hop, ids, nil
}

// expandIdentityPath expands ~ and the tokens OpenSSH documents for
// IdentityFile that make sense here; other tokens are refused rather than
// read as a literal file name.
func expandIdentityPath(p, alias, host, remoteUser string) (string, error) {
	home, _ := os.UserHomeDir()
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home == "" {
			return "", errors.New("cannot expand ~: no home directory")
		}
		p = filepath.Join(home, p[1:])
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+1 >= len(p) {
			return "", errors.New("ends with a lone %")
		}
		i++
		switch p[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(home)
		case 'h':
			b.WriteString(host)
		case 'n':
			b.WriteString(alias)
		case 'r':
			b.WriteString(remoteUser)
		case 'u':
			u, err := user.Current()
			if err != nil {
				return "", fmt.Errorf("cannot expand %%u: %w", err)
			}
			b.WriteString(u.Username)
		default:
			return "", fmt.Errorf("token %%%c is not supported by cfgsnap", p[i])
		}
	}
	return b.String(), nil
}

// identityModeProblem is the inventory's load-time rule, applied when an
// identity file is used: a private key that group or others may read or
// write is refused, as OpenSSH refuses it. Keys named by ~/.ssh/config are
// only seen here.
func identityModeProblem(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if !fi.Mode().IsRegular() {
		return "is not a regular file"
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 && runtime.GOOS != "windows" {
		return fmt.Sprintf("is open to group or others (mode %04o) and holds a credential: run chmod 600 %s", mode, path)
	}
	return ""
}
