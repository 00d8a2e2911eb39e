package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogFileRotatesAndIsCapped writes far more than the cap through two
// writers on one file (a CLI and a service of the same user) and checks
// that at most keep+1 files of at most max bytes remain, all 0600, with the
// newest lines in the live file.
func TestLogFileRotatesAndIsCapped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cfgsnap.log")
	if err := os.WriteFile(path, []byte("old line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const maxBytes, keep = 1000, 3
	a, err := openRotating(path, maxBytes, keep)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openRotating(path, maxBytes, keep)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		w := a
		if i%2 == 1 {
			w = b
		}
		if _, err := fmt.Fprintf(w, "line %05d %s\n", i, strings.Repeat("x", 20)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Write(bytes.Repeat([]byte("y"), 3*maxBytes)); err != nil { // one line longer than the cap
		t.Fatal(err)
	}
	if _, err := fmt.Fprintln(a, "last line"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > keep+1 {
		t.Errorf("%d files, want at most %d", len(entries), keep+1)
	}
	for _, e := range entries {
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", e.Name(), st.Mode().Perm())
		}
		if st.Size() > 3*maxBytes+1 {
			t.Errorf("%s: %d bytes", e.Name(), st.Size())
		}
		if e.Name() != "cfgsnap.log" && !strings.HasPrefix(e.Name(), "cfgsnap.log.") {
			t.Errorf("unexpected file %s", e.Name())
		}
	}
	live, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(live), "last line\n") {
		t.Errorf("the live file does not end with the last line: %q", live[max(0, len(live)-40):])
	}
	if _, err := a.Write([]byte("after close\n")); err == nil {
		t.Error("a closed log accepted a write")
	}
}
