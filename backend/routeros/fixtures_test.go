package routeros

import (
	"bytes"
	"github.com/cfgsnap/cfgsnap/backend/testfixtures"
	"os"
	"testing"
)

const exportCmd = "/export show-sensitive"

// captures are the real devices of the fixtures with the test vectors of
// spec/normalization.md.
var captures = []struct {
	name    string // file name without "#simulation.yaml"
	version string // from /system resource print
	sha256  string // of the normalised /export show-sensitive reply
}{
	{"routeros#CHR_7.10.1", "7.10.1", "93c634b48d2127c9a8447daa8980e7d30d6f7c5e1f6593ada9d13824cca0ea87"},
	{"routeros#CHR_7.16", "7.16", "91ccd341dff3b0ab2e58a7c32dfcde8e4b73e9323cb04927a29e2fc441918970"},
	{"routeros#L009UiGS_7.15.2", "7.15.2", "57c048592885747e2114a729476c769897e5a4012fa251e6951dba045825ff6b"},
}

func loadCapture(tb testing.TB, name string) map[string][]byte {
	tb.Helper()
	replies, err := LoadCapture(testfixtures.Path(tb, name+"#simulation.yaml"))
	if err != nil {
		tb.Fatalf("LoadCapture: %v", err)
	}
	return replies
}

func captureExport(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, ok := loadCapture(tb, name)[exportCmd]
	if !ok {
		tb.Fatalf("%s has no %q reply", name, exportCmd)
	}
	return raw
}

// readFixture reads a file of the fixtures dir as it is, for fuzz seeds.
func readFixture(tb testing.TB, file string) []byte {
	tb.Helper()
	b, err := os.ReadFile(testfixtures.Path(tb, file))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func lf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
