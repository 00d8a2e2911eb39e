package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// natsContext is the part of a NATS CLI context (`nats context add`) that
// says how to connect: the JSON file ~/.config/nats/context/NAME.json,
// where the `nats` command keeps it. Fields cfgsnap has no use for
// (description, JetStream domain and prefixes, nsc lookups, colour scheme)
// are ignored.
type natsContext struct {
	URL         string `json:"url"`
	Token       string `json:"token"`
	User        string `json:"user"`
	Password    string `json:"password"`
	Creds       string `json:"creds"`
	NKey        string `json:"nkey"` // a seed file, like --nats-nkey
	Cert        string `json:"cert"`
	Key         string `json:"key"`
	CA          string `json:"ca"`
	InboxPrefix string `json:"inbox_prefix"`
}

// natsConfigDir is the NATS CLI's configuration directory: $XDG_CONFIG_HOME/
// nats, else ~/.config/nats (read on each call, not at start-up like the
// xdg package, so tests and a changed environment see the same files as
// `nats`).
func natsConfigDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "nats"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".config", "nats"), nil
}

// selectedNATSContext is the context `nats context select` chose (the
// name in context.txt), or "" when none is.
func selectedNATSContext() string {
	dir, err := natsConfigDir()
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, "context.txt"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// loadNATSContext reads the named context. A name that could leave the
// context directory is refused; an unknown name lists the known ones.
func loadNATSContext(name string) (*natsContext, string, error) {
	if name == "" || strings.Contains(name, "..") || strings.ContainsAny(name, `/\`) {
		return nil, "", fmt.Errorf("NATS context %q: not a context name", name)
	}
	dir, err := natsConfigDir()
	if err != nil {
		return nil, "", fmt.Errorf("NATS context %q: %w", name, err)
	}
	path := filepath.Join(dir, "context", name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			known, _ := filepath.Glob(filepath.Join(dir, "context", "*.json"))
			names := make([]string, 0, len(known))
			for _, k := range known {
				names = append(names, strings.TrimSuffix(filepath.Base(k), ".json"))
			}
			return nil, path, fmt.Errorf("NATS context %q not found in %s%s", name, filepath.Dir(path), didYouMean(name, names))
		}
		return nil, path, fmt.Errorf("NATS context %q: %w", name, err)
	}
	var c natsContext
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, path, fmt.Errorf("NATS context %s: %w", path, err)
	}
	return &c, path, nil
}

// natsContextFlags maps each flag a context can supply to its value.
func (c *natsContext) flags() map[string]string {
	return map[string]string{
		"nats": c.URL, "nats-token": c.Token, "nats-user": c.User, "nats-password": c.Password,
		"nats-creds": c.Creds, "nats-nkey": c.NKey, "tls-cert": c.Cert, "tls-key": c.Key, "tls-ca": c.CA,
		"inbox-prefix": c.InboxPrefix,
	}
}
