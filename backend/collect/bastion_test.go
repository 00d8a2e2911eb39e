package collect

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

// simLab is a simulated device reachable only through bastions in the
// tests (nothing stops a direct dial on loopback, but the bastions' forward
// counters prove the path taken).
type simLab struct {
	fleet    *devicesim.Fleet
	host     string
	port     int
	hopKey   string // identity file the bastions accept
	bastions []*devicesim.Bastion
}

func newSimLab(t *testing.T, bastions int, fault devicesim.Fault) *simLab {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fleet, err := devicesim.Start(ctx, devicesim.Config{Password: testPassword},
		[]devicesim.Spec{{Tenant: "acme", ID: "core-rtr-1", Fault: fault}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	host, port, _ := fleet.Addr("acme", "core-rtr-1")
	l := &simLab{fleet: fleet, host: host, port: port}
	var pub ssh.PublicKey
	l.hopKey, pub = sshtest.WriteIdentity(t, "")
	for range bastions {
		b, err := devicesim.StartBastion(ctx, devicesim.BastionConfig{Username: "jump", AuthorizedKeys: []ssh.PublicKey{pub}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		l.bastions = append(l.bastions, b)
	}
	return l
}

func (l *simLab) jump() string {
	var hops []string
	for _, b := range l.bastions {
		hops = append(hops, "jump@"+b.Addr())
	}
	return strings.Join(hops, ",")
}

func (l *simLab) target() Target {
	return Target{Label: "acme/core-rtr-1", Host: l.host, Port: l.port,
		Auth:      Auth{Username: "admin", Password: testPassword},
		ProxyJump: l.jump(), ProxyIdentityFile: l.hopKey}
}

type hopLog struct {
	mu      sync.Mutex
	details []string
}

func (h *hopLog) add(s string) { h.mu.Lock(); h.details = append(h.details, s); h.mu.Unlock() }
func (h *hopLog) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.details, "; ")
}

func runResource(t *testing.T, c *Conn) {
	t.Helper()
	var out bytes.Buffer
	if err := c.Run(context.Background(), resourceCmd, Limits{}, &out); err != nil {
		t.Fatalf("run through the bastions: %v", err)
	}
	if !strings.Contains(out.String(), "version:") {
		t.Fatalf("resource print: %q", out.String())
	}
}

func TestDialThroughOneAndTwoBastions(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d hops", n), func(t *testing.T) {
			l := newSimLab(t, n, devicesim.FaultNone)
			d, stages := newDialer(t)
			hops := &hopLog{}
			d.OnHop = hops.add
			c := dial(t, d, l.target())
			runResource(t, c)
			for i, b := range l.bastions {
				if b.Forwarded() != 1 {
					t.Errorf("bastion %d forwarded %d connections, want 1", i+1, b.Forwarded())
				}
			}
			var want []string
			for i, b := range l.bastions {
				want = append(want, fmt.Sprintf("via %s (hop %d/%d)", b.Addr(), i+1, n))
			}
			if hops.String() != strings.Join(want, "; ") {
				t.Errorf("hop details %q, want %q", hops, strings.Join(want, "; "))
			}
			if stages.String() != "connecting,authenticating" {
				t.Errorf("stages %s", stages)
			}
			// Every hop's key was trusted on first use, keyed by its address.
			kh, err := os.ReadFile(d.HostKeys.File)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range l.bastions {
				line := knownhosts.Line([]string{knownhosts.Normalize(b.Addr())}, b.HostKey())
				if !strings.Contains(string(kh), line) {
					t.Errorf("known_hosts lacks the bastion %s:\n%s", b.Addr(), kh)
				}
			}
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			// A second dial reuses the recorded keys.
			c2 := dial(t, d, l.target())
			runResource(t, c2)
		})
	}
}

func TestBastionHostKeyMismatchNamesTheHop(t *testing.T) {
	l := newSimLab(t, 2, devicesim.FaultNone)
	d, _ := newDialer(t)
	c := dial(t, d, l.target())
	c.Close()
	// The second bastion's recorded key is now someone else's.
	other := sshtest.NewSigner(t).PublicKey()
	addr := l.bastions[1].Addr()
	kh, err := os.ReadFile(d.HostKeys.File)
	if err != nil {
		t.Fatal(err)
	}
	swapped := strings.Replace(string(kh),
		knownhosts.Line([]string{knownhosts.Normalize(addr)}, l.bastions[1].HostKey()),
		knownhosts.Line([]string{knownhosts.Normalize(addr)}, other), 1)
	if err := os.WriteFile(d.HostKeys.File, []byte(swapped), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = d.Dial(context.Background(), l.target())
	wantErr(t, err, api.KindHostKeyMismatch, "hop 2/2 "+addr, "acme/core-rtr-1",
		ssh.FingerprintSHA256(l.bastions[1].HostKey()), "ssh-keygen -R", d.HostKeys.File)
	if strings.Contains(err.Error(), "hostkey forget") {
		t.Errorf("a jump host is not a device; hostkey forget does not apply: %s", err)
	}
}

func TestBastionAuthFailureNamesTheHop(t *testing.T) {
	l := newSimLab(t, 1, devicesim.FaultNone)
	d, _ := newDialer(t)
	tg := l.target()
	tg.ProxyIdentityFile, _ = sshtest.WriteIdentity(t, "") // a key the bastion does not know
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, "hop 1/1 "+l.bastions[0].Addr(), `"jump"`, "proxy_identity_file")

	// Without proxy_identity_file the bastion is offered the device's
	// password, which it does not take either.
	tg.ProxyIdentityFile = ""
	_, err = d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, "hop 1/1", "password")
}

func TestBastionCannotReachTheDevice(t *testing.T) {
	l := newSimLab(t, 1, devicesim.FaultNone)
	d, _ := newDialer(t)
	tg := l.target()
	l.fleet.Close() // the device is gone; the bastion is not
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindUnreachable, "jump host could not connect", tg.addr())
}

func TestLegacyDeviceNeedsLegacyAlgorithms(t *testing.T) {
	l := newSimLab(t, 0, devicesim.FaultLegacyCrypto)
	d, _ := newDialer(t)
	tg := l.target()
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindSSHAlgorithms, ssh.InsecureKeyExchangeDH1SHA1, ssh.InsecureKeyExchangeDHGEXSHA1,
		"ssh_legacy_algorithms: true", "/ip ssh set strong-crypto=yes")
	if strings.Contains(err.Error(), "kex-strict") {
		t.Errorf("protocol markers are not algorithms the device offers: %s", err)
	}

	tg.LegacyAlgorithms = true
	c := dial(t, d, tg)
	runResource(t, c)
}

func TestSSHConfigFillsWhatTheInventoryLeavesOpen(t *testing.T) {
	l := newSimLab(t, 1, devicesim.FaultNone)
	// The device takes public keys too, so IdentityFile can be proven.
	devKey, devPub := sshtest.WriteIdentity(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fleet, err := devicesim.Start(ctx, devicesim.Config{Username: "backup", AuthorizedKeys: []ssh.PublicKey{devPub}},
		[]devicesim.Spec{{Tenant: "acme", ID: "edge-1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	_, devPort, _ := fleet.Addr("acme", "edge-1")
	b := l.bastions[0]
	cfgPath := filepath.Join(t.TempDir(), "ssh_config")
	cfg := fmt.Sprintf(`Host edge-1
    HostName 127.0.0.1
    Port %d
    User backup
    IdentityFile %s
    ProxyJump jump@bastion
Host bastion
    HostName 127.0.0.1
    Port %d
    IdentityFile %s
`, devPort, devKey, b.Port(), l.hopKey)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := LoadSSHConfig(cfgPath, false)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := newDialer(t)
	d.SSHConfig = sc

	// Only the alias and the inventory's defaults: the config does the rest.
	tg := Target{Label: "acme/edge-1", Host: "edge-1", Port: 22, Auth: Auth{Username: "admin"},
		Implicit: Implicit{Username: true, Port: true}}
	c := dial(t, d, tg)
	runResource(t, c)
	if b.Forwarded() != 1 {
		t.Errorf("ProxyJump from ssh_config not used: bastion forwarded %d", b.Forwarded())
	}

	// Inventory values win: an explicit user the device rejects fails,
	// an explicit port is kept, proxy_jump: none goes direct.
	bad := tg
	bad.Implicit.Username = false
	_, err = d.Dial(context.Background(), bad)
	wantErr(t, err, api.KindAuthFailed, `"admin"`)

	wrongPort := tg
	wrongPort.Implicit.Port = false
	wrongPort.Port = l.port // the other simulated device, which knows no such key
	_, err = d.Dial(context.Background(), wrongPort)
	wantErr(t, err, api.KindAuthFailed)

	before := b.Forwarded()
	direct := tg
	direct.ProxyJump = "none"
	c2 := dial(t, d, direct)
	runResource(t, c2)
	if b.Forwarded() != before {
		t.Errorf("proxy_jump: none still went through the bastion (%d forwards)", b.Forwarded())
	}

	// A key named by ssh_config is refused when others may read it.
	if err := os.Chmod(devKey, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, devKey, "chmod 600", cfgPath)
}

func TestSSHConfigMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if sc, err := LoadSSHConfig(missing, true); sc != nil || err != nil {
		t.Errorf("optional missing config: %v %v", sc, err)
	}
	if _, err := LoadSSHConfig(missing, false); err == nil {
		t.Error("a config named on the command line must exist")
	}
}
