package testfixtures

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirFindsTheCapturesOrSkipsInABareClone(t *testing.T) {
	if os.Getenv("TESTFIXTURES_CHILD") == "1" {
		Dir(t)
		t.Fatal("Dir returned for a directory that does not exist")
	}
	// In a child process pointed at nowhere, the test is skipped, saying why.
	cmd := exec.Command(os.Args[0], "-test.run", "^TestDirFindsTheCapturesOrSkipsInABareClone$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTFIXTURES_CHILD=1", Env+"="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "a bare clone skips this test") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// Here, beside ../shared/fixtures, the captures are found.
	t.Setenv(Env, "")
	if _, err := os.Stat(filepath.Join(Dir(t), "LICENSE.oxidized")); err != nil {
		t.Error(err)
	}
}
