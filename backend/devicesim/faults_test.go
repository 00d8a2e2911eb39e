package devicesim

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

func TestWrongPasswordFault(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-badpass-1", Fault: FaultWrongPassword},
		Spec{Tenant: "acme", ID: "ok-1"})
	cfg := clientConfig(f, nil)
	cfg.Auth = append(cfg.Auth, ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
		return []string{f.Password()}, nil
	}))
	_, err := ssh.Dial("tcp", addr(t, f, "acme", "lab-badpass-1"), cfg)
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("login with the fleet password: %v, want an authentication failure", err)
	}
	// The same credentials work on a healthy device: it is the fault.
	c, err := ssh.Dial("tcp", addr(t, f, "acme", "ok-1"), cfg)
	if err != nil {
		t.Fatalf("healthy device: %v", err)
	}
	c.Close()
}

func TestAuthMethods(t *testing.T) {
	signer := sshtest.NewSigner(t)
	f := startFleet(t, Config{Username: "backup", Password: "s3cret", AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}},
		Spec{Tenant: "acme", ID: "r1"},
		Spec{Tenant: "acme", ID: "own-pw", Password: "other"})
	try := func(id, user string, auth ssh.AuthMethod) error {
		cfg := clientConfig(f, nil)
		cfg.User, cfg.Auth = user, []ssh.AuthMethod{auth}
		c, err := ssh.Dial("tcp", addr(t, f, "acme", id), cfg)
		if err == nil {
			_, err = run(t, c, "/system identity print")
			c.Close()
		}
		return err
	}
	kbd := func(pw string) ssh.AuthMethod {
		return ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			ans := make([]string, len(qs))
			for i := range ans {
				ans[i] = pw
			}
			return ans, nil
		})
	}
	for _, tc := range []struct {
		name, id, user string
		auth           ssh.AuthMethod
		ok             bool
	}{
		{"password", "r1", "backup", ssh.Password("s3cret"), true},
		{"bad password", "r1", "backup", ssh.Password("nope"), false},
		{"wrong user", "r1", "admin", ssh.Password("s3cret"), false},
		{"keyboard-interactive", "r1", "backup", kbd("s3cret"), true},
		{"keyboard-interactive bad", "r1", "backup", kbd("nope"), false},
		{"public key", "r1", "backup", ssh.PublicKeys(signer), true},
		{"device password", "own-pw", "backup", ssh.Password("other"), true},
		{"fleet password on device with its own", "own-pw", "backup", ssh.Password("s3cret"), false},
	} {
		err := try(tc.id, tc.user, tc.auth)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if f.Password() != "s3cret" {
		t.Errorf("Password() = %q", f.Password())
	}
}

func TestGeneratedPasswordIsStrong(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "r1"})
	g := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "r1"})
	if len(f.Password()) < 20 || f.Password() == g.Password() {
		t.Errorf("generated passwords %q and %q: want long and different", f.Password(), g.Password())
	}
}

func TestSlowHandshakeFault(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-slowssh-1", Fault: FaultSlowHandshake, Delay: 400 * time.Millisecond})
	// A client with a deadline shorter than the delay gives up.
	conn, err := net.Dial("tcp", addr(t, f, "acme", "lab-slowssh-1"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(150 * time.Millisecond))
	start := time.Now()
	_, _, _, err = ssh.NewClientConn(conn, "x", clientConfig(f, nil))
	conn.Close()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("handshake with a 150ms deadline: %v, want a timeout", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("handshake gave up after %v", el)
	}
	// A patient client gets through once the delay is over, with its
	// version line (sent during the delay) intact.
	start = time.Now()
	c := dial(t, f, "acme", "lab-slowssh-1")
	if el := time.Since(start); el < 350*time.Millisecond {
		t.Errorf("handshake took %v, want the 400ms delay", el)
	}
	if out, err := run(t, c, "/system identity print"); err != nil || string(out) != "  name: lab-slowssh-1\r\n" {
		t.Errorf("after the delay: %q, %v", out, err)
	}
	if v := string(c.ServerVersion()); v != "SSH-2.0-ROSSSH" {
		t.Errorf("server version %q", v)
	}
}

func TestSlowHandshakeEndsWhenClientLeaves(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-slowssh-1", Fault: FaultSlowHandshake}) // 30s
	idle := runtime.NumGoroutine()
	conn, err := net.Dial("tcp", addr(t, f, "acme", "lab-slowssh-1"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("SSH-2.0-Go\r\n"))
	// The accept loop may take a moment on a busy machine.
	for deadline := time.Now().Add(3 * time.Second); runtime.NumGoroutine() <= idle; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the device is not serving the connection")
		}
	}
	conn.Close()
	waitGoroutines(t, idle) // within 3s, not after the 30s delay
}

func TestHangAfterAuthFault(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-hang-1", Fault: FaultHangAfterAuth})
	idle := runtime.NumGoroutine()
	c := dial(t, f, "acme", "lab-hang-1")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	s.Stdout = &out
	if err := s.Start("/export"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("exec answered: %v, output %q", err, out.String())
	case <-time.After(300 * time.Millisecond): // the client's timeout
	}
	if out.Len() != 0 {
		t.Errorf("hanging device printed %q", out.String())
	}
	// The client giving up ends the device's side.
	c.Close()
	<-done
	waitGoroutines(t, idle)
}

func TestSlowOutputFault(t *testing.T) {
	f := startFleet(t, Config{Now: fixedClock}, Spec{Tenant: "acme", ID: "lab-slow-1", Fault: FaultSlowOutput, SizeBytes: 2 << 10, BytesPerSecond: 8 << 10})
	want, err := f.Export("acme", "lab-slow-1", true)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, f, "acme", "lab-slow-1")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Start("/export show-sensitive"); err != nil {
		t.Fatal(err)
	}
	got, reads, err := readAll(stdout)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if err := s.Wait(); err != nil {
		t.Fatalf("slow export ended with %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("slow export differs from Fleet.Export")
	}
	// ~3.1 KB at 8 KB/s: about 0.4s, in tenth-of-a-second pieces.
	expect := time.Duration(len(want)) * time.Second / (8 << 10)
	if el < expect*8/10 || reads < 3 {
		t.Errorf("%d bytes arrived in %v in %d reads; want about %v in several reads", len(got), el, reads, expect)
	}
}

func TestDisconnectMidExportFault(t *testing.T) {
	f := startFleet(t, Config{Now: fixedClock}, Spec{Tenant: "acme", ID: "lab-trunc-1", Fault: FaultDisconnect, SizeBytes: 40 << 10})
	full, err := f.Export("acme", "lab-trunc-1", true)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, f, "acme", "lab-trunc-1")
	out, err := run(t, c, "/export show-sensitive")
	var missing *ssh.ExitMissingError
	if !errors.As(err, &missing) {
		t.Fatalf("session ended with %v, want *ssh.ExitMissingError", err)
	}
	if len(out) < len(full)*4/10 || len(out) > len(full)*6/10 {
		t.Errorf("got %d of %d bytes, want about half", len(out), len(full))
	}
	if !bytes.HasPrefix(full, out) {
		t.Errorf("the partial export is not a prefix of the export")
	}
	if bytes.HasSuffix(out, []byte("\n")) {
		t.Errorf("the export was cut at a line end, want mid-line")
	}
	// The connection survives: other commands still work.
	if _, err := run(t, c, "/system identity print"); err != nil {
		t.Errorf("after the cut: %v", err)
	}
}

func TestNonZeroExitFault(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-fail-1", Fault: FaultNonZeroExit})
	c := dial(t, f, "acme", "lab-fail-1")
	out, err := run(t, c, "/export show-sensitive")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 1 {
		t.Fatalf("session ended with %v, want *ssh.ExitError with status 1", err)
	}
	if string(out) != nonZeroExitText {
		t.Errorf("output %q", out)
	}
	// Only exports fail.
	if _, err := run(t, c, "/system resource print"); err != nil {
		t.Errorf("resource print: %v", err)
	}
}

func TestGarbageFault(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-garbage-1", Fault: FaultGarbage})
	c := dial(t, f, "acme", "lab-garbage-1")
	out, err := run(t, c, "/export show-sensitive")
	if err != nil {
		t.Fatalf("garbage export ended with %v, want exit status 0", err)
	}
	if len(out) < 500 {
		t.Errorf("only %d bytes of garbage", len(out))
	}
	if err := routeros.Validate(routeros.Normalize(out)); err == nil {
		t.Errorf("routeros.Validate accepts the garbage as an export")
	}
}

func TestSetFaultAppliesToNextConnection(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "r1"})
	c := dial(t, f, "acme", "r1")
	if err := f.SetFault("acme", "r1", FaultNonZeroExit); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, c, "/export"); err != nil {
		t.Errorf("connection opened before the fault: %v", err)
	}
	c2 := dial(t, f, "acme", "r1")
	if _, err := run(t, c2, "/export"); exitStatus(t, err) != 1 {
		t.Errorf("connection after SetFault: %v, want exit status 1", err)
	}
	if got := f.Devices()[0].Fault; got != FaultNonZeroExit {
		t.Errorf("Devices() reports fault %q", got)
	}
	if err := f.SetFault("acme", "r1", "bogus"); err == nil {
		t.Errorf("SetFault accepted an unknown fault")
	}
	if err := f.SetFault("acme", "nope", FaultNone); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("SetFault on an unknown device: %v", err)
	}
}

// waitGoroutines waits for the goroutine count to fall to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines still running, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEndlessFault(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-endless-1", Fault: FaultEndless})
	idle := runtime.NumGoroutine()
	c := dial(t, f, "acme", "lab-endless-1")
	for _, cmd := range []string{"/system resource print", "/export show-sensitive"} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := s.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(cmd); err != nil {
			t.Fatal(err)
		}
		// Far more than any real reply, and still coming.
		got, err := io.ReadAll(io.LimitReader(stdout, 4<<20))
		if err != nil || len(got) != 4<<20 {
			t.Fatalf("%s: read %d bytes, %v; want 4 MiB and more", cmd, len(got), err)
		}
		if !bytes.HasPrefix(got, []byte("/ip firewall address-list add")) {
			t.Errorf("%s: output starts %q", cmd, got[:40])
		}
		s.Close()
	}
	// The client leaving ends the stream on the device's side.
	c.Close()
	waitGoroutines(t, idle)
}

func TestSecretFailFault(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "lab-leak-1", Fault: FaultSecretFail})
	c := dial(t, f, "acme", "lab-leak-1")
	out, err := run(t, c, "/export show-sensitive")
	if exitStatus(t, err) != 1 {
		t.Fatalf("export ended with %v, want exit status 1", err)
	}
	for _, s := range SecretFailSecrets {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("the output does not carry the secret %q:\n%s", s, out)
		}
	}
	if !bytes.HasSuffix(out, []byte("failure: could not complete export\r\n")) {
		t.Errorf("the output does not end in a RouterOS failure:\n%s", out)
	}
	// Only exports fail.
	if _, err := run(t, c, "/system resource print"); err != nil {
		t.Errorf("resource print: %v", err)
	}
}

// TestOfferedKeysRecorded: the device keeps the fingerprints of the keys
// clients offered it, in order, accepted or not.
func TestOfferedKeysRecorded(t *testing.T) {
	good, stranger := sshtest.NewSigner(t), sshtest.NewSigner(t)
	f := startFleet(t, Config{AuthorizedKeys: []ssh.PublicKey{good.PublicKey()}}, Spec{Tenant: "acme", ID: "r1"})
	if got, err := f.OfferedKeys("acme", "r1"); err != nil || len(got) != 0 {
		t.Fatalf("before any login: %v, %v", got, err)
	}
	cfg := clientConfig(f, nil)
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(stranger, good)}
	c, err := ssh.Dial("tcp", addr(t, f, "acme", "r1"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	got, err := f.OfferedKeys("acme", "r1")
	want := []string{ssh.FingerprintSHA256(stranger.PublicKey()), ssh.FingerprintSHA256(good.PublicKey())}
	if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("offered keys %v, %v; want %v", got, err, want)
	}
	if _, err := f.OfferedKeys("acme", "nope"); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("unknown device: %v", err)
	}
}
