package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

const testPassword = "s3cret-Passw0rd"

// exportLimits let the 4 MiB test export through.
var exportLimits = Limits{MaxBytes: 64 << 20, Timeout: time.Minute}

// wantErr checks the kind and the words a person needs, and that no
// password leaked into the text.
func wantErr(t *testing.T, err error, kind api.ErrorKind, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %s", kind)
	}
	msg := err.Error()
	t.Logf("%s: %s", api.KindOf(err), msg)
	if got := api.KindOf(err); got != kind {
		t.Fatalf("kind = %s, want %s; error: %s", got, kind, msg)
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not mention %q:\n%s", w, msg)
		}
	}
	for _, secret := range []string{testPassword, "wrong-Passw0rd", secretWord} {
		if strings.Contains(msg, secret) {
			t.Errorf("error contains a password:\n%s", msg)
		}
	}
}

func dial(t *testing.T, d *Dialer, tg Target) *Conn {
	t.Helper()
	c, err := d.Dial(context.Background(), tg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPasswordLoginRunsCommandAndRecordsHostKey(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, stages := newDialer(t)
	var learned []string
	d.HostKeys.OnLearn = func(label, address, fp string) { learned = append(learned, label+" "+address+" "+fp) }
	c := dial(t, d, srv.target())

	wantLearned := "acme/core-rtr-1 " + srv.addr() + " " + ssh.FingerprintSHA256(srv.hostKey())
	if len(learned) != 1 || learned[0] != wantLearned {
		t.Errorf("OnLearn calls %q, want one %q", learned, wantLearned)
	}
	if got := c.ServerVersion(); got != "SSH-2.0-ROSSSH" {
		t.Errorf("ServerVersion = %q", got)
	}
	if got := stages.String(); got != "connecting,authenticating" {
		t.Errorf("stages = %s", got)
	}
	var out bytes.Buffer
	if err := c.Run(context.Background(), resourceCmd, Limits{}, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.String() != resourceOutput {
		t.Errorf("output = %q", out.String())
	}
	srv.mu.Lock()
	vers := srv.lastClientVers
	srv.mu.Unlock()
	if vers != clientVersion {
		t.Errorf("device saw client version %q", vers)
	}

	want := "[127.0.0.1]:" + fmt.Sprint(srv.port) + " " + string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(srv.hostKey()))) + "\n"
	assertFile(t, d.HostKeys.File, want, 0o600)
	if st, err := os.Stat(filepath.Dir(d.HostKeys.File)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("known_hosts dir: %v %v, want 0700", st.Mode(), err)
	}

	// Second contact: the recorded key is accepted and not recorded again.
	c2 := dial(t, d, srv.target())
	c2.Close()
	assertFile(t, d.HostKeys.File, want, 0o600)
	if len(learned) != 1 {
		t.Errorf("OnLearn called again for a known key: %q", learned)
	}
}

func assertFile(t *testing.T, path, want string, mode os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s =\n%s\nwant\n%s", path, got, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s mode %v, want %v", path, st.Mode().Perm(), mode)
	}
}

func TestKeyboardInteractiveLogin(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.kbdPassword = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	if err := c.Run(context.Background(), resourceCmd, Limits{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestRejectedLoginSaysWhatWasTried(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword; s.kbdPassword = testPassword })
	d, _ := newDialer(t)
	tg := srv.target()
	tg.Auth.Password = "wrong-Passw0rd"
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, "acme/core-rtr-1", `"backup"`, "password", "keyboard-interactive", "inventory")
}

func TestLoginWithNoCommonMethod(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.authorized = []ssh.PublicKey{sshtest.NewSigner(t).PublicKey()} })
	d, _ := newDialer(t)
	_, err := d.Dial(context.Background(), srv.target())
	wantErr(t, err, api.KindAuthFailed, "accepts only publickey", "have: password")
}

func TestIdentityFileLogin(t *testing.T) {
	path, pub := sshtest.WriteIdentity(t, "")
	srv := newTestServer(t, func(s *testServer) { s.authorized = []ssh.PublicKey{pub} })
	d, _ := newDialer(t)
	tg := srv.target()
	tg.Auth = Auth{Username: "backup", IdentityFile: path}
	c := dial(t, d, tg)
	if err := c.Run(context.Background(), resourceCmd, Limits{}, nil); err != nil {
		t.Fatal(err)
	}

	other, _ := sshtest.WriteIdentity(t, "")
	tg.Auth.IdentityFile = other
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, "publickey (identity file "+other+")")
}

func TestEncryptedIdentityFileAsksForAgent(t *testing.T) {
	path, pub := sshtest.WriteIdentity(t, "passphrase")
	srv := newTestServer(t, func(s *testServer) { s.authorized = []ssh.PublicKey{pub} })
	d, stages := newDialer(t)
	tg := srv.target()
	tg.Auth = Auth{Username: "backup", IdentityFile: path}
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, path, "encrypted", "ssh-add "+path, "use_agent")
	if stages.String() != "" {
		t.Errorf("connected although the key could not be used: stages %s", stages)
	}

	tg.Auth.IdentityFile = filepath.Join(t.TempDir(), "missing")
	_, err = d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, "cannot read identity file")
}

func TestAgentLogin(t *testing.T) {
	pub := sshtest.StartAgent(t)
	srv := newTestServer(t, func(s *testServer) { s.authorized = []ssh.PublicKey{pub} })
	d, _ := newDialer(t)
	tg := srv.target()
	tg.Auth = Auth{Username: "backup", UseAgent: true}
	c := dial(t, d, tg)
	if err := c.Run(context.Background(), resourceCmd, Limits{}, nil); err != nil {
		t.Fatal(err)
	}

	t.Setenv("SSH_AUTH_SOCK", "")
	_, err := d.Dial(context.Background(), tg)
	wantErr(t, err, api.KindAuthFailed, "SSH_AUTH_SOCK")
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d, _ := newDialer(t)
	_, err = d.Dial(context.Background(), Target{Label: "acme/r1", Host: "127.0.0.1", Port: port, Auth: Auth{Username: "u", Password: testPassword}})
	wantErr(t, err, api.KindUnreachable, fmt.Sprintf("cannot reach 127.0.0.1:%d: connection refused", port), "/ip service")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Error("ECONNREFUSED is not in the chain")
	}
}

func TestUnknownHostName(t *testing.T) {
	d, _ := newDialer(t)
	d.DialTimeout = time.Second
	_, err := d.Dial(context.Background(), Target{Label: "acme/r1", Host: "no-such-router.invalid", Auth: Auth{Username: "u", Password: testPassword}})
	wantErr(t, err, api.KindUnreachable, "cannot resolve no-such-router.invalid", "host name in the inventory")
}

func TestClosedBeforeHandshake(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.closeOnAccept = true })
	d, _ := newDialer(t)
	_, err := d.Dial(context.Background(), srv.target())
	wantErr(t, err, api.KindUnreachable, "closed the connection before the SSH handshake", "/ip service")
}

func TestHandshakeDeadline(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.stall = true })
	d, stages := newDialer(t)
	d.HandshakeTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := d.Dial(context.Background(), srv.target())
	wantErr(t, err, api.KindTimeout, "SSH handshake", "300ms")
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
	if stages.String() != "connecting" {
		t.Errorf("stages = %s", stages)
	}
}

func TestAuthenticationDeadline(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword; s.stallInAuth = true })
	d, stages := newDialer(t)
	d.HandshakeTimeout = 500 * time.Millisecond
	start := time.Now()
	_, err := d.Dial(context.Background(), srv.target())
	wantErr(t, err, api.KindTimeout, "authentication did not finish within 500ms")
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
	if stages.String() != "connecting,authenticating" {
		t.Errorf("stages = %s", stages)
	}
}

func TestDialContext(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.stall = true })
	d, _ := newDialer(t)
	d.HandshakeTimeout = 10 * time.Second

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := d.Dial(ctx, srv.target())
	wantErr(t, err, api.KindCancelled, "cancelled while doing the SSH handshake")
	if !errors.Is(err, context.Canceled) {
		t.Error("context.Canceled is not in the chain")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("cancel took %v", el)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = d.Dial(ctx, srv.target())
	wantErr(t, err, api.KindTimeout, "timed out while doing the SSH handshake")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("context.DeadlineExceeded is not in the chain")
	}
}

func TestInvalidTargets(t *testing.T) {
	d, stages := newDialer(t)
	for _, tg := range []Target{
		{Label: "a/b", Auth: Auth{Username: "u", Password: "p"}},
		{Label: "a/b", Host: "h", Port: 70000, Auth: Auth{Username: "u", Password: "p"}},
		{Label: "a/b", Host: "h", Auth: Auth{Password: "p"}},
		{Label: "a/b", Host: "h", Auth: Auth{Username: "u", Password: "p"}, HostKeyPin: "MD5:aa:bb"},
	} {
		_, err := d.Dial(context.Background(), tg)
		wantErr(t, err, api.KindBadRequest, "a/b")
	}
	_, err := d.Dial(context.Background(), Target{Label: "a/b", Host: "h", Auth: Auth{Username: "u"}})
	wantErr(t, err, api.KindAuthFailed, "no credentials")
	_, err = (&Dialer{}).Dial(context.Background(), Target{Label: "a/b", Host: "h", Auth: Auth{Username: "u", Password: "p"}})
	wantErr(t, err, api.KindInternal, "known_hosts")
	if stages.String() != "" {
		t.Errorf("connected for an invalid target: %s", stages)
	}
}

func TestRunDeadlineOnHungCommand(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Run(ctx, cmdHang, Limits{}, nil)
	wantErr(t, err, api.KindTimeout, `running "hang" on acme/core-rtr-1`, "0 bytes received")
	if el := time.Since(start); el > 1300*time.Millisecond {
		t.Errorf("Run returned after %v, want about 300ms", el)
	}
	// The connection was closed to get out; using it again says so.
	wantErr(t, c.Run(context.Background(), resourceCmd, Limits{}, nil), api.KindInternal, "already closed")
}

func TestRunCancelled(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := c.Run(ctx, cmdHang, Limits{}, nil)
	wantErr(t, err, api.KindCancelled, "cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Error("context.Canceled is not in the chain")
	}
}

func TestRunFailures(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	for _, tc := range []struct {
		cmd   string
		kind  api.ErrorKind
		words []string
	}{
		{cmdFail, api.KindInvalidOutput, []string{`"fail"`, "exited with status 1 after 2 lines of output", "bad command name exprot (line 1 column 1)"}},
		{cmdTruncate, api.KindTruncated, []string{"the device closed the connection before the command finished", fmt.Sprintf("%d bytes received", truncateBytes)}},
		// How much of a dropped connection's data arrives is up to TCP.
		{cmdDrop, api.KindTruncated, []string{"bytes received", "incomplete"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			c := dial(t, d, srv.target())
			var out bytes.Buffer
			err := c.Run(context.Background(), tc.cmd, exportLimits, &out)
			wantErr(t, err, tc.kind, tc.words...)
			if tc.kind == api.KindTruncated && !bytes.HasPrefix(exportLines(truncateBytes), out.Bytes()) {
				t.Errorf("the %d bytes that did arrive were not passed on as sent", out.Len())
			}
			if tc.cmd == cmdTruncate && out.Len() != truncateBytes {
				t.Errorf("got %d of the %d bytes sent before the close", out.Len(), truncateBytes)
			}
		})
	}
}

func TestRunStreamsFourMegabytes(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())

	var buf bytes.Buffer
	var reports []int64
	cw := NewCountingWriter(&buf, 0, func(total int64) { reports = append(reports, total) })
	cw.MinBytes = 512 << 10
	var maxSeen atomic.Int64
	done := make(chan struct{})
	go func() { // a progress reader polling while the export streams
		for {
			select {
			case <-done:
				return
			default:
				maxSeen.Store(max(maxSeen.Load(), cw.Count()))
				time.Sleep(time.Millisecond)
			}
		}
	}()
	err := c.Run(context.Background(), cmdBig, exportLimits, cw)
	close(done)
	cw.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len() != bigSize || sha256.Sum256(buf.Bytes()) != sha256.Sum256(bigExport) {
		t.Fatalf("got %d bytes, want the %d sent", buf.Len(), bigSize)
	}
	if cw.Count() != bigSize {
		t.Errorf("Count = %d", cw.Count())
	}
	if len(reports) < 4 || reports[len(reports)-1] != bigSize {
		t.Fatalf("reports = %v", reports)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i]-reports[i-1] < 512<<10 && i != len(reports)-1 {
			t.Errorf("reports %d and %d are closer than 512 KiB", reports[i-1], reports[i])
		}
	}
}

func TestRunStopsWhenWriterFails(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	limit := &limitWriter{left: 1 << 20}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Run(ctx, cmdBig, exportLimits, limit)
	wantErr(t, err, api.KindInvalidOutput, "larger than 1 MiB", `running "big"`)

	c2 := dial(t, d, srv.target())
	err = c2.Run(ctx, cmdBig, exportLimits, &limitWriter{left: 1 << 20, plain: true})
	wantErr(t, err, api.KindInternal, "cannot write its output", "disk full")
}

// limitWriter fails once it has taken left bytes, like a size cap of the
// pipeline or a full disk.
type limitWriter struct {
	left  int
	plain bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		if w.plain {
			return n, errors.New("disk full")
		}
		return n, api.Errorf(api.KindInvalidOutput, "export larger than 1 MiB")
	}
	w.left -= len(p)
	return len(p), nil
}

func TestClassifyDialErrors(t *testing.T) {
	tg := Target{Label: "acme/r1", Host: "192.0.2.1", Port: 22}
	op := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		err   error
		kind  api.ErrorKind
		words []string
	}{
		{op(syscall.ECONNREFUSED), api.KindUnreachable, []string{"cannot reach 192.0.2.1:22: connection refused — is SSH enabled on the device (/ip service)"}},
		{op(syscall.EHOSTUNREACH), api.KindUnreachable, []string{"no route to host"}},
		{op(syscall.ENETUNREACH), api.KindUnreachable, []string{"no route to host"}},
		{op(syscall.ECONNRESET), api.KindUnreachable, []string{"connection reset"}},
		{op(&net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}), api.KindUnreachable, []string{"cannot resolve 192.0.2.1", "server misbehaving"}},
		{op(os.ErrDeadlineExceeded), api.KindTimeout, []string{"no answer within 10s while connecting"}},
		{op(errors.New("something odd")), api.KindUnreachable, []string{"something odd"}},
	} {
		err := classifyDial(context.Background(), tg, 10*time.Second, tc.err)
		wantErr(t, err, tc.kind, tc.words...)
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: cause not in the chain", tc.err)
		}
	}
}

// BenchmarkRunExport measures streaming a 4 MiB export over loopback SSH
// through a CountingWriter, as the backup pipeline does.
func BenchmarkRunExport(b *testing.B) {
	srv := newTestServer(b, func(s *testServer) { s.password = testPassword })
	d := &Dialer{HostKeys: &HostKeys{File: filepath.Join(b.TempDir(), "known_hosts")}}
	c, err := d.Dial(context.Background(), srv.target())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	b.SetBytes(bigSize)
	b.ResetTimer()
	for b.Loop() {
		buf.Reset()
		cw := NewCountingWriter(&buf, 200*time.Millisecond, func(int64) {})
		if err := c.Run(context.Background(), cmdBig, exportLimits, cw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDial measures connect, key exchange, host key check against
// known_hosts and password login over loopback.
func BenchmarkDial(b *testing.B) {
	srv := newTestServer(b, func(s *testServer) { s.password = testPassword })
	d := &Dialer{HostKeys: &HostKeys{File: filepath.Join(b.TempDir(), "known_hosts")}}
	for b.Loop() {
		c, err := d.Dial(context.Background(), srv.target())
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
