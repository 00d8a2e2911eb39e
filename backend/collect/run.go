package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"golang.org/x/crypto/ssh"
)

// How much of a command's output is kept for error messages.
const (
	stderrCap    = 8 << 10
	headCap      = 2 << 10
	excerptLines = 5
	excerptWidth = 200
)

// Run runs one exec command and streams its stdout to stdout (which may be
// nil). Its stderr is kept, capped, for error messages. When Run returns,
// nothing writes to stdout any more.
//
//   - exit status 0: nil
//   - non-zero exit status or a refused command: kind invalid_output, with
//     the command, the status and the first lines of output
//   - the session or connection ends without an exit status: kind
//     truncated_output, with the number of bytes received
//   - ctx done: the connection is closed (a hung device may never answer a
//     session close) and the error is kind timeout for a deadline; the Conn
//     is unusable afterwards
//   - stdout fails: the command is stopped and the writer's error returned,
//     keeping its kind when it is an *api.Error
func (c *Conn) Run(ctx context.Context, cmd string, stdout io.Writer) error {
	doing := fmt.Sprintf("running %q on %s", cmd, c.target.name())
	if ctx.Err() != nil {
		return contextFailure(ctx, doing, "")
	}
	if c.closed.Load() {
		return api.Errorf(api.KindInternal, "%s: the connection is already closed", doing)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	sess, err := c.client.NewSession()
	if err != nil {
		if !stop() {
			return contextFailure(ctx, doing, "")
		}
		return fail(api.KindUnreachable, []error{err}, "%s: the device did not open an SSH session: %v", doing, err)
	}
	defer sess.Close()

	out := &streamWriter{w: stdout, onError: func() { sess.Close() }}
	stderr := &cappedBuffer{max: stderrCap}
	sess.Stdout = out
	sess.Stderr = stderr
	if err := sess.Start(cmd); err != nil {
		if !stop() {
			return contextFailure(ctx, doing, "")
		}
		return fail(api.KindInvalidOutput, []error{err}, "%s: the device refused to run the command: %v", doing, err)
	}
	err = sess.Wait()
	n := out.count()
	werr := out.err()
	if err == nil && werr == nil {
		// Complete, even if ctx ended in the same instant.
		return nil
	}
	if !stop() {
		return contextFailure(ctx, doing, fmt.Sprintf(" (%d bytes received; the connection was closed)", n))
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
		return fail(api.KindInvalidOutput, []error{err}, "%s: the command failed with exit status %d%s", doing, exitErr.ExitStatus(), excerpt(stderr.String(), out.head()))
	case errors.As(err, &missing):
		return fail(api.KindTruncated, []error{err}, "%s: the device closed the connection before the command finished: %d bytes received — the output is incomplete", doing, n)
	}
	return fail(api.KindTruncated, []error{err}, "%s: the connection was lost before the command finished: %d bytes received — the output is incomplete (%v)", doing, n, err)
}

// excerpt quotes the first lines of what the command said, preferring
// stderr, so a person sees "bad command name" without opening a log.
func excerpt(stderr, stdout string) string {
	text := strings.TrimSpace(stderr)
	if text == "" {
		text = strings.TrimSpace(stdout)
	}
	if text == "" {
		return " and no output"
	}
	lines := strings.Split(text, "\n")
	if len(lines) > excerptLines {
		lines = append(lines[:excerptLines], "…")
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if len(l) > excerptWidth {
			l = l[:excerptWidth] + "…"
		}
		lines[i] = l
	}
	return ":\n" + strings.Join(lines, "\n")
}

// streamWriter passes stdout through, counts it, keeps its head for error
// messages, and turns the first write error into a stopped session: if it
// returned the error instead, x/crypto would stop reading while the device
// keeps writing into a full window, and the exit status would never come.
type streamWriter struct {
	w       io.Writer
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
	if room := headCap - s.first.Len(); room > 0 {
		s.first.Write(p[:min(room, len(p))])
	}
	if s.w == nil {
		s.n += int64(len(p))
		return len(p), nil
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
	return len(p), nil
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

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	max int
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
