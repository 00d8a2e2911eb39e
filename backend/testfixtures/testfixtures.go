// Package testfixtures finds the real RouterOS captures the tests check
// against: the oxidized-routeros folder of the "shared" fixtures directory beside the repository
// root, where CI provides them (or CFGSNAP_FIXTURES). They are not part of
// the repository; a bare clone skips the tests that need them, saying why,
// instead of failing on a missing file.
package testfixtures

import (
	"os"
	"path/filepath"
	"testing"
)

// Env overrides where the captures are.
const Env = "CFGSNAP_FIXTURES"

// Dir returns the captures' directory, or skips the test when there is
// none.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(Env)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			tb.Fatalf("find the repository root: %v", err)
		}
		dir = filepath.Join(root, "..", "shared", "fixtures", "oxidized-routeros")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		tb.Skipf("real RouterOS captures not found at %s: CI puts them beside the repository (the shared fixtures folder) or where %s points; a bare clone skips this test", dir, Env)
	}
	return dir
}

// Path returns the path of one capture file, or skips the test.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}

// repoRoot is the directory of go.mod above the test's working directory
// (the package's directory under go test).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
