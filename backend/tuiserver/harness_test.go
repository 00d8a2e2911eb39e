package tuiserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
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
		k := sshtest.NewSigner(t)
		e.keys[u.name] = k
		fmt.Fprintf(&b, "  - name: %s\n    keys: [%q]\n    tenants: %s\n    role: %s\n", u.name, sshtest.AuthorizedLine(k.PublicKey()), u.tenants, u.role)
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
