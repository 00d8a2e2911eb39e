package hooks

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

const (
	configA = "/interface wireguard\nadd listen-port=13231 name=wg0 private-key=\"c2VjcmV0QQ==\"\n/ip address\nadd address=192.0.2.1/24 interface=ether1\n"
	configB = "/interface wireguard\nadd listen-port=13231 name=wg0 private-key=\"c2VjcmV0Qg==\"\n/ip address\nadd address=192.0.2.1/24 interface=ether1\nadd address=198.51.100.1/24 interface=ether2\n"
)

func openStore(t *testing.T) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// readEnv parses `env` output (one NAME=value a line; the values used here
// have no newlines).
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the hook did not write its environment: %v", err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func closeRunner(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestChangeHookGetsEnvAndRedactedDiff(t *testing.T) {
	st := openStore(t)
	storetest.Record(t, st, "acme", "core-rtr-1", configA)
	rec := storetest.Record(t, st, "acme", "core-rtr-1", configB)
	if !rec.Changed {
		t.Fatal("second configuration not recorded as a change")
	}
	dir := t.TempDir()
	m := metrics.New()
	r := New(Config{
		OnChange: `env > "$OUT/env"; cat > "$OUT/stdin"`,
		Content:  st.Content, Metrics: m,
		SecretEnv: func() []string { return []string{"ACME_BACKUP_PASSWORD"} },
		Environ: func() []string {
			return []string{"PATH=" + os.Getenv("PATH"), "OUT=" + dir, "KEEP_ME=1",
				"ACME_BACKUP_PASSWORD=hunter2", "CFGSNAP_CONTENT_KEY_FILE=/etc/cfgsnap/key",
				"NATS_PASSWORD=bus-secret", "NATS_TOKEN=tok", "SSH_AUTH_SOCK=/tmp/agent.sock",
				"CFGSNAP_HASH=spoofed"}
		},
	})
	r.Stored(rec)
	closeRunner(t, r)

	env := readEnv(t, filepath.Join(dir, "env"))
	want := map[string]string{
		"CFGSNAP_HOOK": "change", "CFGSNAP_TENANT": "acme", "CFGSNAP_DEVICE": "core-rtr-1",
		"CFGSNAP_HASH": rec.SHA256, "CFGSNAP_PREVIOUS_HASH": rec.PreviousHash,
		"CFGSNAP_REQUESTED_BY": "ops@jump1", "CFGSNAP_REASON": "", "CFGSNAP_SNAPSHOT_ID": rec.SnapshotID,
		"CFGSNAP_COLLECTED_AT": rec.CollectedAt.UTC().Format(time.RFC3339), "CFGSNAP_TRIGGER": "manual",
		"KEEP_ME": "1",
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"ACME_BACKUP_PASSWORD", "CFGSNAP_CONTENT_KEY_FILE", "NATS_PASSWORD", "NATS_TOKEN", "SSH_AUTH_SOCK"} {
		if _, ok := env[k]; ok {
			t.Errorf("the hook inherited %s", k)
		}
	}
	stdin, err := os.ReadFile(filepath.Join(dir, "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := Diff("acme/core-rtr-1", rec.PreviousHash, configA, rec.SHA256, configB); string(stdin) != want {
		t.Errorf("stdin:\n%s\nwant:\n%s", stdin, want)
	}
	for _, s := range []string{"c2VjcmV0QQ", "c2VjcmV0Qg"} {
		if bytes.Contains(stdin, []byte(s)) {
			t.Errorf("the diff on stdin shows the secret %s:\n%s", s, stdin)
		}
	}
	for _, s := range []string{"+add address=198.51.100.1/24 interface=ether2", "private-key=<redacted:changed>", "--- acme/core-rtr-1@" + rec.PreviousHash[:12], "@@ -1,"} {
		if !bytes.Contains(stdin, []byte(s)) {
			t.Errorf("the diff lacks %q:\n%s", s, stdin)
		}
	}
	if n := r.Count(Change, OutcomeOK); n != 1 {
		t.Errorf("ok runs = %d, want 1", n)
	}
	var prom bytes.Buffer
	if err := m.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prom.String(), `cfgsnap_hook_runs_total{hook="change",outcome="ok"} 1`) {
		t.Errorf("metrics lack the hook run:\n%s", prom.String())
	}
}

func TestFirstSnapshotRunsWithEmptyPreviousHash(t *testing.T) {
	st := openStore(t)
	rec := storetest.Record(t, st, "acme", "core-rtr-1", configA)
	dir := t.TempDir()
	r := New(Config{OnChange: `env > "$OUT/env"; cat > "$OUT/stdin"`, Content: st.Content,
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH"), "OUT=" + dir} }})
	r.Stored(rec)
	closeRunner(t, r)
	env := readEnv(t, filepath.Join(dir, "env"))
	if v, ok := env["CFGSNAP_PREVIOUS_HASH"]; !ok || v != "" {
		t.Errorf("CFGSNAP_PREVIOUS_HASH = %q (set %v), want set and empty", v, ok)
	}
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if !strings.HasPrefix(string(stdin), "--- /dev/null\n+++ acme/core-rtr-1@") ||
		!strings.Contains(string(stdin), "+add listen-port=13231 name=wg0 private-key=<redacted>") {
		t.Errorf("first snapshot's diff:\n%s", stdin)
	}
}

func TestUnchangedSnapshotRunsNothing(t *testing.T) {
	st := openStore(t)
	storetest.Record(t, st, "acme", "core-rtr-1", configA)
	rec := storetest.Record(t, st, "acme", "core-rtr-1", configA)
	if rec.Changed {
		t.Fatal("same configuration recorded as a change")
	}
	dir := t.TempDir()
	r := New(Config{OnChange: `touch "$OUT/ran"`, Content: st.Content,
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH"), "OUT=" + dir} }})
	r.Stored(rec)
	closeRunner(t, r)
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the change hook ran for an unchanged snapshot")
	}
	for _, o := range outcomes {
		if n := r.Count(Change, o); n != 0 {
			t.Errorf("%s = %d, want 0", o, n)
		}
	}
}

func TestFailureHookGetsErrorKindAndText(t *testing.T) {
	dir := t.TempDir()
	r := New(Config{OnFailure: `env > "$OUT/env"`,
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH"), "OUT=" + dir} }})
	r.Stored(api.SnapshotRecord{Changed: true}) // no change hook configured: nothing
	r.Failed(backup.Failure{JobID: "01JOB", TenantID: "acme", DeviceID: "edge-1", RequestedBy: "ops@jump1",
		Reason: "CHG-1", Trigger: api.TriggerManual, At: time.Unix(1700000000, 0),
		Err: api.Errorf(api.KindTimeout, "backup did not finish within 1m0s")})
	closeRunner(t, r)
	env := readEnv(t, filepath.Join(dir, "env"))
	want := map[string]string{"CFGSNAP_HOOK": "failure", "CFGSNAP_TENANT": "acme", "CFGSNAP_DEVICE": "edge-1",
		"CFGSNAP_ERROR_KIND": "timeout", "CFGSNAP_ERROR": "backup did not finish within 1m0s",
		"CFGSNAP_REQUESTED_BY": "ops@jump1", "CFGSNAP_REASON": "CHG-1", "CFGSNAP_JOB_ID": "01JOB",
		"CFGSNAP_FAILED_AT": "2023-11-14T22:13:20Z"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if r.Count(Failure, OutcomeOK) != 1 || r.Count(Change, OutcomeOK) != 0 {
		t.Errorf("counts: failure ok %d, change ok %d", r.Count(Failure, OutcomeOK), r.Count(Change, OutcomeOK))
	}
}

func TestFailingHookIsCounted(t *testing.T) {
	r := New(Config{OnFailure: `echo "smtp refused" >&2; exit 3`})
	r.Failed(backup.Failure{TenantID: "acme", DeviceID: "edge-1", Err: api.Errorf(api.KindUnreachable, "no route")})
	closeRunner(t, r)
	if n := r.Count(Failure, OutcomeFailed); n != 1 {
		t.Errorf("failed runs = %d, want 1", n)
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	st := openStore(t)
	rec := storetest.Record(t, st, "acme", "core-rtr-1", configA)
	dir := t.TempDir()
	// The shell starts a child that would outlive a kill of the shell alone.
	r := New(Config{OnChange: `sleep 60 & echo $! > "$OUT/pid"; wait`, Content: st.Content,
		Timeout: 300 * time.Millisecond,
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH"), "OUT=" + dir} }})
	start := time.Now()
	r.Stored(rec)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Stored blocked for %s", d)
	}
	closeRunner(t, r)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a hook with a 300ms limit held the runner for %s", d)
	}
	if n := r.Count(Change, OutcomeTimeout); n != 1 {
		t.Errorf("timeouts = %d, want 1", n)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child is killed; as an orphan it is reaped by init, so wait a
	// moment for it to disappear.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatal("the hook's child survived the timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConcurrencyIsBoundedAndOverflowIsDropped(t *testing.T) {
	dir := t.TempDir()
	// Each hook marks its start and waits for a go file.
	r := New(Config{
		OnFailure:   `touch "$OUT/started.$CFGSNAP_DEVICE"; while [ ! -e "$OUT/go" ]; do sleep 0.02; done`,
		Concurrency: 2, Queue: 2,
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH"), "OUT=" + dir} },
	})
	fail := func(dev string) {
		r.Failed(backup.Failure{TenantID: "acme", DeviceID: dev, Err: api.Errorf(api.KindUnreachable, "down")})
	}
	started := func(dev string) bool {
		_, err := os.Stat(filepath.Join(dir, "started."+dev))
		return err == nil
	}
	fail("d1")
	fail("d2")
	deadline := time.Now().Add(10 * time.Second)
	for !started("d1") || !started("d2") {
		if time.Now().After(deadline) {
			t.Fatal("the first two hooks never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, d := range []string{"d3", "d4", "d5", "d6"} {
		fail(d)
	}
	time.Sleep(200 * time.Millisecond)
	if started("d3") || started("d4") {
		t.Error("a third hook ran while two were running with concurrency 2")
	}
	if n := r.Count(Failure, OutcomeDropped); n != 2 {
		t.Errorf("dropped = %d, want 2 (2 running, 2 queued)", n)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	closeRunner(t, r)
	if n := r.Count(Failure, OutcomeOK); n != 4 {
		t.Errorf("ok = %d, want 4", n)
	}
	if started("d5") || started("d6") {
		t.Error("a dropped hook ran")
	}
}

func TestScrubEnv(t *testing.T) {
	got := ScrubEnv([]string{"PATH=/bin", "CFGSNAP_CONTENT_KEY_FILE=/k", "NATS_CREDS=/c", "SSH_AUTH_SOCK=/s",
		"ACME_PW=x", "WEBHOOK_URL=https://chat.example/hook", "NOEQUALS"}, []string{"ACME_PW"})
	want := []string{"PATH=/bin", "WEBHOOK_URL=https://chat.example/hook", "NOEQUALS"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ScrubEnv = %q, want %q", got, want)
	}
}
