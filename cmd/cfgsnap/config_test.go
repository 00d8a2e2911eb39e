package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
)

func readConfig(t *testing.T, name string) (*loadedConfig, error) {
	t.Helper()
	path := filepath.Join("testdata", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseConfig(path, b)
}

func TestConfigFileTyped(t *testing.T) {
	lc, err := readConfig(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := lc.cfg
	if c.NATS != "nats://10.0.0.5:4222,nats://10.0.0.6:4222" || c.DataDir != "/var/lib/cfgsnap" || c.Timeout != 90*time.Second ||
		c.StallTimeout != 20*time.Second || c.Concurrency != 16 || c.Workers != 4 || c.Store != "jetstream" || c.Schedule != 6*time.Hour {
		t.Errorf("decoded %+v", c)
	}
	if lc.set["data_dir"] != 4 {
		t.Errorf("data-dir (with a dash) not recorded as data_dir on line 4: %v", lc.set)
	}
	if lc, err := readConfig(t, "config-empty.yaml"); err != nil || len(lc.set) != 0 {
		t.Errorf("an empty file: %v %v", lc, err)
	}
}

func TestConfigFileErrorsNameFileLineAndNearestKey(t *testing.T) {
	for file, want := range map[string]string{
		"config-typo.yaml":      `testdata/config-typo.yaml:2: unknown key "natz" (did you mean nats?)`,
		"config-bad-url.yaml":   `testdata/config-bad-url.yaml:1: nats: NATS URL "nats://10.0.0.5:42x2"`,
		"config-bad-value.yaml": `testdata/config-bad-value.yaml`,
		"config-bad-store.yaml": `testdata/config-bad-store.yaml:2: store: "postgres": use sqlite or jetstream`,
		"config-duplicate.yaml": `testdata/config-duplicate.yaml:2: data-dir set again (first on line 1)`,
	} {
		_, err := readConfig(t, file)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", file, err, want)
		}
	}
}

// A key of another command is ignored: serve's keys do not reach backup,
// backup's concurrency does; serve gets its own.
func TestConfigKeysApplyToTheirCommands(t *testing.T) {
	lc, err := readConfig(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root := newRoot()
	for _, name := range []string{"backup", "serve"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		flags := cmd.Flags()
		flags.AddFlagSet(root.PersistentFlags())
		if err := lc.apply(flags, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		get := func(f string) string {
			if fl := flags.Lookup(f); fl != nil && fl.Changed {
				return fl.Value.String()
			}
			return ""
		}
		if get("timeout") != "1m30s" || get("nats") == "" {
			t.Errorf("%s: global keys not applied: timeout %q nats %q", name, get("timeout"), get("nats"))
		}
		switch name {
		case "backup":
			if get("concurrency") != "16" {
				t.Errorf("backup: concurrency %q", get("concurrency"))
			}
		case "serve":
			if get("workers") != "4" || get("store") != "jetstream" || get("schedule") != "6h0m0s" || get("metrics-listen") != "127.0.0.1:9464" {
				t.Errorf("serve: workers %q store %q schedule %q", get("workers"), get("store"), get("schedule"))
			}
		}
	}
	if !strings.Contains(configTable(), "workers") || !strings.Contains(configTable(), "serve (ignored by other commands)") {
		t.Errorf("key table:\n%s", configTable())
	}
}

func TestCheckNATSURL(t *testing.T) {
	for _, ok := range []string{"nats://127.0.0.1:4222", "127.0.0.1:4222", "tls://n1:4222,nats://n2:4222", "nats://u:p@host"} {
		if err := checkNATSURL(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "http://x:4222", "nats://:4222", "nats://h:99999", "nats://h:port", "nats://h:"} {
		if err := checkNATSURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// bare runs cfgsnap in the lab's home without the lab's --inventory, with
// its own environment.
func (l *lab) bare(env []string, args ...string) result {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	home := filepath.Dir(l.dataDir)
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"--data-dir", l.dataDir, "--log-file", filepath.Join(home, "cfgsnap.log")}, args...)...)
	cmd.Env = append(os.Environ(), "CFGSNAP_TEST_MAIN=1", "NATS_URL=", "NATS_CONTEXT=", "CFGSNAP_INVENTORY=", "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	return wait(l.t, cmd, &out, &errb)
}

// writeNATSContext writes a NATS CLI context in the lab's config home, and
// selects it when selected.
func (l *lab) writeNATSContext(name string, c natsContext, selected bool) {
	l.t.Helper()
	dir := filepath.Join(filepath.Dir(l.dataDir), "config", "nats")
	if err := os.MkdirAll(filepath.Join(dir, "context"), 0o700); err != nil {
		l.t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "context", name+".json"), b, 0o600); err != nil {
		l.t.Fatal(err)
	}
	if selected {
		if err := os.WriteFile(filepath.Join(dir, "context.txt"), []byte(name+"\n"), 0o600); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *lab) writeConfig(text string) {
	l.t.Helper()
	dir := filepath.Join(filepath.Dir(l.dataDir), "config", "cfgsnap")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(text), 0o600); err != nil {
		l.t.Fatal(err)
	}
}

// The NATS URL comes from the command line, else the environment, else
// the config file, else the NATS CLI context (named, else selected); the
// refusal of --inventory next to it names the source that won.
func TestNATSSettingsPrecedence(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	l.writeNATSContext("lab", natsContext{URL: "nats://127.0.0.1:1"}, true)
	l.writeNATSContext("other", natsContext{URL: "nats://127.0.0.1:2"}, false)
	inv := []string{"--inventory", l.inv, "history", "acme/core-rtr-1"}
	expect := func(name string, r result, source string) {
		t.Helper()
		if r.code != exitUsage || !strings.Contains(r.stderr, "--direct") || !strings.Contains(r.stderr, source) {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming --direct and %q", name, r.code, r.stderr, source)
		}
	}
	expect("selected context", l.bare(nil, inv...), "NATS context lab")
	expect("named context wins over the selected one", l.bare(nil, append([]string{"--context", "other"}, inv...)...), "NATS context other")
	expect("NATS_CONTEXT", l.bare([]string{"NATS_CONTEXT=other"}, inv...), "NATS context other")
	l.writeConfig("nats: nats://127.0.0.1:3\n")
	expect("config wins over the context", l.bare(nil, inv...), "config file")
	expect("environment wins over the config", l.bare([]string{"NATS_URL=nats://127.0.0.1:4"}, inv...), "NATS_URL")
	expect("flag wins over the environment", l.bare([]string{"NATS_URL=nats://127.0.0.1:4"}, append([]string{"-s", "nats://127.0.0.1:5"}, inv...)...), "--nats")

	// --direct uses the inventory whatever is configured.
	if r := l.bare(nil, append([]string{"--direct"}, inv...)...); r.code != exitFailed || !strings.Contains(r.stderr, "no snapshots yet") {
		t.Errorf("--direct: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A named context that does not exist is an error naming the near ones.
	if r := l.bare(nil, "--context", "lba", "history", "acme/core-rtr-1"); r.code != exitUsage || !strings.Contains(r.stderr, `did you mean lab`) {
		t.Errorf("unknown context: exit %d %q", r.code, r.stderr)
	}
	// A malformed URL from any source is a usage error before dialling.
	if r := l.bare(nil, "--nats", "nats://127.0.0.1:port", "history", "acme/core-rtr-1"); r.code != exitUsage || !strings.Contains(r.stderr, "--nats") {
		t.Errorf("malformed --nats: exit %d %q", r.code, r.stderr)
	}
	// An unknown key in the config file stops every command, naming its line.
	l.writeConfig("nats: nats://127.0.0.1:3\ninventroy: /x\n")
	if r := l.bare(nil, "--direct", "history", "acme/core-rtr-1"); r.code != exitUsage || !strings.Contains(r.stderr, `config.yaml:2: unknown key "inventroy" (did you mean inventory?)`) {
		t.Errorf("typo in config: exit %d %q", r.code, r.stderr)
	}
}

// With only a selected NATS CLI context, an engineer who already uses
// `nats` reaches the backup service with no flag at all, with the
// context's credentials.
func TestSelectedNATSContextConnects(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, _, _ := l.start(ctx, "serve", "--listen", addr)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, "nats://"+addr, l.clientSeed())
	// The credential comes from the context alone: serve's client seed is
	// moved where only the context names it.
	seed := filepath.Join(t.TempDir(), "prod.nk")
	if err := os.Rename(l.clientSeed(), seed); err != nil {
		t.Fatal(err)
	}
	l.writeNATSContext("prod", natsContext{URL: "nats://" + addr, NKey: seed}, true)
	if r := l.bare(nil, "backup", "acme/core-rtr-1"); r.code != 0 || !strings.Contains(r.stdout, " success ") {
		t.Fatalf("backup through the selected context: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The context's settings are the last resort: a flag still wins.
	if r := l.bare(nil, "--nats", "nats://127.0.0.1:1", "history", "acme/core-rtr-1"); r.code != exitUnreachable {
		t.Errorf("--nats over the context: exit %d, want %d (the flag's dead URL)\n%s", r.code, exitUnreachable, r.stderr)
	}
}

// The jump host's /etc/cfgsnap/config.yaml applies to every user; the
// user's own config file wins over it, key by key.
func TestSystemConfigUnderTheUsersOwn(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	sys := filepath.Join(t.TempDir(), "system.yaml")
	if err := os.WriteFile(sys, []byte("nats: nats://127.0.0.1:6\ntimeout: 5s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"CFGSNAP_TEST_SYSTEM_CONFIG=" + sys}
	inv := []string{"--inventory", l.inv, "history", "acme/core-rtr-1"}
	if r := l.bare(env, inv...); r.code != exitUsage || !strings.Contains(r.stderr, "config file "+sys) {
		t.Errorf("system file: exit %d %q; want 2 naming %s", r.code, r.stderr, sys)
	}
	l.writeConfig("nats: nats://127.0.0.1:7\n")
	if r := l.bare(env, inv...); r.code != exitUsage || strings.Contains(r.stderr, sys) || !strings.Contains(r.stderr, "config.yaml") {
		t.Errorf("user file over the system file: exit %d %q", r.code, r.stderr)
	}
	// A typo in the system file is an error too, naming it.
	if err := os.WriteFile(sys, []byte("inventroy: /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := l.bare(env, "--direct", "history", "acme/core-rtr-1"); r.code != exitUsage || !strings.Contains(r.stderr, sys+":1") {
		t.Errorf("typo in system file: exit %d %q", r.code, r.stderr)
	}
}
