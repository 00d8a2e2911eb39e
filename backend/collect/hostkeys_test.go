package collect

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

func keyLine(host string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{host}, key) + "\n"
}

func TestRotatedKeyIsRefusedUntilForgotten(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	other := keyLine("10.0.0.9:22", sshtest.NewSigner(t).PublicKey())
	if err := os.MkdirAll(filepath.Dir(d.HostKeys.File), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.HostKeys.File, []byte("# cfgsnap\n"+other), 0o600); err != nil {
		t.Fatal(err)
	}
	dial(t, d, srv.target()).Close()
	oldKey := srv.hostKey()

	srv.rotate()
	var stages stageLog
	d.OnStage = stages.add
	_, err := d.Dial(context.Background(), srv.target())
	wantErr(t, err, api.KindHostKeyMismatch,
		ssh.FingerprintSHA256(oldKey), ssh.FingerprintSHA256(srv.hostKey()),
		d.HostKeys.File+" line 3", "cfgsnap hostkey forget acme/core-rtr-1", "intercepting")
	if stages.String() != "connecting" {
		t.Errorf("went on after a mismatch: stages %s", stages.String())
	}

	n, err := d.HostKeys.Forget("127.0.0.1", srv.port)
	if err != nil || n != 1 {
		t.Fatalf("Forget = %d, %v", n, err)
	}
	assertFile(t, d.HostKeys.File, "# cfgsnap\n"+other, 0o600)

	dial(t, d, srv.target()).Close()
	assertFile(t, d.HostKeys.File, "# cfgsnap\n"+other+keyLine(srv.addr(), srv.hostKey()), 0o600)
}

func TestForgetEditsOnlyThatHost(t *testing.T) {
	dir := t.TempDir()
	hk := &HostKeys{File: filepath.Join(dir, "known_hosts")}
	k1 := sshtest.AuthorizedLine(sshtest.NewSigner(t).PublicKey())
	k2 := sshtest.AuthorizedLine(sshtest.NewSigner(t).PublicKey())
	hashed := knownhosts.HashHostname("[127.0.0.1]:2222")
	in := strings.Join([]string{
		"# devices",
		"[127.0.0.1]:2222 " + k1,
		"127.0.0.1 " + k1, // port 22: another device
		"[127.0.0.1]:2223 " + k1,
		"router.example,[127.0.0.1]:2222 " + k2,
		hashed + " " + k2,
		"@revoked [127.0.0.1]:2222 " + k2,
		"*.example " + k2,
		"",
	}, "\n")
	if err := os.WriteFile(hk.File, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := hk.Forget("127.0.0.1", 2222)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("forgot %d entries, want 3", n)
	}
	want := strings.Join([]string{
		"# devices",
		"127.0.0.1 " + k1,
		"[127.0.0.1]:2223 " + k1,
		"router.example " + k2,
		"@revoked [127.0.0.1]:2222 " + k2,
		"*.example " + k2,
		"",
	}, "\n")
	assertFile(t, hk.File, want, 0o600)

	if n, err := hk.Forget("127.0.0.1", 2222); err != nil || n != 0 {
		t.Errorf("second Forget = %d, %v", n, err)
	}
	missing := &HostKeys{File: filepath.Join(dir, "none", "known_hosts")}
	if n, err := missing.Forget("127.0.0.1", 22); err != nil || n != 0 {
		t.Errorf("Forget on a missing file = %d, %v", n, err)
	}
	if _, err := hk.Forget("", 22); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("Forget without host: %v", err)
	}
}

func TestPinnedHostKey(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	tg := srv.target()

	for _, pin := range []string{ssh.FingerprintSHA256(srv.hostKey()), ssh.FingerprintSHA256(srv.hostKey()) + "= "} {
		tg.HostKeyPin = pin
		dial(t, d, tg).Close()
	}
	if _, err := os.Stat(d.HostKeys.File); !os.IsNotExist(err) {
		t.Errorf("a pinned key was recorded in known_hosts (%v)", err)
	}

	// The pin wins over a recorded key.
	dial(t, d, srv.target()).Close()
	wrong := ssh.FingerprintSHA256(sshtest.NewSigner(t).PublicKey())
	tg.HostKeyPin = wrong
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindHostKeyMismatch, wrong, ssh.FingerprintSHA256(srv.hostKey()), "update host_key of acme/core-rtr-1 in the inventory")
	if strings.Contains(err.Error(), "hostkey forget") {
		t.Errorf("pinned mismatch suggests forgetting, which cannot help: %v", err)
	}

	// A pinned dial needs no known_hosts at all.
	if c, err := (&Dialer{}).Dial(context.Background(), Target{Label: "x", Host: "127.0.0.1", Port: srv.port,
		Auth: srv.target().Auth, HostKeyPin: ssh.FingerprintSHA256(srv.hostKey())}); err != nil {
		t.Errorf("pinned dial without HostKeys: %v", err)
	} else {
		c.Close()
	}
}

func TestReadOnlyKnownHosts(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	dir := t.TempDir()
	ro := filepath.Join(dir, "ssh_known_hosts")
	content := "# the user's OpenSSH file\n" + keyLine(srv.addr(), srv.hostKey())
	if err := os.WriteFile(ro, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(ro, old, old); err != nil {
		t.Fatal(err)
	}
	d, _ := newDialer(t)
	d.HostKeys.ReadOnly = []string{filepath.Join(dir, "missing"), ro}

	dial(t, d, srv.target()).Close()
	if _, err := os.Stat(d.HostKeys.File); !os.IsNotExist(err) {
		t.Errorf("a key known from a read-only file was recorded again (%v)", err)
	}

	srv.rotate()
	_, err := d.Dial(context.Background(), srv.target())
	wantErr(t, err, api.KindHostKeyMismatch, ro+" line 2", "ssh-keygen -R '"+knownhosts.Normalize(srv.addr())+"' -f "+ro,
		ssh.FingerprintSHA256(srv.hostKey()))

	assertFile(t, ro, content, 0o644)
	if st, _ := os.Stat(ro); !st.ModTime().Equal(old) {
		t.Errorf("read-only file was touched: %v", st.ModTime())
	}
}

// A device with RSA and ed25519 keys whose RSA key is already known must be
// asked for its RSA key, or the ed25519 one would look like a mismatch.
func TestAsksForTheKnownKeyType(t *testing.T) {
	rsaKey := sshtest.NewRSASigner(t)
	srv := newTestServer(t, func(s *testServer) {
		s.password = testPassword
		s.signers = append(s.signers, rsaKey)
	})
	ro := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(ro, []byte(keyLine(srv.addr(), rsaKey.PublicKey())), 0o600); err != nil {
		t.Fatal(err)
	}
	d, _ := newDialer(t)
	d.HostKeys.ReadOnly = []string{ro}
	dial(t, d, srv.target()).Close()
}

func TestHostKeysFileIsNeverInSSHDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	hk := &HostKeys{File: filepath.Join(home, ".ssh", "known_hosts")}
	cb := hk.Callback(Target{Label: "a/b", Host: "10.0.0.1", Port: 22})
	err := cb("10.0.0.1:22", &net.TCPAddr{}, sshtest.NewSigner(t).PublicKey())
	wantErr(t, err, api.KindInternal, "never writes ~/.ssh")
	if _, err := os.Stat(filepath.Join(home, ".ssh")); !os.IsNotExist(err) {
		t.Errorf("~/.ssh was created")
	}
	if _, err := hk.Forget("10.0.0.1", 22); api.KindOf(err) != api.KindInternal {
		t.Errorf("Forget wrote to ~/.ssh: %v", err)
	}
}

func TestLearnAfterLineWithoutNewline(t *testing.T) {
	hk := &HostKeys{File: filepath.Join(t.TempDir(), "known_hosts")}
	first := strings.TrimSuffix(keyLine("10.0.0.1:22", sshtest.NewSigner(t).PublicKey()), "\n")
	if err := os.WriteFile(hk.File, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	key := sshtest.NewSigner(t).PublicKey()
	if err := hk.Callback(Target{Host: "10.0.0.2"})("10.0.0.2:22", &net.TCPAddr{}, key); err != nil {
		t.Fatal(err)
	}
	assertFile(t, hk.File, first+"\n"+keyLine("10.0.0.2:22", key), 0o600)
}

func TestCorruptKnownHostsStopsTheJob(t *testing.T) {
	hk := &HostKeys{File: filepath.Join(t.TempDir(), "known_hosts")}
	if err := os.WriteFile(hk.File, []byte("this is not a known_hosts file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := hk.Callback(Target{Label: "a/b", Host: "10.0.0.2"})("10.0.0.2:22", &net.TCPAddr{}, sshtest.NewSigner(t).PublicKey())
	wantErr(t, err, api.KindStorage, hk.File)
}

// Many goroutines, some sharing a HostKeys and some with their own (as
// separate processes would be), meeting many hosts for the first time at
// once, must leave one well-formed line per host.
func TestConcurrentFirstContacts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data", "known_hosts")
	var learned atomic.Int64
	onLearn := func(_, _, _ string) { learned.Add(1) }
	shared := &HostKeys{File: file, OnLearn: onLearn}
	const hosts, perHost = 30, 4
	keys := make([]ssh.PublicKey, hosts)
	for i := range keys {
		keys[i] = sshtest.NewSigner(t).PublicKey()
	}
	var wg sync.WaitGroup
	errs := make(chan error, hosts*perHost)
	start := make(chan struct{})
	for i := range hosts {
		for g := range perHost {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				hk := shared
				if g%2 == 1 {
					hk = &HostKeys{File: file, OnLearn: onLearn}
				}
				addr := fmt.Sprintf("10.1.%d.%d:%d", i/200, i%200, 22+i%2*8706)
				errs <- hk.Callback(Target{Host: "x"})(addr, &net.TCPAddr{}, keys[i])
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if learned.Load() != hosts {
		t.Errorf("%d keys reported learned for %d hosts", learned.Load(), hosts)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != hosts {
		t.Fatalf("%d lines for %d hosts:\n%s", len(lines), hosts, data)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		_, hs, key, _, rest, err := ssh.ParseKnownHosts([]byte(l))
		if err != nil || len(hs) != 1 || len(bytes.TrimSpace(rest)) != 0 {
			t.Fatalf("bad line %q: %v", l, err)
		}
		if seen[hs[0]] {
			t.Errorf("host %s recorded twice", hs[0])
		}
		seen[hs[0]] = true
		found := false
		for i, k := range keys {
			addr := fmt.Sprintf("10.1.%d.%d:%d", i/200, i%200, 22+i%2*8706)
			if knownhosts.Normalize(addr) == hs[0] {
				found = bytes.Equal(k.Marshal(), key.Marshal())
			}
		}
		if !found {
			t.Errorf("line %q does not hold its host's key", l)
		}
	}
}

// Another process may record the host between our first look and our
// append; the append must then neither duplicate its line nor add a
// second, different key.
func TestLearnRechecksUnderTheLock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	ours, theirs := &HostKeys{File: file}, &HostKeys{File: file}
	tg := Target{Label: "acme/r2", Host: "10.0.0.7", Port: 2222}
	key := sshtest.NewSigner(t).PublicKey()
	if err := theirs.Callback(tg)("10.0.0.7:2222", &net.TCPAddr{}, key); err != nil {
		t.Fatal(err)
	}
	if learned, err := ours.learn(tg, "10.0.0.7:2222", &net.TCPAddr{}, key); learned || err != nil {
		t.Errorf("learn of a key recorded meanwhile = %v, %v", learned, err)
	}
	assertFile(t, file, keyLine("10.0.0.7:2222", key), 0o600)

	other := sshtest.NewSigner(t).PublicKey()
	learned, err := ours.learn(tg, "10.0.0.7:2222", &net.TCPAddr{}, other)
	if learned {
		t.Error("recorded a second key for the host")
	}
	wantErr(t, err, api.KindHostKeyMismatch, ssh.FingerprintSHA256(key), ssh.FingerprintSHA256(other), "cfgsnap hostkey forget acme/r2")
	assertFile(t, file, keyLine("10.0.0.7:2222", key), 0o600)
}
