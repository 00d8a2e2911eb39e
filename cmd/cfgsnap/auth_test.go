package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/natsauth"
)

// clientSeed is the client credential serve writes for the lab's user
// (HOME is the lab dir, XDG_CONFIG_HOME unset).
func (l *lab) clientSeed() string {
	return natsauth.ClientSeedPath(filepath.Join(filepath.Dir(l.dataDir), ".config"))
}

// TestServeCredentialsAcrossOSUsers runs `serve` as root on a root-owned
// data dir, then the CLI as another OS user (nobody): without a credential
// it is refused with what to ask the operator for, and it cannot read the
// credentials serve wrote; root's CLI finds its credential with no flags at
// all; once the operator allows nobody's own key, nobody's CLI finds it
// with no flags too.
func TestServeCredentialsAcrossOSUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the CLI as another OS user (runuser -u nobody); CI runs as root")
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		t.Skip("runuser is not installed: cannot run the CLI as another OS user")
	}
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	// nobody must be able to execute the binary: copy it out of the
	// build's private directory.
	binDir := t.TempDir()
	for _, d := range []string{filepath.Dir(binDir), binDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(binDir, "cfgsnap")
	copyFile(t, os.Args[0], bin, 0o755)
	nobodyHome := filepath.Join(binDir, "nobody")
	if err := os.Mkdir(nobodyHome, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(nobodyHome, 65534, 65534); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	url := "nats://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, sout, serr := l.start(ctx, "serve", "--listen", addr)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, url, l.clientSeed())

	rootHome := filepath.Dir(l.dataDir)
	runAs := func(asNobody bool, args ...string) result {
		t.Helper()
		home := rootHome
		var argv []string
		if asNobody {
			home = nobodyHome
			argv = []string{runuser, "-u", "nobody", "--"}
		}
		argv = append(argv, "env", "CFGSNAP_TEST_MAIN=1", "HOME="+home, "XDG_CONFIG_HOME=", "XDG_DATA_HOME=",
			"XDG_STATE_HOME=", "NATS_URL=", "NATS_NKEY=", "NATS_CREDS=", "CFGSNAP_INVENTORY=", "CFGSNAP_DATA_DIR=", bin)
		argv = append(argv, args...)
		c := exec.CommandContext(ctx, argv[0], argv[1:]...)
		c.Dir = home
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{code, out.String(), errb.String()}
	}

	// Another OS user without a credential: refused, told what to ask for.
	r := runAs(true, "--nats", url, "history", "acme/core-rtr-1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "requires credentials") ||
		!strings.Contains(r.stderr, "ask its operator for a client credential") || !strings.Contains(r.stderr, "--nats-nkey") {
		t.Fatalf("nobody without a credential: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// ... and cannot take the credentials serve wrote for root.
	for _, seed := range []string{l.clientSeed(), filepath.Join(natsauth.Dir(l.dataDir), natsauth.ServiceSeedName)} {
		r := runAs(true, "--nats", url, "--nats-nkey", seed, "history", "acme/core-rtr-1")
		if r.code == 0 || !strings.Contains(r.stderr, "permission denied") {
			t.Errorf("nobody with root's %s: exit %d %s", seed, r.code, r.stderr)
		}
	}

	// Root, the user serve runs as: no flags at all (no --nats, no
	// --inventory) find the service and its credential.
	if r := runAs(false, "--log-file", filepath.Join(rootHome, "cli.log"), "backup", "acme/core-rtr-1"); r.code != 0 || !strings.Contains(r.stdout, " success ") {
		t.Fatalf("root with no flags: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The operator lets nobody's own key in; nobody's CLI then finds its
	// credential with no flags.
	r = runAs(true, "credential", "new", "--service", url)
	pub, _, _ := strings.Cut(r.stdout, "\t")
	if r.code != 0 || !strings.HasPrefix(pub, "U") {
		t.Fatalf("credential new as nobody: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runAs(false, "--data-dir", l.dataDir, "credential", "allow", pub, "nobody"); r.code != 0 {
		t.Fatalf("credential allow: exit %d %s", r.code, r.stderr)
	}
	if err := serve.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = runAs(true, "history", "acme/core-rtr-1")
		if r.code == 0 && strings.Contains(r.stdout, "manual") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nobody with an allowed key and no flags: exit %d\n%s%s\nserve: %s", r.code, r.stdout, r.stderr, serr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = serve.Process.Signal(syscall.SIGTERM)
	if r := wait(t, serve, sout, serr); r.code != 0 {
		t.Errorf("serve: exit %d %s", r.code, r.stderr)
	}
}

// TestServeNoAuthIsLoud checks that --no-auth warns on stderr and in the
// log, and that the open server then lets a client without a credential in.
func TestServeNoAuthIsLoud(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serve, sout, serr := l.start(ctx, "serve", "--listen", addr, "--no-auth")
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, "nats://"+addr)
	_ = serve.Process.Signal(syscall.SIGTERM)
	r := wait(t, serve, sout, serr)
	logText, err := os.ReadFile(filepath.Join(filepath.Dir(l.dataDir), "cfgsnap.log"))
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !strings.Contains(r.stderr, "WARNING: --no-auth") || !strings.Contains(string(logText), "--no-auth") {
		t.Fatalf("--no-auth: exit %d, stderr %q, log has the warning: %v", r.code, r.stderr, strings.Contains(string(logText), "--no-auth"))
	}
	if _, err := os.Stat(l.clientSeed()); !os.IsNotExist(err) {
		t.Errorf("--no-auth wrote a credential anyway: %v", err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
