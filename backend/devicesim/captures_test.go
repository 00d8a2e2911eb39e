package devicesim

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/testfixtures"
)

// The simulator's captures are byte-for-byte copies of the real ones, with
// their licence: the sanitised device replies must not drift from Oxidized's.
func TestEmbeddedCapturesMatchTheRealOnes(t *testing.T) {
	dir := testfixtures.Dir(t)
	names, err := fs.Glob(captures, "captures/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(fixtureFiles)+2 {
		t.Fatalf("embedded %v, want the %d captures, the licence and the README", names, len(fixtureFiles))
	}
	for _, name := range names {
		got, err := captures.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", name, filepath.Join(dir, filepath.Base(name)))
		}
	}
}

// A capture device of DefaultFleet works without any file outside the
// binary: run from a directory that has no fixtures anywhere above it.
func TestDefaultFleetCapturesNeedNoFiles(t *testing.T) {
	t.Chdir(t.TempDir())
	var specs []Spec
	for _, s := range DefaultFleet(5, false) {
		if s.Fixture != "" {
			specs = append(specs, s)
		}
	}
	if len(specs) != len(fixtureFiles) {
		t.Fatalf("%d capture devices, want %d", len(specs), len(fixtureFiles))
	}
	f := startFleet(t, Config{}, specs...)
	for _, d := range f.Devices() {
		if d.Version == "" || d.Model == "" {
			t.Errorf("%s: version %q model %q, not read from its capture", d.ID, d.Version, d.Model)
		}
	}
	raw, err := f.Export("globex", "capture-chr-2", true)
	if err != nil || !bytes.Contains(raw, []byte("/interface")) {
		t.Errorf("export of a capture device: %v\n%.200s", err, raw)
	}
}
