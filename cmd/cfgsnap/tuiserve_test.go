package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
	"github.com/cfgsnap/cfgsnap/backend/tuiserver"
)

// TestServeTUIOverSSH runs `cfgsnap serve --tui-listen` and drives its TUI
// with an SSH client: alice (acme only) sees acme and not globex, backs up
// acme/core-rtr-1 and the service records her as alice@<host>; an unlisted
// key is refused; after a SIGHUP that removes her, she is refused too.
func TestServeTUIOverSSH(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("globex", "edge-1", "6.49.10")})
	alice := sshtest.NewSigner(t)
	users := filepath.Join(filepath.Dir(l.dataDir), "tui-users.yaml")
	writeUsers := func(lines ...string) {
		if err := os.WriteFile(users, []byte("users:\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	aliceEntry := fmt.Sprintf("  - name: alice\n    keys: [%q]\n    tenants: [acme]", sshtest.AuthorizedLine(alice.PublicKey()))
	other := sshtest.NewSigner(t)
	otherEntry := fmt.Sprintf("  - name: bob\n    keys: [%q]\n    tenants: [globex]\n    role: viewer", sshtest.AuthorizedLine(other.PublicKey()))
	writeUsers(aliceEntry, otherEntry)
	addr, tuiAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, sout, serr := l.start(ctx, "serve", "--listen", addr, "--tui-listen", tuiAddr, "--tui-users", users)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, "nats://"+addr, l.clientSeed())
	// The TUI listener opens after the service answers: wait for it, or a
	// refused connection would pass for a refused key.
	waitListening(t, tuiAddr)

	dial := func(key gossh.Signer) (*gossh.Client, error) {
		return gossh.Dial("tcp", tuiAddr, &gossh.ClientConfig{User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	}
	if c, err := dial(sshtest.NewSigner(t)); err == nil {
		c.Close()
		t.Fatal("an unlisted key got in")
	}
	conn, err := dial(alice)
	if err != nil {
		t.Fatal(err)
	}
	screen := sshtest.OpenTerm(t, conn, 120, 35)
	screen.WaitFor("core-rtr-1", 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	if s := screen.Text(); strings.Contains(s, "globex") || strings.Contains(s, "edge-1") {
		t.Fatal("alice (acme only) was shown globex")
	}
	screen.Keys("/core-rtr-1\r")
	time.Sleep(300 * time.Millisecond)
	screen.Keys("b")
	screen.WaitFor("sha256", 30*time.Second)
	host, _ := os.Hostname()
	r := l.run("--nats", "nats://"+addr, "history", "acme/core-rtr-1", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"requested_by":"alice@`+host+`"`) {
		t.Fatalf("history: exit %d, want requested_by alice@%s:\n%s%s", r.code, host, r.stdout, r.stderr)
	}
	conn.Close()

	// Reload without alice: new sessions refuse her.
	writeUsers(otherEntry)
	_ = serve.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dial(alice)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("alice still gets in after the reload that removed her")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = serve.Process.Signal(syscall.SIGTERM)
	res := wait(t, serve, sout, serr)
	_, fp, err := tuiserver.EnsureHostKey(filepath.Join(l.dataDir, tuiserver.HostKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if res.code != 0 || !strings.Contains(res.stderr, "TUI over SSH on") || !strings.Contains(res.stderr, fp) {
		t.Fatalf("serve: exit %d; stderr does not print the TUI address and host key %s:\n%s", res.code, fp, res.stderr)
	}
}
