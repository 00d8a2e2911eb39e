package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

// TestSealedAtRestEndToEnd backs up a simulated router's show-sensitive
// export and checks, as a thief of the data dir would, that none of its
// secrets can be read there; then that reading needs the key, and that
// `store seal` rotates it.
func TestSealedAtRestEndToEnd(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16")})
	if r := l.run("backup", "acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	show := l.run("show", "acme/core-rtr-1")
	if show.code != 0 {
		t.Fatalf("show: exit %d: %s", show.code, show.stderr)
	}
	// The secret values of the export, as the device sent them.
	var secrets []string
	for _, m := range regexp.MustCompile(`(?:password|pre-shared-key|secret|private-key)="?([^" \n]{6,})`).FindAllStringSubmatch(show.stdout, -1) {
		secrets = append(secrets, m[1])
	}
	if len(secrets) == 0 {
		t.Fatalf("the export holds no secrets to look for:\n%s", show.stdout)
	}
	t.Logf("%d secrets, e.g. %.4s…", len(secrets), secrets[0])
	if where := storetest.Find(t, []string{l.dataDir}, secrets); where != "" {
		t.Fatalf("a secret of the export is readable in the data dir: %s", where)
	}
	key := filepath.Join(l.dataDir, "content.key")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("content key: %v, mode %v; want 0600", err, fi)
	}

	missing := filepath.Join(t.TempDir(), "none.key")
	r := l.run("--content-key-file", missing, "show", "acme/core-rtr-1")
	if r.code != exitFailed || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("show without the key: exit %d, stderr %q; want 1 naming %s", r.code, r.stderr, missing)
	}
	if strings.Contains(r.stdout+r.stderr, secrets[0]) {
		t.Errorf("a secret was printed without the key")
	}

	r = l.run("store", "seal")
	if r.code != 0 || !strings.Contains(r.stdout, "1 contents: 0 sealed now, 0 re-sealed under the current key, 1 sealed already") {
		t.Errorf("store seal on a sealed store: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}

	// Rotation: the old key moves aside, a new one seals everything.
	old := filepath.Join(t.TempDir(), "old.key")
	if err := os.Rename(key, old); err != nil {
		t.Fatal(err)
	}
	if r := l.run("show", "acme/core-rtr-1"); r.code != exitFailed || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("show with the key moved away: exit %d, %q", r.code, r.stderr)
	}
	r = l.run("store", "seal", "--rekey-from", old)
	if r.code != 0 || !strings.Contains(r.stdout, "1 re-sealed under the current key") {
		t.Fatalf("store seal --rekey-from: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r := l.run("show", "acme/core-rtr-1"); r.code != 0 || r.stdout != show.stdout {
		t.Errorf("show after rotation: exit %d, %q", r.code, r.stderr)
	}
	r = l.run("--content-key-file", old, "show", "acme/core-rtr-1")
	if r.code != exitFailed || !strings.Contains(r.stderr, "key id") {
		t.Errorf("show with the retired key: exit %d, %q; want 1 naming the key ids", r.code, r.stderr)
	}
}
