//go:build unix

package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The database holds show-sensitive exports: no umask may make it, its
// WAL files or a directory created for it readable by others.
func TestPermissions(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "data", "cfgsnap")
	s := openStore(t, dir)
	record(t, s, "acme", "r1", "/user add name=admin password=secret\n")
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("created data dir has mode %o, want 700", m)
	}
	for _, p := range []string{s.Path(), s.Path() + "-wal", s.Path() + "-shm"} {
		if m := mode(t, p); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}

	// An existing database file readable by others is tightened; an
	// existing directory chosen by the user is left as it is.
	loose := t.TempDir()
	if err := os.Chmod(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(loose, DBFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, loose)
	if m := mode(t, s2.Path()); m != 0o600 {
		t.Errorf("existing 644 database file now has mode %o, want 600", m)
	}
	if m := mode(t, loose); m != 0o755 {
		t.Errorf("existing directory's mode changed to %o", m)
	}
}
