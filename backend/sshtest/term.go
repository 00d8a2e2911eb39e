package sshtest

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/crypto/ssh"
)

// Term is a client session with a PTY running the server's shell (the
// TUI served over SSH) whose output is collected for the test to read.
type Term struct {
	tb    testing.TB
	Conn  *ssh.Client
	sess  *ssh.Session
	stdin io.WriteCloser
	mu    sync.Mutex
	raw   bytes.Buffer
	done  chan struct{}
}

// OpenTerm opens a session on conn with a w×h xterm PTY and starts the
// shell.
func OpenTerm(tb testing.TB, conn *ssh.Client, w, h int) *Term {
	tb.Helper()
	sess, err := conn.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	tm := &Term{tb: tb, Conn: conn, sess: sess, done: make(chan struct{})}
	if err := sess.RequestPty("xterm-256color", h, w, ssh.TerminalModes{}); err != nil {
		tb.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if tm.stdin, err = sess.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			if n > 0 {
				tm.mu.Lock()
				tm.raw.Write(buf[:n])
				tm.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return tm
}

// Text is everything shown so far, without escape sequences.
func (tm *Term) Text() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return ansi.Strip(tm.raw.String())
}

// WaitFor fails the test unless the screen shows s within d; the failure
// quotes the screen's tail.
func (tm *Term) WaitFor(s string, d time.Duration) {
	tm.tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(tm.Text(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tail := tm.Text()
	if len(tail) > 3000 {
		tail = tail[len(tail)-3000:]
	}
	tm.tb.Fatalf("the screen never showed %q; it shows (tail):\n%s", s, tail)
}

// Keys types s.
func (tm *Term) Keys(s string) {
	tm.tb.Helper()
	if _, err := tm.stdin.Write([]byte(s)); err != nil {
		tm.tb.Fatalf("send keys %q: %v", s, err)
	}
}

// Done is closed when the server has ended the session's output.
func (tm *Term) Done() <-chan struct{} { return tm.done }

// Closed waits up to d for the server to end the session.
func (tm *Term) Closed(d time.Duration) bool {
	select {
	case <-tm.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Close ends the session and the connection.
func (tm *Term) Close() {
	tm.sess.Close()
	tm.Conn.Close()
}
