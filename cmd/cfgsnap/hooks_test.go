package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
)

// hookFiles lists the files a hook wrote into dir with the given prefix.
func hookFiles(t *testing.T, dir, prefix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, prefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// dropDiffHeader drops the ---/+++ lines, whose labels differ between the
// hook (hashes) and the diff command (hashes and local times).
func dropDiffHeader(d string) string {
	lines := strings.SplitAfter(d, "\n")
	if len(lines) < 2 {
		return d
	}
	return strings.Join(lines[2:], "")
}

func TestBackupOnChangeHookRunsOnlyForChanges(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	out := t.TempDir()
	t.Setenv("NATS_TOKEN", "bus-secret") // must not reach the hook
	hook := `env > "` + out + `/env.$CFGSNAP_HASH"; cat > "` + out + `/stdin.$CFGSNAP_HASH"`

	first, r := l.backupJSON("--on-change", hook, "acme/core-rtr-1")
	if r.code != 0 || !first.IsChanged() {
		t.Fatalf("first backup: exit %d %+v %s", r.code, first, r.stderr)
	}
	env := envFile(t, filepath.Join(out, "env."+first.SHA256))
	for k, v := range map[string]string{"CFGSNAP_TENANT": "acme", "CFGSNAP_DEVICE": "core-rtr-1",
		"CFGSNAP_HASH": first.SHA256, "CFGSNAP_SNAPSHOT_ID": first.SnapshotID, "CFGSNAP_REASON": ""} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	// A first snapshot runs the hook with an empty previous hash.
	if v, ok := env["CFGSNAP_PREVIOUS_HASH"]; !ok || v != "" {
		t.Errorf("CFGSNAP_PREVIOUS_HASH = %q (set %v), want set and empty", v, ok)
	}
	if !strings.Contains(env["CFGSNAP_REQUESTED_BY"], "@") {
		t.Errorf("CFGSNAP_REQUESTED_BY = %q, want user@host", env["CFGSNAP_REQUESTED_BY"])
	}
	if _, ok := env["NATS_TOKEN"]; ok {
		t.Error("the hook inherited NATS_TOKEN")
	}

	// Unchanged: no hook.
	second, r := l.backupJSON("--on-change", hook, "acme/core-rtr-1")
	if r.code != 0 || second.IsChanged() {
		t.Fatalf("second backup: exit %d %+v", r.code, second)
	}
	if n := len(hookFiles(t, out, "env.")); n != 1 {
		t.Errorf("%d hook runs after an unchanged backup, want still 1", n)
	}

	// Changed: the hook reads the redacted diff, the same as cfgsnap diff.
	if err := l.fleet.Drift("acme", "core-rtr-1"); err != nil {
		t.Fatal(err)
	}
	third, r := l.backupJSON("--on-change", hook, "--reason", "CHG-7", "acme/core-rtr-1")
	if r.code != 0 || !third.IsChanged() {
		t.Fatalf("third backup: exit %d %+v", r.code, third)
	}
	env = envFile(t, filepath.Join(out, "env."+third.SHA256))
	if env["CFGSNAP_PREVIOUS_HASH"] != first.SHA256 || env["CFGSNAP_REASON"] != "CHG-7" {
		t.Errorf("previous hash %q reason %q", env["CFGSNAP_PREVIOUS_HASH"], env["CFGSNAP_REASON"])
	}
	stdin, err := os.ReadFile(filepath.Join(out, "stdin."+third.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	diff := l.run("diff", "acme/core-rtr-1")
	if diff.code != 0 || dropDiffHeader(string(stdin)) != dropDiffHeader(diff.stdout) || !strings.Contains(string(stdin), "@@") {
		t.Errorf("hook stdin:\n%s\nwant the hunks of cfgsnap diff:\n%s", stdin, diff.stdout)
	}
	if strings.Contains(string(stdin), l.fleet.Password()) {
		t.Error("the hook's diff holds the device password")
	}
}

func TestBackupHookPastItsTimeoutIsKilledAndTheBackupReturns(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	out := t.TempDir()
	start := time.Now()
	r := l.run("backup", "--on-change", `echo $$ > "`+out+`/pid"; sleep 60`, "--hook-timeout", "1s", "acme/core-rtr-1")
	took := time.Since(start)
	if r.code != 0 || !strings.Contains(r.stdout, "success") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if took > 20*time.Second {
		t.Errorf("backup with a 60s hook and --hook-timeout 1s took %s", took)
	}
	if !strings.Contains(r.stderr, "on-change hook: [1 timeout]") {
		t.Errorf("stderr does not report the timeout: %q", r.stderr)
	}
	// The hook's shell is gone (its group was killed).
	b, err := os.ReadFile(filepath.Join(out, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("kill", "-0", strings.TrimSpace(string(b))).Run(); err == nil {
		t.Error("the hook still runs after its timeout")
	}
}

func TestBackupOnFailureHook(t *testing.T) {
	s := spec("acme", "bad-rtr-1", "7.16.2")
	s.Fault = devicesim.FaultWrongPassword
	l := newLab(t, []devicesim.Spec{s})
	out := t.TempDir()
	reply, r := l.backupJSON("--on-failure", `env > "`+out+`/env"`, "--on-change", `touch "`+out+`/changed"`, "acme/bad-rtr-1")
	if r.code != 1 || reply.Status != api.StatusFailed {
		t.Fatalf("exit %d %+v", r.code, reply)
	}
	env := envFile(t, filepath.Join(out, "env"))
	if env["CFGSNAP_ERROR_KIND"] != string(api.KindAuthFailed) || env["CFGSNAP_ERROR"] != reply.Error || env["CFGSNAP_DEVICE"] != "bad-rtr-1" {
		t.Errorf("failure hook env: kind %q error %q device %q (reply error %q)", env["CFGSNAP_ERROR_KIND"], env["CFGSNAP_ERROR"], env["CFGSNAP_DEVICE"], reply.Error)
	}
	if _, err := os.Stat(filepath.Join(out, "changed")); err == nil {
		t.Error("the change hook ran for a failed backup")
	}
}

func TestExportGitMatchesShow(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("globex", "edge-1", "6.49.10")})
	for _, target := range []string{"acme/core-rtr-1", "globex/edge-1", "acme/core-rtr-1"} {
		if _, r := l.backupJSON(target); r.code != 0 {
			t.Fatalf("backup %s: %d %s", target, r.code, r.stderr)
		}
	}
	l.fleet.Drift("acme", "core-rtr-1")
	if _, r := l.backupJSON("acme/core-rtr-1"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	dir := filepath.Join(t.TempDir(), "mirror")
	r := l.run("export", "git", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "3 commits for 2 devices") {
		t.Fatalf("export: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, target := range []string{"acme/core-rtr-1", "globex/edge-1"} {
		show := l.run("show", target)
		got, err := exec.Command("git", "-C", dir, "show", "HEAD:"+target+".rsc").Output()
		if err != nil {
			t.Fatal(err)
		}
		if show.code != 0 || string(got) != show.stdout {
			t.Errorf("%s in git differs from cfgsnap show", target)
		}
	}
	if r := l.run("export", "git", dir); r.code != 0 || !strings.Contains(r.stdout, "up to date") {
		t.Errorf("second export: exit %d %q", r.code, r.stdout)
	}
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	if r := l.run("export", "git", open, "--secrets"); r.code != exitUsage || !strings.Contains(r.stderr, "private") {
		t.Errorf("--secrets into a 0755 dir: exit %d %q", r.code, r.stderr)
	}
}

// TestServeGitMirrorAndHooks runs serve with --git-mirror and --on-change:
// a backup through the service lands in the mirror and runs the hook.
func TestServeGitMirrorAndHooks(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	addr := freeAddr(t)
	url := "nats://" + addr
	mirror := filepath.Join(t.TempDir(), "mirror")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, sout, serr := l.start(ctx, "serve", "--listen", addr, "--git-mirror", mirror,
		"--on-change", `echo "$CFGSNAP_HASH" >> "`+out+`/changes"`)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, url, l.clientSeed())
	remote := func(args ...string) result { return l.run(append([]string{"--nats", url}, args...)...) }
	if r := remote("backup", "acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("remote backup: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	l.fleet.Drift("acme", "core-rtr-1")
	if r := remote("backup", "acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("remote backup: exit %d %s", r.code, r.stderr)
	}
	remote("backup", "acme/core-rtr-1") // unchanged
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := exec.Command("git", "-C", mirror, "rev-list", "--count", "HEAD").Output()
		changes, _ := os.ReadFile(filepath.Join(out, "changes"))
		if strings.TrimSpace(string(n)) == "2" && strings.Count(string(changes), "\n") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror commits %q, hook runs %q", n, changes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	show := remote("show", "acme/core-rtr-1")
	got, err := exec.Command("git", "-C", mirror, "show", "HEAD:acme/core-rtr-1.rsc").Output()
	if err != nil || string(got) != show.stdout {
		t.Errorf("mirror content differs from show: %v", err)
	}
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := wait(t, serve, sout, serr); r.code != 0 {
		t.Errorf("serve after SIGTERM: exit %d %s", r.code, r.stderr)
	}
}
