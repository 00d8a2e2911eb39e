package collect

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

// TestRunCapStopsEndlessOutput: a device that never stops printing costs
// exactly the cap, on stdout or on stderr, and the run ends at once with
// invalid_output rather than at the deadline.
func TestRunCapStopsEndlessOutput(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	for _, cmd := range []string{cmdEndless, cmdEndlessStderr} {
		t.Run(cmd, func(t *testing.T) {
			c := dial(t, d, srv.target())
			var out bytes.Buffer
			start := time.Now()
			err := c.Run(context.Background(), cmd, Limits{MaxBytes: 1 << 20, Timeout: 20 * time.Second}, &out)
			wantErr(t, err, api.KindInvalidOutput, "more than 1 MiB of output", `running "`+cmd+`"`)
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("took %v to stop at the cap", el)
			}
			if out.Len() > 1<<20 {
				t.Errorf("%d bytes reached the writer, more than the 1 MiB cap", out.Len())
			}
			if cmd == cmdEndless && out.Len() != 1<<20 {
				t.Errorf("%d bytes reached the writer, want the cap exactly", out.Len())
			}
			wantErr(t, c.Run(context.Background(), resourceCmd, Limits{}, nil), api.KindInternal, "already closed")
		})
	}
}

// TestRunDefaultCapIsSmall: a command run without limits (a print) takes at
// most DefaultMaxBytes.
func TestRunDefaultCapIsSmall(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	var out bytes.Buffer
	err := c.Run(context.Background(), cmdEndless, Limits{}, &out)
	wantErr(t, err, api.KindInvalidOutput, "more than 64 KiB of output")
	if out.Len() != DefaultMaxBytes {
		t.Errorf("%d bytes passed, want %d", out.Len(), DefaultMaxBytes)
	}
}

// TestRunPeakMemoryBoundedByCap streams an endless device against the
// export cap (64 MiB) and samples the heap meanwhile: nothing in Run may
// hold the stream, so the heap grows by far less than the bytes read.
func TestRunPeakMemoryBoundedByCap(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	heap := sshtest.WatchHeap(20 * time.Millisecond)
	counter := NewCountingWriter(io.Discard, 0, nil)
	err := c.Run(context.Background(), cmdEndless, Limits{MaxBytes: 64 << 20, Timeout: 2 * time.Minute}, counter)
	peak, growth := heap.Stop()
	wantErr(t, err, api.KindInvalidOutput, "more than 64 MiB")
	if counter.Count() != 64<<20 {
		t.Errorf("%d bytes passed on, want 64 MiB", counter.Count())
	}
	t.Logf("64 MiB streamed; peak HeapInuse %.1f MiB (+%.1f MiB)", float64(peak)/(1<<20), float64(growth)/(1<<20))
	if growth > 32<<20 {
		t.Errorf("heap grew by %.1f MiB while streaming to a discarding writer, want far less than the 64 MiB read", float64(growth)/(1<<20))
	}
}

// TestRunOwnDeadline: a command's Timeout ends it even when the caller's
// context has no deadline, and the error names the limit.
func TestRunOwnDeadline(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	start := time.Now()
	err := c.Run(context.Background(), cmdHang, Limits{Timeout: 300 * time.Millisecond}, nil)
	wantErr(t, err, api.KindTimeout, "did not finish within 300ms", `running "hang"`)
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("Run returned after %v, want about 300ms", el)
	}
}

// TestRunNeverQuotesSecrets: a failed export names its line count only; a
// failed print whose first line is not a RouterOS error is not quoted.
func TestRunNeverQuotesSecrets(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.password = testPassword })
	d, _ := newDialer(t)
	c := dial(t, d, srv.target())
	err := c.Run(context.Background(), cmdSecretExport, exportLimits, io.Discard)
	wantErr(t, err, api.KindInvalidOutput, "exited with status 1 after 4 lines of output (not shown: exports may hold secrets)")
	err = c.Run(context.Background(), cmdNoisyFail, Limits{}, nil)
	wantErr(t, err, api.KindInvalidOutput, "exited with status 1 after 2 lines of output (not shown: not a RouterOS error message)")
	if strings.Contains(err.Error(), "password") {
		t.Errorf("the output was quoted: %s", err)
	}
}

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		cmd, stderr, stdout string
		lines               int64
		want                string
	}{
		{"/export", "", "", 0, " and no output"},
		{"/export show-sensitive", "bad command name exprot\n", "", 1, " after 1 line of output (not shown: exports may hold secrets)"},
		{"  /export terse", "", "/user set admin password=x\n", 312, " after 312 lines of output (not shown: exports may hold secrets)"},
		{":export", "", "x\n", 1, " after 1 line of output (not shown: exports may hold secrets)"},
		{"/system resource print", "", "bad command name resurce (line 1 column 9)\r\nmore\n", 2, ` after 2 lines of output: "bad command name resurce (line 1 column 9)"`},
		{"/system resource print", "expected end of command (line 1 column 24)\n", "uptime: 1s\n", 2, ` after 2 lines of output: "expected end of command (line 1 column 24)"`},
		{"/system resource print", "", "\r\n  failure: not allowed\n", 2, ` after 2 lines of output: "failure: not allowed"`},
		{"/system resource print", "", "                   uptime: 3w\n", 1, " after 1 line of output (not shown: not a RouterOS error message)"},
		// Only the first place with output counts: a stderr that is not an
		// error shape does not let a stdout error line through, nor the reverse.
		{"/system resource print", "secret=1\n", "bad command name x\n", 2, " after 2 lines of output (not shown: not a RouterOS error message)"},
		{"/system resource print", "", "syntax error " + strings.Repeat("x", 300), 1, ` after 1 line of output: "syntax error ` + strings.Repeat("x", excerptWidth-len("syntax error ")) + `…"`},
	} {
		if got := excerpt(tc.cmd, tc.stderr, tc.stdout, tc.lines); got != tc.want {
			t.Errorf("excerpt(%q, %q, %q, %d)\n = %s\nwant %s", tc.cmd, tc.stderr, tc.stdout, tc.lines, got, tc.want)
		}
	}
}
