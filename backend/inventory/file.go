package inventory

import (
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// FileDoc is the inventory file as written (cli.md "Inventory"). Load does
// not decode into it: it walks the YAML nodes itself to report every
// problem with its line. FileDoc exists for programs that write inventories
// (the simulator's --inventory-out, tests).
type FileDoc struct {
	Defaults *FileSettings `yaml:"defaults,omitempty"`
	Tenants  []FileTenant  `yaml:"tenants"`
}

// FileSettings are the defaults of the whole file or of one tenant.
type FileSettings struct {
	Username     string `yaml:"username,omitempty"`
	Port         int    `yaml:"port,omitempty"`
	IdentityFile string `yaml:"identity_file,omitempty"`
	PasswordEnv  string `yaml:"password_env,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	Password     string `yaml:"password,omitempty"`
	Secrets      string `yaml:"secrets,omitempty"`
	UseAgent     *bool  `yaml:"use_agent,omitempty"`
}

// FileTenant is one tenant of the file.
type FileTenant struct {
	ID       string        `yaml:"id"`
	Name     string        `yaml:"name,omitempty"`
	Defaults *FileSettings `yaml:"defaults,omitempty"`
	Devices  []FileDevice  `yaml:"devices"`
}

// FileDevice is one device of the file. The credential fields override the
// defaults for this device only.
type FileDevice struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name,omitempty"`
	Host         string   `yaml:"host"`
	Port         int      `yaml:"port,omitempty"`
	Username     string   `yaml:"username,omitempty"`
	IdentityFile string   `yaml:"identity_file,omitempty"`
	PasswordEnv  string   `yaml:"password_env,omitempty"`
	PasswordFile string   `yaml:"password_file,omitempty"`
	Password     string   `yaml:"password,omitempty"`
	Secrets      string   `yaml:"secrets,omitempty"`
	UseAgent     *bool    `yaml:"use_agent,omitempty"`
	HostKey      string   `yaml:"host_key,omitempty"`
	Tags         []string `yaml:"tags,omitempty,flow"`
}

// WriteFile writes doc to path atomically (temp file and rename) with mode
// 0600, since an inventory may name credential files or hold a password.
func WriteFile(path string, doc FileDoc) error {
	b, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode inventory: %w", err)
	}
	return writeAtomic(path, b, 0o600)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
