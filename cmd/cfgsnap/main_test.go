package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// The tests run the real command in child processes: TestMain turns the test
// binary into cfgsnap when CFGSNAP_TEST_MAIN is set, so exit statuses,
// stdout and stderr are checked exactly as a script would see them.
func TestMain(m *testing.M) {
	if os.Getenv("CFGSNAP_TEST_MAIN") == "1" {
		// Tests never read the machine's /etc/cfgsnap/config.yaml.
		systemConfig = os.Getenv("CFGSNAP_TEST_SYSTEM_CONFIG")
		if systemConfig == "" {
			systemConfig = filepath.Join(os.TempDir(), "cfgsnap-test-no-system-config.yaml")
		}
		ctx, stop := signalContext()
		code := run(ctx, os.Args[1:])
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// signalContext is main's: SIGINT and SIGTERM cancel the command.
func signalContext() (context.Context, func()) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

type result struct {
	code           int
	stdout, stderr string
}

// lab is a simulated fleet with an inventory and a data dir.
type lab struct {
	t       *testing.T
	fleet   *devicesim.Fleet
	inv     string
	dataDir string
}

func newLab(t *testing.T, specs []devicesim.Spec) *lab {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fleet, err := devicesim.Start(ctx, devicesim.Config{StateDir: filepath.Join(dir, "sim")}, specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	inv := filepath.Join(dir, "inventory.yaml")
	if err := fleet.WriteInventory(inv); err != nil {
		t.Fatal(err)
	}
	return &lab{t: t, fleet: fleet, inv: inv, dataDir: filepath.Join(dir, "data")}
}

// start runs cfgsnap with the lab's inventory and data dir.
func (l *lab) start(ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	full := []string{"--data-dir", l.dataDir, "--log-file", filepath.Join(l.dataDir, "..", "cfgsnap.log")}
	if !slices.Contains(args, "--nats") { // remote commands refuse an explicit inventory
		full = append(full, "--inventory", l.inv)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, os.Args[0], full...)
	cmd.Env = append(os.Environ(), "CFGSNAP_TEST_MAIN=1", "NATS_URL=", "NATS_CONTEXT=", "XDG_CONFIG_HOME=", "HOME="+filepath.Dir(l.dataDir))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	return cmd, &out, &errb
}

func wait(t *testing.T, cmd *exec.Cmd, out, errb *bytes.Buffer) result {
	t.Helper()
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (l *lab) run(args ...string) result {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, out, errb := l.start(ctx, args...)
	return wait(l.t, cmd, out, errb)
}

func (l *lab) backupJSON(args ...string) (api.TriggerReply, result) {
	l.t.Helper()
	r := l.run(append([]string{"backup", "--json"}, args...)...)
	var reply api.TriggerReply
	line := strings.TrimSpace(r.stdout)
	if err := json.Unmarshal([]byte(line), &reply); err != nil {
		l.t.Fatalf("backup %v: stdout is not one JSON reply: %v\nstdout: %s\nstderr: %s", args, err, r.stdout, r.stderr)
	}
	return reply, r
}

func spec(tenant, id, version string) devicesim.Spec {
	return devicesim.Spec{Tenant: tenant, ID: id, Version: version, SizeBytes: 8 << 10, Seed: int64(len(id))}
}

// contentRows counts distinct stored configurations in the data dir's
// database, to check that content is stored once per hash.
func contentRows(t *testing.T, dataDir string) int {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.DB().QueryRow("SELECT count(*) FROM contents").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
