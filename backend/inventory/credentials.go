package inventory

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Credentials say how to log in to a device, after merging the defaults
// (device, else tenant defaults, else file defaults). The three password
// sources count as one setting: a device that sets password_file no longer
// sees its tenant's password_env. Paths are absolute.
//
// A Credentials value never formats its password: String, every fmt verb,
// JSON and slog show "<redacted>" instead, so a Device can be logged.
type Credentials struct {
	PasswordEnv  string // name of an environment variable holding the password
	PasswordFile string // file holding the password
	IdentityFile string // private key file
	Password     string // inline password (warned about at load)
	// UseAgent offers the ssh-agent's keys ($SSH_AUTH_SOCK) to the device,
	// after the identity file. Off unless the inventory says use_agent:
	// true: every key offered is shown to the device, rogue ones included.
	UseAgent bool
}

// maxPasswordFile bounds the read of a password file; a password is short,
// and a mistaken path must not read a disk image into memory.
const maxPasswordFile = 64 << 10

// ResolvePassword returns the password from the environment, the password
// file or the inventory, or "" when no password source is set (the caller
// then relies on the identity file or the ssh-agent).
func (c Credentials) ResolvePassword() (string, error) {
	switch {
	case c.PasswordEnv != "":
		v, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password_env: environment variable %s is not set: export it in the shell that runs cfgsnap", c.PasswordEnv)
		}
		if v == "" {
			return "", fmt.Errorf("password_env: environment variable %s is empty: set it to the device password", c.PasswordEnv)
		}
		return v, nil
	case c.PasswordFile != "":
		return readPasswordFile(c.PasswordFile)
	default:
		return c.Password, nil
	}
}

func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("password_file %s: %w", path, err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("password_file %s: larger than %d KiB, not a password file", path, maxPasswordFile>>10)
	}
	// Editors and `echo pw > file` add one newline; everything else is
	// part of the password.
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("password_file %s is empty: write the device password into it", path)
	}
	return s, nil
}

// String describes the credentials without revealing a secret, e.g.
// "password_env=ACME_PW identity_file=~/.ssh/id_ed25519".
func (c Credentials) String() string {
	var parts []string
	if c.PasswordEnv != "" {
		parts = append(parts, "password_env="+c.PasswordEnv)
	}
	if c.PasswordFile != "" {
		parts = append(parts, "password_file="+displayPath(c.PasswordFile))
	}
	if c.Password != "" {
		parts = append(parts, "password=<redacted>")
	}
	if c.IdentityFile != "" {
		parts = append(parts, "identity_file="+displayPath(c.IdentityFile))
	}
	if c.UseAgent {
		parts = append(parts, "use_agent=true")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x, %d...) print
// String, so that no formatting of a Device or Credentials leaks the
// password.
func (c Credentials) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", c.String())
	default:
		_, _ = io.WriteString(f, c.String()) // fmt.Formatter has no error to return
	}
}

// LogValue keeps slog's JSON handler, which does not use fmt, from
// printing the password.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON writes the credential sources with the inline password
// replaced by "<redacted>".
func (c Credentials) MarshalJSON() ([]byte, error) {
	type redacted struct {
		PasswordEnv  string `json:"password_env,omitempty"`
		PasswordFile string `json:"password_file,omitempty"`
		IdentityFile string `json:"identity_file,omitempty"`
		Password     string `json:"password,omitempty"`
		UseAgent     bool   `json:"use_agent,omitempty"`
	}
	r := redacted{PasswordEnv: c.PasswordEnv, PasswordFile: c.PasswordFile, IdentityFile: c.IdentityFile, UseAgent: c.UseAgent}
	if c.Password != "" {
		r.Password = "<redacted>"
	}
	return json.Marshal(r)
}

// displayPath shortens paths under the home directory back to ~, as the
// user wrote them.
func displayPath(p string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return p
	}
	if p == home {
		return "~"
	}
	if rest, ok := strings.CutPrefix(p, home+string(filepath.Separator)); ok {
		return "~/" + rest
	}
	return p
}

// expandPath makes a credential path absolute: ~ is the home directory and
// a relative path is relative to the inventory's directory, so that the
// inventory means the same thing whatever directory cfgsnap runs in.
func expandPath(p, dir string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot expand ~ (%w): write the full path", err)
		}
		return filepath.Join(home, p[1:]), nil
	}
	if strings.HasPrefix(p, "~") {
		return "", fmt.Errorf("~user paths are not supported: write the full path")
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	return filepath.Join(dir, p), nil
}
