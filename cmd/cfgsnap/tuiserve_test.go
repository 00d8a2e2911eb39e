package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/tuiserver"
)

// TestServeTUIOverSSH runs `cfgsnap serve --tui-listen` and drives its TUI
// with an SSH client: alice (acme only) sees acme and not globex, backs up
// acme/core-rtr-1 and the service records her as alice@<host>; an unlisted
// key is refused; after a SIGHUP that removes her, she is refused too.
func TestServeTUIOverSSH(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("globex", "edge-1", "6.49.10")})
	alice := testSigner(t)
	users := filepath.Join(filepath.Dir(l.dataDir), "tui-users.yaml")
	writeUsers := func(lines ...string) {
		if err := os.WriteFile(users, []byte("users:\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	aliceEntry := fmt.Sprintf("  - name: alice\n    keys: [%q]\n    tenants: [acme]", strings.TrimSpace(string(gossh.MarshalAuthorizedKey(alice.PublicKey()))))
	other := testSigner(t)
	otherEntry := fmt.Sprintf("  - name: bob\n    keys: [%q]\n    tenants: [globex]\n    role: viewer", strings.TrimSpace(string(gossh.MarshalAuthorizedKey(other.PublicKey()))))
	writeUsers(aliceEntry, otherEntry)
	addr, tuiAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, sout, serr := l.start(ctx, "serve", "--listen", addr, "--tui-listen", tuiAddr, "--tui-users", users)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, "nats://"+addr, l.clientSeed())

	dial := func(key gossh.Signer) (*gossh.Client, error) {
		return gossh.Dial("tcp", tuiAddr, &gossh.ClientConfig{User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	}
	if c, err := dial(testSigner(t)); err == nil {
		c.Close()
		t.Fatal("an unlisted key got in")
	}
	conn, err := dial(alice)
	if err != nil {
		t.Fatal(err)
	}
	screen := ptyShell(t, conn)
	screen.waitFor(t, "core-rtr-1")
	time.Sleep(500 * time.Millisecond)
	if s := screen.text(); strings.Contains(s, "globex") || strings.Contains(s, "edge-1") {
		t.Fatal("alice (acme only) was shown globex")
	}
	screen.keys(t, "/core-rtr-1\r")
	time.Sleep(300 * time.Millisecond)
	screen.keys(t, "b")
	screen.waitFor(t, "sha256")
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

func testSigner(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type sshScreen struct {
	mu  sync.Mutex
	raw bytes.Buffer
	in  interface{ Write([]byte) (int, error) }
}

func ptyShell(t *testing.T, conn *gossh.Client) *sshScreen {
	t.Helper()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 35, 120, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	s := &sshScreen{}
	out, _ := sess.StdoutPipe()
	if s.in, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			s.mu.Lock()
			s.raw.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *sshScreen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.Strip(s.raw.String())
}

func (s *sshScreen) keys(t *testing.T, k string) {
	t.Helper()
	if _, err := s.in.Write([]byte(k)); err != nil {
		t.Fatal(err)
	}
}

func (s *sshScreen) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.text(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q:\n%s", want, s.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
