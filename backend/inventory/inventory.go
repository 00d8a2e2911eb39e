// Package inventory loads the YAML inventory of cfgsnap (spec/cli.md
// "Inventory"): the tenants, their RouterOS devices and how to log in to
// them. Loading validates the whole file and lists every problem with its
// line, because an operator fixing a broken inventory at 3 a.m. should see
// all mistakes at once, and nothing may run on half an inventory.
package inventory

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Defaults applied when neither the file, the tenant nor the device says
// otherwise.
const (
	// DefaultUsername is RouterOS's factory user.
	DefaultUsername = "admin"
	DefaultPort     = 22
	SecretsShow     = "show" // export with show-sensitive: restorable
	SecretsHide     = "hide" // export without secrets
)

// maxFileSize bounds what Load reads, so that pointing --inventory at a
// device file or a log by mistake fails fast instead of eating memory.
const maxFileSize = 32 << 20

// Inventory is a validated inventory. Every device has a valid ID, a host,
// a port and merged credentials.
type Inventory struct {
	Path    string
	Tenants []Tenant
}

// Tenant is one tenant and its devices, in file order.
type Tenant struct {
	ID      string
	Name    string // defaults to ID
	Devices []Device
	Line    int // line of the tenant in the file, for messages
}

// Device is one device with its effective settings: the device's own,
// else its tenant's defaults, else the file's defaults, else the package
// defaults.
type Device struct {
	ID       string
	TenantID string
	Name     string // defaults to ID
	Host     string
	Port     int
	Username string
	Tags     []string
	// Secrets is SecretsShow or SecretsHide.
	Secrets string
	// HostKey optionally pins the device's key: "SHA256:" and the unpadded
	// base64 fingerprint, as ssh-keygen -l prints it.
	HostKey     string
	Credentials Credentials
	Line        int // line of the device in the file, for messages

	// UsernameIsDefault and PortIsDefault say no level of the file set
	// them: ~/.ssh/config's User and Port may then apply.
	UsernameIsDefault, PortIsDefault bool
	// ProxyJump is proxy_jump in OpenSSH -J syntax ("" unset, "none" for
	// a direct connection even if ~/.ssh/config names a jump host).
	ProxyJump string
	// ProxyIdentityFile is the key for the jump hosts (absolute, checked
	// like identity_file); "" = the device's credentials.
	ProxyIdentityFile string
	// LegacyAlgorithms is ssh_legacy_algorithms: also offer RouterOS 6's
	// SHA-1 key exchanges, CBC ciphers and ssh-rsa/ssh-dss host keys.
	LegacyAlgorithms bool
}

// Load reads and validates the inventory at path. The warnings are
// "FILE:LINE: message" lines worth showing to the user; the error is a
// *ValidationError when the file is readable but wrong.
func Load(path string) (*Inventory, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read inventory: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read inventory: %w", err)
	}
	if fi.IsDir() {
		return nil, nil, fmt.Errorf("read inventory %s: is a directory, not a YAML file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read inventory %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, nil, fmt.Errorf("read inventory %s: larger than %d MiB; is this the right file?", path, maxFileSize>>20)
	}

	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, nil, fmt.Errorf("read inventory %s: %w", path, err)
	}
	inv, res, err := parse(path, dir, data)
	if err != nil {
		return nil, nil, err
	}
	warnings := res.warnings
	if mode := fi.Mode().Perm(); mode&0o044 != 0 && res.firstPasswordLine > 0 {
		warnings = append(warnings, Problem{File: path, Line: res.firstPasswordLine,
			Msg: fmt.Sprintf("%s is readable by group or others (mode %04o) and holds a password: run chmod 600 %s", path, mode, path)})
	}
	return inv, problemLines(warnings), nil
}

// Parse validates data as the inventory called name. Relative credential
// paths are resolved against name's directory.
func Parse(name string, data []byte) (*Inventory, []string, error) {
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, nil, fmt.Errorf("parse inventory %s: %w", name, err)
	}
	inv, res, err := parse(name, dir, data)
	if err != nil {
		return nil, nil, err
	}
	return inv, problemLines(res.warnings), nil
}

func parse(name, dir string, data []byte) (*Inventory, *result, error) {
	p := newParser(name, dir, data)
	tenants := p.run()
	if len(p.problems) > 0 {
		return nil, nil, newValidationError(p.problems)
	}
	slices.SortStableFunc(p.warnings, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	res := &result{warnings: p.warnings, firstPasswordLine: p.firstPasswordLine}
	return &Inventory{Path: name, Tenants: tenants}, res, nil
}

type result struct {
	warnings          []Problem
	firstPasswordLine int // 0 when no device uses an inline password
}

// Tenant returns the tenant with the given ID.
func (inv *Inventory) Tenant(id string) (*Tenant, bool) {
	for i := range inv.Tenants {
		if inv.Tenants[i].ID == id {
			return &inv.Tenants[i], true
		}
	}
	return nil, false
}

// Device returns the device id of tenant. Looking the device up by tenant
// keeps one tenant from reaching another tenant's device of the same ID.
func (inv *Inventory) Device(tenant, id string) (*Device, bool) {
	t, ok := inv.Tenant(tenant)
	if !ok {
		return nil, false
	}
	for i := range t.Devices {
		if t.Devices[i].ID == id {
			return &t.Devices[i], true
		}
	}
	return nil, false
}

// Devices returns every device of every tenant, in file order.
func (inv *Inventory) Devices() []Device {
	n := 0
	for _, t := range inv.Tenants {
		n += len(t.Devices)
	}
	all := make([]Device, 0, n)
	for _, t := range inv.Tenants {
		all = append(all, t.Devices...)
	}
	return all
}

// IsValidationError reports whether err (or an error it wraps) says the
// inventory itself is wrong, as opposed to unreadable.
func IsValidationError(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}
