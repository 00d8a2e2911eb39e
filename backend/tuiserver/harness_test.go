package tuiserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
)

// env is a simulated fleet, the direct client on it, and the TUI server.
type env struct {
	t       *testing.T
	dir     string
	fleet   *devicesim.Fleet
	stack   *local.Stack
	client  client.Client
	srv     *Server
	keys    map[string]gossh.Signer // user → key
	users   string                  // users file
	stopped bool
}

type envOptions struct {
	devices     int
	idle        time.Duration
	maxSessions int
	perMinute   int
	// users lines beyond the defaults; %s is replaced by the named key.
	users []testUser
}

type testUser struct {
	name, tenants, role string
}

func newKey(t testing.TB) gossh.Signer {
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

func authorizedLine(s gossh.Signer) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey())))
}

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.devices == 0 {
		o.devices = 6
	}
	if len(o.users) == 0 {
		o.users = []testUser{{"alice", `["acme"]`, "operator"}, {"vic", `["*"]`, "viewer"}, {"root", `["*"]`, "operator"}}
	}
	ctx := context.Background()
	e := &env{t: t, dir: t.TempDir(), keys: map[string]gossh.Signer{}}
	var err error
	e.fleet, err = devicesim.Start(ctx, devicesim.Config{}, devicesim.DefaultFleet(o.devices, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.fleet.Close() })
	inv := filepath.Join(e.dir, "inventory.yaml")
	if err := e.fleet.WriteInventory(inv); err != nil {
		t.Fatal(err)
	}
	e.stack, err = local.Open(ctx, local.Options{DataDir: filepath.Join(e.dir, "data"), InventoryPath: inv, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.stack.Close() })
	e.client = client.NewDirect(e.stack)
	var b strings.Builder
	b.WriteString("users:\n")
	for _, u := range o.users {
		k := newKey(t)
		e.keys[u.name] = k
		fmt.Fprintf(&b, "  - name: %s\n    keys: [%q]\n    tenants: %s\n    role: %s\n", u.name, authorizedLine(k), u.tenants, u.role)
	}
	e.users = filepath.Join(e.dir, "users.yaml")
	if err := os.WriteFile(e.users, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv, err = New(Config{Listen: "127.0.0.1:0", UsersFile: e.users, HostKeyPath: filepath.Join(e.dir, "data", HostKeyFile),
		Client: e.client, Host: "jump1", IdleTimeout: o.idle, MaxSessions: o.maxSessions,
		Limit: ratelimit.New(o.perMinute), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		e.t.Errorf("close server: %v", err)
	}
}

// dial connects as user with key (nil: the user's key).
func (e *env) dial(key gossh.Signer) (*gossh.Client, error) {
	cfg := &gossh.ClientConfig{
		User: "whoever",
		Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error {
			if got := gossh.FingerprintSHA256(k); got != e.srv.Fingerprint() {
				return fmt.Errorf("host key %s, the server printed %s", got, e.srv.Fingerprint())
			}
			return nil
		},
		Timeout: 10 * time.Second,
	}
	return gossh.Dial("tcp", e.srv.Addr().String(), cfg)
}

// term is a client session with a PTY whose output is collected.
type term struct {
	t      testing.TB
	conn   *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser
	mu     sync.Mutex
	raw    bytes.Buffer
	writes int // output chunks received
	done   chan struct{}
	change chan struct{}
}

func openTerm(t testing.TB, conn *gossh.Client, w, h int) *term {
	t.Helper()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, conn: conn, sess: sess, done: make(chan struct{}), change: make(chan struct{}, 1)}
	if err := sess.RequestPty("xterm-256color", h, w, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if tm.stdin, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			if n > 0 {
				tm.mu.Lock()
				tm.raw.Write(buf[:n])
				tm.writes++
				tm.mu.Unlock()
				select {
				case tm.change <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return tm
}

// text is everything shown so far, without escape sequences.
func (tm *term) text() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return ansi.Strip(tm.raw.String())
}

func (tm *term) waitFor(s string, d time.Duration) {
	tm.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(tm.text(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tail := tm.text()
	if len(tail) > 3000 {
		tail = tail[len(tail)-3000:]
	}
	tm.t.Fatalf("the screen never showed %q; it shows (tail):\n%s", s, tail)
}

func (tm *term) keys(s string) {
	tm.t.Helper()
	if _, err := tm.stdin.Write([]byte(s)); err != nil {
		tm.t.Fatalf("send keys %q: %v", s, err)
	}
}

// closed waits for the server to end the session.
func (tm *term) closed(d time.Duration) bool {
	select {
	case <-tm.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (tm *term) close() {
	tm.sess.Close()
	tm.conn.Close()
}
