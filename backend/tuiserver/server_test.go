package tuiserver

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

// A listed key opens the TUI, sees only its user's tenants, backs up a
// device (the hash the store recorded is on screen, requested_by is the
// session's user) and is rate limited on the next trigger.
func TestListedKeySeesOnlyItsTenantsAndBacksUp(t *testing.T) {
	e := startEnv(t, envOptions{perMinute: 1})
	conn, err := e.dial(e.keys["alice"])
	if err != nil {
		t.Fatal(err)
	}
	tm := sshtest.OpenTerm(t, conn, 120, 35)
	defer tm.Close()
	tm.WaitFor("core-rtr-1", 20*time.Second)
	time.Sleep(500 * time.Millisecond) // let every list load
	for _, other := range []string{"globex", "Globex", "initech", "Initech"} {
		if strings.Contains(tm.Text(), other) {
			t.Fatalf("alice (acme only) was shown %q", other)
		}
	}
	tm.Keys("/core-rtr-1\r")
	time.Sleep(300 * time.Millisecond)
	tm.Keys("b")
	tm.WaitFor("sha256", 30*time.Second)
	recs, _, err := e.client.History(context.Background(), "acme", "core-rtr-1", 1, "")
	if err != nil || len(recs) != 1 {
		t.Fatalf("history: %v %v", recs, err)
	}
	tm.WaitFor(recs[0].SHA256[:12], 5*time.Second)
	if recs[0].RequestedBy != "alice@jump1" {
		t.Fatalf("requested_by %q, want alice@jump1", recs[0].RequestedBy)
	}
	// One trigger per minute: the next is refused with when to retry.
	tm.Keys("b")
	tm.WaitFor("retry in", 10*time.Second)
}

func TestUnlistedKeyIsRefusedAtAuthentication(t *testing.T) {
	e := startEnv(t, envOptions{})
	conn, err := e.dial(sshtest.NewSigner(t))
	if err == nil {
		conn.Close()
		t.Fatal("an unlisted key got in")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("refused with %v, want an authentication failure", err)
	}
}

func TestViewerCannotTrigger(t *testing.T) {
	e := startEnv(t, envOptions{})
	conn, err := e.dial(e.keys["vic"])
	if err != nil {
		t.Fatal(err)
	}
	tm := sshtest.OpenTerm(t, conn, 120, 35)
	defer tm.Close()
	tm.WaitFor("core-rtr-1", 20*time.Second)
	tm.Keys("/core-rtr-1\r")
	time.Sleep(300 * time.Millisecond)
	tm.Keys("b")
	tm.WaitFor("operator role", 10*time.Second)
	recs, _, err := e.client.History(context.Background(), "acme", "core-rtr-1", 1, "")
	if err != nil || len(recs) != 0 {
		t.Fatalf("a viewer's trigger ran a backup: %v %v", recs, err)
	}
}

func TestIdleSessionIsClosed(t *testing.T) {
	e := startEnv(t, envOptions{idle: 1500 * time.Millisecond})
	conn, err := e.dial(e.keys["root"])
	if err != nil {
		t.Fatal(err)
	}
	tm := sshtest.OpenTerm(t, conn, 100, 30)
	defer tm.Close()
	tm.WaitFor("core-rtr-1", 20*time.Second)
	// Keystrokes keep it open...
	for range 4 {
		time.Sleep(500 * time.Millisecond)
		tm.Keys("j")
	}
	select {
	case <-tm.Done():
		t.Fatal("closed while the user was typing")
	default:
	}
	// ...silence closes it, although the TUI keeps drawing.
	if !tm.Closed(10 * time.Second) {
		t.Fatal("an idle session stayed open")
	}
	if !strings.Contains(tm.Text(), "without a keystroke") {
		t.Fatalf("no idle message; tail: %q", tail(tm.Text()))
	}
}

func TestSessionsAreBounded(t *testing.T) {
	e := startEnv(t, envOptions{maxSessions: 1})
	c1, err := e.dial(e.keys["root"])
	if err != nil {
		t.Fatal(err)
	}
	t1 := sshtest.OpenTerm(t, c1, 100, 30)
	defer t1.Close()
	t1.WaitFor("core-rtr-1", 20*time.Second)
	c2, err := e.dial(e.keys["alice"])
	if err != nil {
		t.Fatal(err)
	}
	t2 := sshtest.OpenTerm(t, c2, 100, 30)
	defer t2.Close()
	if !t2.Closed(10 * time.Second) {
		t.Fatal("the session over the limit stayed open")
	}
	if !strings.Contains(t2.Text(), "sessions open") {
		t.Fatalf("no refusal message: %q", t2.Text())
	}
	if strings.Contains(t2.Text(), "core-rtr-1") {
		t.Fatal("the refused session was shown the fleet")
	}
}

// Sessions whose connections drop leave no goroutines behind: the TUI,
// its watchers on the client and the SSH plumbing all end.
func TestDroppedConnectionLeavesNoGoroutines(t *testing.T) {
	e := startEnv(t, envOptions{})
	// A first session warms up what lives as long as the process (the
	// client's pollers of shared state, timers' runtime goroutines).
	warm, err := e.dial(e.keys["root"])
	if err != nil {
		t.Fatal(err)
	}
	wt := sshtest.OpenTerm(t, warm, 100, 30)
	wt.WaitFor("core-rtr-1", 20*time.Second)
	wt.Close()
	waitSessions(t, e, 0)
	base := settledGoroutines(0, 0)
	var terms []*sshtest.Term
	for _, u := range []string{"alice", "vic", "root"} {
		c, err := e.dial(e.keys[u])
		if err != nil {
			t.Fatal(err)
		}
		tm := sshtest.OpenTerm(t, c, 100, 30)
		tm.WaitFor("core-rtr-1", 20*time.Second)
		tm.Keys("j")
		terms = append(terms, tm)
	}
	if n := e.srv.Sessions(); n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
	// Drop the TCP connections without an SSH goodbye.
	for _, tm := range terms {
		tm.Conn.Conn.(interface{ Close() error }).Close()
	}
	waitSessions(t, e, 0)
	if got := settledGoroutines(base, 10*time.Second); got > base {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("%d goroutines after the sessions dropped, %d before:\n%s", got, base, buf[:n])
	}
}

func TestReloadAppliesToNewSessions(t *testing.T) {
	e := startEnv(t, envOptions{})
	old, err := os.ReadFile(e.users)
	if err != nil {
		t.Fatal(err)
	}
	// An invalid file is refused and the old users stay.
	if err := os.WriteFile(e.users, []byte("users:\n  - name: x\n    role: admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Reload(); err == nil {
		t.Fatal("an invalid users file was accepted")
	}
	if c, err := e.dial(e.keys["alice"]); err != nil {
		t.Fatalf("alice refused after a refused reload: %v", err)
	} else {
		c.Close()
	}
	// Alice removed: her next connection is refused.
	var kept []string
	lines := strings.Split(string(old), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.Contains(lines[i], "name: alice") {
			i += 3
			continue
		}
		kept = append(kept, lines[i])
	}
	if err := os.WriteFile(e.users, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if c, err := e.dial(e.keys["alice"]); err == nil {
		c.Close()
		t.Fatal("alice still got in after her removal")
	}
	if c, err := e.dial(e.keys["vic"]); err != nil {
		t.Fatalf("vic refused: %v", err)
	} else {
		c.Close()
	}
}

func TestHostKeyIsPrivateAndStable(t *testing.T) {
	path := t.TempDir() + "/k/" + HostKeyFile
	_, fp1, err := EnsureHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v, want 0600", fi.Mode().Perm())
	}
	_, fp2, err := EnsureHostKey(path)
	if err != nil || fp1 != fp2 || !strings.HasPrefix(fp1, "SHA256:") {
		t.Fatalf("second load: %q %q %v", fp1, fp2, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureHostKey(path); err == nil {
		t.Fatal("a world-readable host key was used")
	}
}

func waitSessions(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Sessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want %d", e.srv.Sessions(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines waits until the count is at most want (or for d), and
// returns it; want 0 waits for it to stop changing.
func settledGoroutines(want int, d time.Duration) int {
	deadline := time.Now().Add(max(d, 2*time.Second))
	last, stable := -1, 0
	for time.Now().Before(deadline) {
		runtime.GC()
		n := runtime.NumGoroutine()
		if want > 0 && n <= want {
			return n
		}
		if n == last {
			stable++
			if want == 0 && stable >= 5 {
				return n
			}
		} else {
			stable = 0
		}
		last = n
		time.Sleep(100 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
