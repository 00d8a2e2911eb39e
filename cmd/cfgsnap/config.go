package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Config is the config file ($XDG_CONFIG_HOME/cfgsnap/config.yaml or
// --config): the flags' names as keys, `_` or `-` between words. The `cmd`
// tag says which commands a key applies to ("*": every command); the
// README's "Configuration" table is this one. A key of another command is
// ignored, so one file serves the TUI, `backup` and `serve` alike; a key
// no command knows is an error naming the file, the line and the nearest
// key. The command line, then the environment, win over the file; the file
// wins over a NATS CLI context.
type Config struct {
	Inventory     string        `yaml:"inventory" cmd:"*"`
	DataDir       string        `yaml:"data_dir" cmd:"*"`
	LogFile       string        `yaml:"log_file" cmd:"*"`
	Debug         bool          `yaml:"debug" cmd:"*"`
	Direct        bool          `yaml:"direct" cmd:"*"`
	Timeout       time.Duration `yaml:"timeout" cmd:"*"`
	NATS          string        `yaml:"nats" cmd:"*"`
	Context       string        `yaml:"context" cmd:"*"`
	NATSCreds     string        `yaml:"nats_creds" cmd:"*"`
	NATSNKey      string        `yaml:"nats_nkey" cmd:"*"`
	NATSUser      string        `yaml:"nats_user" cmd:"*"`
	NATSPassword  string        `yaml:"nats_password" cmd:"*"`
	NATSToken     string        `yaml:"nats_token" cmd:"*"`
	TLSCA         string        `yaml:"tls_ca" cmd:"*"`
	TLSCert       string        `yaml:"tls_cert" cmd:"*"`
	TLSKey        string        `yaml:"tls_key" cmd:"*"`
	InboxPrefix   string        `yaml:"inbox_prefix" cmd:"*"`
	SubjectPrefix string        `yaml:"subject_prefix" cmd:"*"`
	StallTimeout  time.Duration `yaml:"stall_timeout" cmd:"*"`
	// ContentKeyFile seals snapshot content at rest (direct mode, serve, store).
	ContentKeyFile string `yaml:"content_key_file" cmd:"*"`

	Concurrency int `yaml:"concurrency" cmd:"backup"`

	OnChange        string        `yaml:"on_change" cmd:"backup,serve"`
	OnFailure       string        `yaml:"on_failure" cmd:"backup,serve"`
	HookTimeout     time.Duration `yaml:"hook_timeout" cmd:"backup,serve"`
	HookConcurrency int           `yaml:"hook_concurrency" cmd:"backup,serve"`

	Listen             string        `yaml:"listen" cmd:"serve"`
	NATSConfig         string        `yaml:"nats_config" cmd:"serve"`
	Workers            int           `yaml:"workers" cmd:"serve"`
	Queue              int           `yaml:"queue" cmd:"serve"`
	CompatSubject      bool          `yaml:"compat_subject" cmd:"serve"`
	Grace              time.Duration `yaml:"grace" cmd:"serve"`
	Heartbeat          time.Duration `yaml:"heartbeat" cmd:"serve"`
	Store              string        `yaml:"store" cmd:"serve"`
	Replicas           int           `yaml:"replicas" cmd:"serve"`
	HistoryPerDevice   int64         `yaml:"history_per_device" cmd:"serve"`
	Schedule           time.Duration `yaml:"schedule" cmd:"serve"`
	ScheduleConcurrent int           `yaml:"schedule_concurrency" cmd:"serve"`
	MetricsListen      string        `yaml:"metrics_listen" cmd:"serve"`
	GitMirror          string        `yaml:"git_mirror" cmd:"serve"`
	GitMirrorSecrets   bool          `yaml:"git_mirror_secrets" cmd:"serve"`
	NoAuth             bool          `yaml:"no_auth" cmd:"serve"`
	Retention          string        `yaml:"retention" cmd:"serve"`
	RetentionTenant    []string      `yaml:"retention_tenant" cmd:"serve"`
	TenantRateLimit    int           `yaml:"tenant_rate_limit" cmd:"serve"`
	RateLimit          int           `yaml:"rate_limit" cmd:"serve,demo"`

	TUIListen      string        `yaml:"tui_listen" cmd:"serve,demo"`
	TUIUsers       string        `yaml:"tui_users" cmd:"serve,demo"`
	TUIIdleTimeout time.Duration `yaml:"tui_idle_timeout" cmd:"serve,demo"`
	TUIMaxSessions int           `yaml:"tui_max_sessions" cmd:"serve,demo"`
}

// configKey is one row of the key table.
type configKey struct {
	name     string   // as in the file, with '_'
	field    int      // index in Config
	commands []string // nil: every command
}

// configKeys is the key table, read from Config's tags.
var configKeys = func() []configKey {
	t := reflect.TypeFor[Config]()
	keys := make([]configKey, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		k := configKey{name: f.Tag.Get("yaml"), field: i}
		if c := f.Tag.Get("cmd"); c != "*" {
			k.commands = strings.Split(c, ",")
		}
		keys = append(keys, k)
	}
	return keys
}()

func (k configKey) flag() string { return strings.ReplaceAll(k.name, "_", "-") }

func (k configKey) appliesTo(command string) bool {
	return k.commands == nil || slices.Contains(k.commands, command)
}

// loadedConfig is a parsed file: its values and the keys it set.
type loadedConfig struct {
	path string
	cfg  Config
	set  map[string]int // key → line
}

// parseConfig reads a config file: every key known (a typo names its line
// and the nearest key), every value of its key's type, then Validate.
func parseConfig(path string, data []byte) (*loadedConfig, error) {
	lc := &loadedConfig{path: path, set: map[string]int{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return lc, nil // an empty file sets nothing
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return lc, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s:%d: want a map of settings (e.g. `nats: nats://10.0.0.5:4222`)", path, m.Line)
	}
	names := make([]string, len(configKeys))
	for i, k := range configKeys {
		names[i] = k.name
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := m.Content[i]
		name := strings.ReplaceAll(kn.Value, "-", "_")
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("config %s:%d: unknown key %q%s", path, kn.Line, kn.Value, didYouMean(name, names))
		}
		if prev, dup := lc.set[name]; dup {
			return nil, fmt.Errorf("config %s:%d: %s set again (first on line %d)", path, kn.Line, kn.Value, prev)
		}
		lc.set[name] = kn.Line
		kn.Value = name // decode below by the canonical key
	}
	if err := m.Decode(&lc.cfg); err != nil {
		return nil, fmt.Errorf("config %s: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := lc.cfg.Validate(lc.set); err != nil {
		return nil, fmt.Errorf("config %s:%w", path, err)
	}
	return lc, nil
}

// lineErr is an error at one key of the file.
func lineErr(set map[string]int, key, format string, args ...any) error {
	return fmt.Errorf("%d: %s: %s", set[key], key, fmt.Sprintf(format, args...))
}

// Validate checks the values the file sets (set: key → line).
func (c *Config) Validate(set map[string]int) error {
	has := func(k string) bool { _, ok := set[k]; return ok }
	if has("nats") {
		if err := checkNATSURL(c.NATS); err != nil {
			return lineErr(set, "nats", "%v", err)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"timeout", c.Timeout}, {"stall_timeout", c.StallTimeout}, {"grace", c.Grace}, {"heartbeat", c.Heartbeat}, {"hook_timeout", c.HookTimeout}, {"tui_idle_timeout", c.TUIIdleTimeout}} {
		if has(d.key) && d.v <= 0 {
			return lineErr(set, d.key, "must be a positive duration such as 30s or 2m")
		}
	}
	if has("schedule") && c.Schedule < 0 {
		return lineErr(set, "schedule", "must not be negative (0: only on request)")
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"concurrency", c.Concurrency}, {"workers", c.Workers}, {"queue", c.Queue}, {"replicas", c.Replicas}, {"hook_concurrency", c.HookConcurrency}, {"tui_max_sessions", c.TUIMaxSessions}} {
		if has(n.key) && n.v < 1 {
			return lineErr(set, n.key, "must be at least 1")
		}
	}
	if has("store") && c.Store != "sqlite" && c.Store != "jetstream" {
		return lineErr(set, "store", "%q: use sqlite or jetstream", c.Store)
	}
	if has("subject_prefix") {
		if err := checkPrefix(c.SubjectPrefix); err != nil {
			return lineErr(set, "subject_prefix", "%v", err)
		}
	}
	if has("context") && c.Context == "" {
		return lineErr(set, "context", "name a NATS CLI context")
	}
	return nil
}

// apply sets, for the keys the file sets that apply to command, the flags
// neither the command line nor the environment set.
func (lc *loadedConfig) apply(flags *pflag.FlagSet, command string) error {
	v := reflect.ValueOf(lc.cfg)
	for _, k := range configKeys {
		if _, ok := lc.set[k.name]; !ok || !k.appliesTo(command) {
			continue
		}
		fl := flags.Lookup(k.flag())
		if fl == nil || fl.Changed || os.Getenv(envFor[k.flag()]) != "" {
			continue
		}
		values := []string{fmt.Sprint(v.Field(k.field).Interface())}
		if list, ok := v.Field(k.field).Interface().([]string); ok {
			values = list // a repeatable flag gets each item, as if given again
		}
		for _, one := range values {
			if err := flags.Set(k.flag(), one); err != nil {
				return fmt.Errorf("config %s:%d: %s: %w", lc.path, lc.set[k.name], k.name, err)
			}
		}
	}
	return nil
}

// checkNATSURL accepts what the NATS client dials: comma-separated URLs of
// the schemes nats, tls, ws, wss (a bare host:port means nats://), each
// with a host and a numeric port if any. A typo is a usage error before
// anything dials.
func checkNATSURL(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty NATS URL")
	}
	for _, one := range strings.Split(s, ",") {
		one = strings.TrimSpace(one)
		raw := one
		if !strings.Contains(one, "://") {
			raw = "nats://" + one
		}
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("NATS URL %q: %w", one, err)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("NATS URL %q: scheme %q, want nats://, tls://, ws:// or wss://", one, u.Scheme)
		}
		if u.Hostname() == "" {
			return fmt.Errorf("NATS URL %q: no host (write nats://HOST:PORT)", one)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("NATS URL %q: port must be 1-65535", one)
			}
		} else if _, _, err := net.SplitHostPort(u.Host); err == nil || strings.HasSuffix(u.Host, ":") {
			return fmt.Errorf("NATS URL %q: empty port", one)
		}
	}
	return nil
}

// configTable is the key table as text, for `--help` of the root command.
func configTable() string {
	var b strings.Builder
	for _, k := range configKeys {
		cmds := "every command"
		if k.commands != nil {
			cmds = strings.Join(k.commands, ", ") + " (ignored by other commands)"
		}
		fmt.Fprintf(&b, "  %-22s %s\n", k.name, cmds)
	}
	return b.String()
}
