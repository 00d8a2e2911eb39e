package hooks

import (
	"slices"

	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
)

// ForStack starts a runner that reads contents from the stack's store,
// withholds the inventory's password_env variables and is called by the
// stack's pipeline after every stored snapshot and failed backup.
func ForStack(s *local.Stack, cfg Config) *Runner {
	if cfg.Content == nil {
		cfg.Content = s.Store.Content
	}
	if cfg.SecretEnv == nil {
		cfg.SecretEnv = func() []string { return PasswordEnvs(s.Inventory()) }
	}
	r := New(cfg)
	if cfg.OnChange != "" {
		s.OnStored(r.Stored)
	}
	if cfg.OnFailure != "" {
		s.OnFailed(r.Failed)
	}
	return r
}

// PasswordEnvs lists the environment variables the inventory reads device
// passwords from.
func PasswordEnvs(inv *inventory.Inventory) []string {
	if inv == nil {
		return nil
	}
	var out []string
	for _, d := range inv.Devices() {
		if n := d.Credentials.PasswordEnv; n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
