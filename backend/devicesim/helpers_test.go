package devicesim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

// builtinReplies are the replies of one of the simulator's own captures.
func builtinReplies(t testing.TB, file string) map[string][]byte {
	t.Helper()
	data, err := captures.ReadFile("captures/" + file)
	if err != nil {
		t.Fatal(err)
	}
	replies, err := routeros.ParseCapture(data)
	if err != nil {
		t.Fatal(err)
	}
	return replies
}

// fixedNow is the devices' clock in tests that compare bytes: exports made
// at the same instant are identical, header included.
var fixedNow = time.Date(2026, 11, 28, 10, 15, 2, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// startFleet starts a fleet that the test closes when it ends.
func startFleet(t testing.TB, cfg Config, specs ...Spec) *Fleet {
	t.Helper()
	f, err := Start(context.Background(), cfg, specs)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// clientConfig logs in with the fleet's password and records the host key
// the device presented.
func clientConfig(f *Fleet, hostKey *ssh.PublicKey) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User: f.Username(),
		Auth: []ssh.AuthMethod{ssh.Password(f.Password())},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if hostKey != nil {
				*hostKey = key
			}
			return nil
		},
		Timeout: 5 * time.Second,
	}
}

func addr(t testing.TB, f *Fleet, tenant, id string) string {
	t.Helper()
	host, port, ok := f.Addr(tenant, id)
	if !ok {
		t.Fatalf("no device %s/%s", tenant, id)
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// dial connects to a device as a backup client would.
func dial(t testing.TB, f *Fleet, tenant, id string) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", addr(t, f, tenant, id), clientConfig(f, nil))
	if err != nil {
		t.Fatalf("dial %s/%s: %v", tenant, id, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run executes one command and returns its stdout and the session's end
// (nil, *ssh.ExitError, *ssh.ExitMissingError ...).
func run(t testing.TB, c *ssh.Client, cmd string) ([]byte, error) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.Close()
	var out bytes.Buffer
	s.Stdout = &out
	err = s.Run(cmd)
	return out.Bytes(), err
}

// exitStatus is the command's exit status; -1 when there was none.
func exitStatus(t testing.TB, err error) int {
	t.Helper()
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitStatus()
	case errors.As(err, &missing):
		return -1
	}
	t.Fatalf("unexpected session error: %v", err)
	return 0
}

// joinContinuations is normalisation rule 3 on its own: a line ending in
// a backslash absorbs the next one minus its leading blanks.
func joinContinuations(lines []string) []string {
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
			i++
			l = l[:len(l)-1] + strings.TrimLeft(lines[i], " \t")
		}
		out = append(out, l)
	}
	return out
}

// crlfLines splits CRLF text into lines, failing on a bare LF or CR.
func splitCRLF(t testing.TB, b []byte) []string {
	t.Helper()
	s := string(b)
	if !strings.HasSuffix(s, "\r\n") {
		t.Fatalf("output does not end with CRLF: %q", tail(s))
	}
	lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, l)
		}
	}
	return lines
}

func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

// readAll drains r and reports how many reads it took, to see that a big
// export arrives in pieces.
func readAll(r io.Reader) ([]byte, int, error) {
	var b bytes.Buffer
	p := make([]byte, 32<<10)
	reads := 0
	for {
		n, err := r.Read(p)
		if n > 0 {
			reads++
			b.Write(p[:n])
		}
		if err == io.EOF {
			return b.Bytes(), reads, nil
		}
		if err != nil {
			return b.Bytes(), reads, err
		}
	}
}

// lockedBuffer is written by an SSH session's goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
