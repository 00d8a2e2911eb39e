package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"golang.org/x/crypto/ssh"
)

// Limits bound what one command may take from a device. Every command goes
// through Run, so every read from a device has both: a device that streams
// forever (compromised, or a firmware bug) costs at most MaxBytes and
// Timeout, never the worker's memory.
type Limits struct {
	// MaxBytes caps stdout and stderr together; 0 means DefaultMaxBytes.
	// Past it the connection is closed and Run fails with invalid_output.
	MaxBytes int64
	// Timeout bounds the command from start to exit status, inside ctx's
	// own deadline; 0 means DefaultCommandTimeout.
	Timeout time.Duration
}

// Defaults of Limits: enough for any print command; an export passes its
// own, larger cap.
const (
	DefaultMaxBytes       = 64 << 10
	DefaultCommandTimeout = 30 * time.Second
)

func (l Limits) maxBytes() int64 {
	if l.MaxBytes > 0 {
		return l.MaxBytes
	}
	return DefaultMaxBytes
}

func (l Limits) timeout() time.Duration {
	if l.Timeout > 0 {
		return l.Timeout
	}
	return DefaultCommandTimeout
}

// How much of a command's output is kept for error messages: only the
// start of the first line is ever quoted (see excerpt).
const (
	stderrCap    = 1 << 10
	headCap      = 1 << 10
	excerptWidth = 200
)

// errCommandDeadline is the cause of a command's own deadline, to tell it
// from the job's.
var errCommandDeadline = errors.New("the command's deadline passed")

// Run runs one exec command and streams its stdout to stdout (which may be
// nil), within lim. Its stderr is kept, capped, for error messages. When
// Run returns, nothing writes to stdout any more.
//
//   - exit status 0: nil
//   - non-zero exit status or a refused command: kind invalid_output, with
//     the command, the status, the number of output lines and at most a
//     RouterOS error line (see excerpt)
//   - more than lim.MaxBytes of output: kind invalid_output; the connection
//     is closed at once (a device that keeps talking would not honour a
//     session close) and nothing past the cap reaches stdout
//   - the session or connection ends without an exit status: kind
//     truncated_output, with the number of bytes received
//   - ctx done or lim.Timeout passed: the connection is closed (a hung
//     device may never answer a session close) and the error is kind
//     timeout for a deadline; the Conn is unusable afterwards
//   - stdout fails: the command is stopped and the writer's error returned,
//     keeping its kind when it is an *api.Error
func (c *Conn) Run(ctx context.Context, cmd string, lim Limits, stdout io.Writer) error {
	doing := fmt.Sprintf("running %q on %s", cmd, c.target.name())
	if ctx.Err() != nil {
		return contextFailure(ctx, doing, "")
	}
	if c.closed.Load() {
		return api.Errorf(api.KindInternal, "%s: the connection is already closed", doing)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, lim.timeout(), errCommandDeadline)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	sess, err := c.client.NewSession()
	if err != nil {
		if !stop() {
			return c.ended(ctx, doing, lim, "")
		}
		return fail(api.KindUnreachable, []error{err}, "%s: the device did not open an SSH session: %v", doing, err)
	}
	defer sess.Close()

	budget := &outputBudget{max: lim.maxBytes(), onOver: func() { c.Close() }}
	out := &streamWriter{w: stdout, budget: budget, onError: func() { sess.Close() }}
	stderr := &cappedBuffer{max: stderrCap, budget: budget}
	sess.Stdout = out
	sess.Stderr = stderr
	if err := sess.Start(cmd); err != nil {
		if !stop() {
			return c.ended(ctx, doing, lim, "")
		}
		return fail(api.KindInvalidOutput, []error{err}, "%s: the device refused to run the command: %v", doing, err)
	}
	err = sess.Wait()
	n := out.count()
	werr := out.err()
	if budget.exceeded() {
		// Checked first: closing the connection is what ended Wait.
		return api.Errorf(api.KindInvalidOutput,
			"%s: the device sent more than %s of output, the most this command may take — stopped reading (a RouterOS device does not print that much here; is it misbehaving?)",
			doing, formatBytes(budget.max))
	}
	if err == nil && werr == nil {
		// Complete, even if ctx ended in the same instant.
		return nil
	}
	if !stop() {
		return c.ended(ctx, doing, lim, fmt.Sprintf(" (%d bytes received; the connection was closed)", n))
	}
	if werr != nil {
		var apiErr *api.Error
		if errors.As(werr, &apiErr) {
			return fmt.Errorf("%s: %w", doing, werr)
		}
		return fail(api.KindInternal, []error{werr}, "%s: cannot write its output after %d bytes: %v", doing, n, werr)
	}
	var exitErr *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case errors.As(err, &exitErr) && exitErr.Signal() != "":
		return fail(api.KindTruncated, []error{err}, "%s: the command was killed by signal %s after %d bytes — the output is incomplete", doing, exitErr.Signal(), n)
	case errors.As(err, &exitErr):
		return fail(api.KindInvalidOutput, []error{err}, "%s: the command exited with status %d%s", doing, exitErr.ExitStatus(),
			excerpt(cmd, stderr.String(), out.head(), budget.lineCount()))
	case errors.As(err, &missing):
		return fail(api.KindTruncated, []error{err}, "%s: the device closed the connection before the command finished: %d bytes received — the output is incomplete", doing, n)
	}
	return fail(api.KindTruncated, []error{err}, "%s: the connection was lost before the command finished: %d bytes received — the output is incomplete (%v)", doing, n, err)
}

// ended reports a command stopped by ctx: its own deadline is a timeout
// that names the command's limit, anything else is the caller's context.
func (c *Conn) ended(ctx context.Context, doing string, lim Limits, extra string) error {
	if errors.Is(context.Cause(ctx), errCommandDeadline) {
		return fail(api.KindTimeout, []error{context.DeadlineExceeded}, "timed out while %s: the command did not finish within %s%s", doing, lim.timeout(), extra)
	}
	return contextFailure(ctx, doing, extra)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// routerOSErrorPrefixes are how RouterOS starts a line when it refuses a
// command (the same shapes routeros.Validate looks for). Such a line says
// what went wrong and holds no configuration.
var routerOSErrorPrefixes = []string{
	"bad command name", "expected end of command", "expected command name", "syntax error",
	"no such command", "not enough permissions", "failure:", "no such item",
	"input does not match", "invalid value for argument", "ambiguous value", "missing value",
}

// excerpt is the one place that decides what of a failed command's output
// an error text may quote. Error texts travel far: the terminal, the log,
// the stored last_error, inventory.devices replies to anyone in the
// tenant. So:
//   - an export is never quoted: its lines hold passwords, PSKs and private
//     keys; the text names only how many lines there were;
//   - of any other command, at most the first line, and only when it has
//     the shape of a RouterOS error ("bad command name ...", "failure: ...")
//     that tells a person what to fix; anything else is counted, not shown.
//
// The quoted line also goes through redact, so a secret that happens to
// follow an error prefix is masked all the same.
func excerpt(cmd, stderr, stdoutHead string, lines int64) string {
	counted := fmt.Sprintf(" after %d lines of output", lines)
	if lines == 1 {
		counted = " after 1 line of output"
	}
	if lines == 0 {
		counted = " and no output"
	}
	if isExport(cmd) {
		if lines == 0 {
			return counted
		}
		return counted + " (not shown: exports may hold secrets)"
	}
	for _, text := range []string{stderr, stdoutHead} {
		first, _, _ := strings.Cut(strings.TrimLeft(text, " \t\r\n"), "\n")
		first = strings.TrimSpace(first)
		if first == "" {
			continue
		}
		for _, p := range routerOSErrorPrefixes {
			if strings.HasPrefix(first, p) {
				first = redact.Line("", first)
				if len(first) > excerptWidth {
					first = first[:excerptWidth] + "…"
				}
				return counted + ": " + strconv.Quote(first)
			}
		}
		break // only the first place with output may be quoted
	}
	if lines == 0 {
		return counted
	}
	return counted + " (not shown: not a RouterOS error message)"
}

// isExport reports a command whose output is a configuration export.
func isExport(cmd string) bool {
	f := strings.Fields(cmd)
	return len(f) > 0 && strings.TrimLeft(f[0], "/:") == "export"
}

// outputBudget counts what a command printed on stdout and stderr
// together, and its lines, and trips once the total passes max.
type outputBudget struct {
	max    int64
	onOver func()

	mu    sync.Mutex
	n     int64
	lines int64
	over  bool
	last  byte // the last byte seen, to count an unterminated last line
}

// take accounts for p and returns how much of it is within the cap.
func (b *outputBudget) take(p []byte) int {
	b.mu.Lock()
	if b.over {
		b.mu.Unlock()
		return 0
	}
	keep := len(p)
	if room := b.max - b.n; int64(keep) > room {
		keep = int(room)
		b.over = true
	}
	b.n += int64(keep)
	b.lines += int64(bytes.Count(p[:keep], []byte{'\n'}))
	if keep > 0 {
		b.last = p[keep-1]
	}
	over := b.over
	b.mu.Unlock()
	if over {
		b.onOver()
	}
	return keep
}

func (b *outputBudget) exceeded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over
}

func (b *outputBudget) lineCount() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n > 0 && b.last != '\n' {
		return b.lines + 1
	}
	return b.lines
}

// streamWriter passes stdout through, counts it, keeps its head for error
// messages, and turns the first write error into a stopped session: if it
// returned the error instead, x/crypto would stop reading while the device
// keeps writing into a full window, and the exit status would never come.
type streamWriter struct {
	w       io.Writer
	budget  *outputBudget
	onError func()

	mu    sync.Mutex
	n     int64
	first bytes.Buffer
	werr  error
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.werr != nil {
		return len(p), nil
	}
	full := len(p)
	p = p[:s.budget.take(p)]
	if room := headCap - s.first.Len(); room > 0 {
		s.first.Write(p[:min(room, len(p))])
	}
	if s.w == nil || len(p) == 0 {
		s.n += int64(len(p))
		return full, nil
	}
	n, err := s.w.Write(p)
	s.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.werr = err
		s.onError()
	}
	return full, nil
}

func (s *streamWriter) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *streamWriter) head() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first.String()
}

func (s *streamWriter) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.werr
}

// cappedBuffer keeps the first max bytes written to it; everything counts
// against the command's budget.
type cappedBuffer struct {
	max    int
	budget *outputBudget
	mu     sync.Mutex
	buf    bytes.Buffer
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	full := len(p)
	p = p[:b.budget.take(p)]
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return full, nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
