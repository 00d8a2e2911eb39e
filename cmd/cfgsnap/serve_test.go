package main

import (
	"bufio"
	"context"
	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/natsauth"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitService waits until a cfgsnap service answers on url, connecting
// with the client seed file when one is given (serve writes it at start).
func waitService(t *testing.T, url string, seed ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if nc, err := clientConn(url, seed...); err == nil {
			_, err = nc.Request("$SRV.PING.cfgsnap", nil, time.Second)
			nc.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no cfgsnap service on %s", url)
}

// waitListening waits until something accepts TCP connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// clientConn connects as the CLI does: with the client seed when one is
// given, replies arriving in its own inbox (api.NKeyInbox).
func clientConn(url string, seed ...string) (*nats.Conn, error) {
	var opts []nats.Option
	if len(seed) > 0 {
		opt, err := nats.NkeyOptionFromSeed(seed[0])
		if err != nil {
			return nil, err
		}
		pub, _, err := natsauth.ReadClientSeed(seed[0])
		if err != nil {
			return nil, err
		}
		opts = append(opts, opt, nats.CustomInboxPrefix(api.NKeyInbox(pub)))
	}
	return nats.Connect(url, opts...)
}

// TestServeRemoteModeLikeDirect runs `cfgsnap serve` with its embedded NATS
// and checks that the commands give the same output and exit statuses over
// NATS as in direct mode on the same data dir; then SIGHUP and SIGTERM.
func TestServeRemoteModeLikeDirect(t *testing.T) {
	bad := spec("acme", "badpass-1", "7.16.2")
	bad.Fault = devicesim.FaultWrongPassword
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("globex", "edge-1", "6.49.10"), bad})
	addr := freeAddr(t)
	url := "nats://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, sout, serr := l.start(ctx, "serve", "--listen", addr, "--heartbeat", "200ms")
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, url, l.clientSeed())
	remote := func(args ...string) result { return l.run(append([]string{"--nats", url}, args...)...) }
	direct := func(args ...string) result { return l.run(append([]string{"--direct"}, args...)...) }

	if r := remote("backup", "acme/core-rtr-1", "globex/edge-1"); r.code != 0 || strings.Count(r.stdout, " success ") != 2 {
		t.Fatalf("remote backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := direct("backup", "acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("direct backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{
		{"history", "acme/core-rtr-1", "--json"},
		{"show", "acme/core-rtr-1"},
		{"show", "globex/edge-1@latest"},
		{"diff", "acme/core-rtr-1"},
		{"devices", "--json"},
		{"backup", "acme/badpass-1"},
		{"backup", "acme/nope"},
		{"history", "globex/core-rtr-1"},
		{"show", "acme/core-rtr-1@0000000"},
	} {
		rr, dr := remote(args...), direct(args...)
		if rr.code != dr.code || rr.stdout != dr.stdout && args[0] != "backup" {
			t.Errorf("%v: remote exit %d, direct exit %d\nremote stdout:\n%s\ndirect stdout:\n%s\nremote stderr: %s", args,
				rr.code, dr.code, rr.stdout, dr.stdout, rr.stderr)
		}
	}

	// Reload: an invalid inventory is refused and the old one stays; a valid
	// one replaces it.
	invBefore, err := os.ReadFile(l.inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.inv, []byte("tenants:\n  - id: a.b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = serve.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	if r := remote("history", "globex/edge-1"); r.code != 0 {
		t.Fatalf("after a refused reload: exit %d %s", r.code, r.stderr)
	}
	var doc inventory.FileDoc
	if err := yaml.Unmarshal(invBefore, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Tenants = doc.Tenants[:1] // acme only
	if err := inventory.WriteFile(l.inv, doc); err != nil {
		t.Fatal(err)
	}
	_ = serve.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for remote("history", "globex/edge-1").code != exitUsage {
		if time.Now().After(deadline) {
			t.Fatal("globex is still served after the reload that removed it")
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := wait(t, serve, sout, serr)
	if r.code != 0 || !strings.Contains(r.stderr, "inventory reload refused") {
		t.Errorf("serve after SIGTERM: exit %d\nstderr: %s", r.code, r.stderr)
	}
	// Nobody answers now: exit 4.
	if r := remote("history", "acme/core-rtr-1"); r.code != exitUnreachable {
		t.Errorf("with the service gone: exit %d %s, want %d", r.code, r.stderr, exitUnreachable)
	}
}

// TestDemoHeadless starts the demo, backs up through it and stops it with
// Ctrl-C: the temporary data dir is gone afterwards.
func TestDemoHeadless(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, os.Args[0], "--log-file", filepath.Join(dir, "demo.log"),
		"demo", "--headless", "--listen", "127.0.0.1:0", "--devices", "14")
	cmd.Env = append(os.Environ(), "CFGSNAP_TEST_MAIN=1", "NATS_URL=", "HOME="+dir, "TMPDIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	info := map[string]string{}
	for lines.Scan() && lines.Text() != "" {
		k, v, _ := strings.Cut(lines.Text(), ": ")
		info[k] = v
	}
	url, dataDir := info["nats"], strings.Fields(info["data dir"])
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || len(dataDir) == 0 || info["inventory"] != filepath.Join(dataDir[0], "inventory.yaml") {
		t.Fatalf("demo printed %v; stderr %s", info, stderr.String())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	run := func(args ...string) result {
		c := exec.CommandContext(ctx, os.Args[0], append([]string{"--nats", url, "--log-file", filepath.Join(dir, "cli.log")}, args...)...)
		c.Env = append(os.Environ(), "CFGSNAP_TEST_MAIN=1", "HOME="+dir)
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{code, out.String(), errb.String()}
	}
	if r := run("backup", "acme/core-rtr-1", "acme/"+devicesim.DriftID); r.code != 0 {
		t.Fatalf("backup through the demo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("backup", "acme/lab-badpass-1"); r.code != exitFailed || !strings.Contains(r.stdout, "auth_failed") {
		t.Fatalf("the demo's wrong-password device: exit %d %s", r.code, r.stdout)
	}
	if r := run("backup", "globex/lab-trunc-1"); r.code != exitFailed || !strings.Contains(r.stdout, "truncated_output") {
		t.Fatalf("the demo's truncating device: exit %d %s", r.code, r.stdout)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after Ctrl-C: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(dataDir[0]); !os.IsNotExist(err) {
		t.Errorf("the temporary data dir %s is still there: %v", dataDir[0], err)
	}
}
