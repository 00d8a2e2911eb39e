package storetest

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/seal"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// sealTests are the contract of content sealed at rest (issue 11 §3).
var sealTests = []struct {
	name string
	f    func(*testing.T, Backend)
}{
	{"SealedAtRestHidesSecrets", testSealedAtRest},
	{"SealedContentNeedsItsKey", testSealedContentNeedsItsKey},
	{"LegacyContentReadAndSealed", testLegacyContentReadAndSealed},
	{"LegacyContentSealedOnNextWrite", testLegacyContentSealedOnNextWrite},
	{"RekeyFromOldKey", testRekeyFromOldKey},
}

// SecretExport returns an export holding secrets that appear nowhere else:
// the secret strings (unique to this call) and the export.
func SecretExport(t testing.TB, size int) ([]string, []byte) {
	t.Helper()
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	tag := hex.EncodeToString(r[:])
	secrets := []string{"password=Sup3rS3cret!" + tag, "wpa2-pre-shared-key=\"Wifi-" + tag + "\""}
	var b bytes.Buffer
	b.Write(ExportText(size))
	b.WriteString("/user\nset admin " + secrets[0] + "\n")
	b.WriteString("/interface wireless security-profiles\nset [ find default=yes ] " + secrets[1] + "\n")
	b.WriteString("/ip firewall filter\nadd action=accept chain=input comment=" + tag + "\n")
	return secrets, b.Bytes()
}

// Find reports where, in the files under dirs, any of secrets is: in the
// raw bytes, in what a DEFLATE stream (raw, zlib or gzip) starting at any
// offset decodes to, or in what an S2/Snappy stream (JetStream's block
// compression) decodes to. "" when nowhere.
func Find(t testing.TB, dirs []string, secrets []string) string {
	t.Helper()
	for _, dir := range dirs {
		var found string
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while walking (a compaction)
				}
				return err
			}
			if found != "" || !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if how := findIn(data, secrets); how != "" {
				found = path + ": " + how
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scan %s: %v", dir, err)
		}
		if found != "" {
			return found
		}
	}
	return ""
}

func findIn(data []byte, secrets []string) string {
	has := func(b []byte) bool {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				return true
			}
		}
		return false
	}
	if has(data) {
		return "in clear"
	}
	// A DEFLATE stream may start anywhere (zlib and gzip wrap one after a
	// header); most offsets fail within a few bytes.
	var out bytes.Buffer
	fr := flate.NewReader(nil)
	for off := range data {
		if err := fr.(flate.Resetter).Reset(bytes.NewReader(data[off:]), nil); err != nil {
			continue
		}
		out.Reset()
		_, _ = io.Copy(&out, io.LimitReader(fr, 16<<20))
		if out.Len() > 16 && has(out.Bytes()) {
			return "deflated at offset " + strconv.Itoa(off)
		}
	}
	for _, magic := range [][]byte{[]byte("\xff\x06\x00\x00S2sTwO"), []byte("\xff\x06\x00\x00sNaPpY")} {
		for off := 0; ; {
			i := bytes.Index(data[off:], magic)
			if i < 0 {
				break
			}
			off += i
			out.Reset()
			_, _ = io.Copy(&out, io.LimitReader(s2.NewReader(bytes.NewReader(data[off:])), 64<<20))
			if has(out.Bytes()) {
				return "s2-compressed at offset " + strconv.Itoa(off)
			}
			off++
		}
	}
	return ""
}

// waitOnDisk waits until marker is in the files under dirs in clear:
// JetStream writes behind, and a scan that runs before the data reaches
// the disk would prove nothing.
func waitOnDisk(t *testing.T, dirs []string, marker []byte) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, dir := range dirs {
			hit := false
			_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || hit || !d.Type().IsRegular() {
					return nil //nolint:nilerr // a file that vanished mid-walk holds nothing to find
				}
				if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, marker) {
					hit = true
				}
				return nil
			})
			if hit {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stored content did not reach the disk under %v", dirs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func record(t *testing.T, s store.Store, device string, content []byte) api.SnapshotRecord {
	t.Helper()
	rec, err := s.Record(context.Background(), api.SnapshotRecord{TenantID: "acme", DeviceID: device}, content)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	return rec
}

func mustContent(t *testing.T, s store.Store, sum string, want []byte) {
	t.Helper()
	got, err := s.Content(context.Background(), sum)
	if err != nil {
		t.Fatalf("Content(%s): %v", store.Short(sum), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Content(%s): %d bytes, want the %d stored", store.Short(sum), len(got), len(want))
	}
}

func sealAll(t *testing.T, s store.Store) store.SealStats {
	t.Helper()
	sl, ok := s.(store.Sealer)
	if !ok {
		t.Fatalf("%T cannot seal in place (store.Sealer)", s)
	}
	st, err := sl.SealAll(context.Background())
	if err != nil {
		t.Fatalf("SealAll: %v", err)
	}
	return st
}

func testSealedAtRest(t *testing.T, b Backend) {
	s := b.Open(t)
	secrets, export := SecretExport(t, 60<<10)
	rec := record(t, s, "r1", export)
	record(t, s, "r2", export) // dedupe still works on the sealed store
	if n := b.Contents(t, s); n != 1 {
		t.Errorf("%d contents stored for one configuration, want 1", n)
	}
	mustContent(t, s, rec.SHA256, export)
	raw := b.Raw(t, s, rec.SHA256)
	if !seal.IsSealed(raw) {
		t.Fatalf("stored content is not a sealed blob: % x", raw[:min(len(raw), 16)])
	}
	dirs := b.DataDirs(t, s)
	waitOnDisk(t, dirs, raw[:40]) // header and nonce: unique to this blob
	if where := Find(t, dirs, secrets); where != "" {
		t.Fatalf("a secret of the export is readable at rest: %s", where)
	}
	// The key file is the owner's alone.
	fi, err := os.Stat(b.KeyFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("content key mode %04o, want 0600", m)
	}
}

func testSealedContentNeedsItsKey(t *testing.T, b Backend) {
	s := b.Open(t)
	_, export := SecretExport(t, 4<<10)
	rec := record(t, s, "r1", export)

	missing := filepath.Join(t.TempDir(), "content.key")
	_, err := b.Reopen(t, s, store.NewKeys(missing)).Content(context.Background(), rec.SHA256)
	if api.KindOf(err) != api.KindStorage || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("content without its key file: err = %v, want a storage error naming %s", err, missing)
	}
	if _, serr := os.Stat(missing); serr == nil {
		t.Errorf("reading content created the key file %s", missing)
	}

	other := filepath.Join(t.TempDir(), "content.key")
	if _, err := seal.LoadOrCreate(other); err != nil {
		t.Fatal(err)
	}
	_, err = b.Reopen(t, s, store.NewKeys(other)).Content(context.Background(), rec.SHA256)
	if api.KindOf(err) != api.KindStorage || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "key id") {
		t.Errorf("content under another key: err = %v, want a storage error naming %s and the key ids", err, other)
	}
	if err != nil && strings.Contains(err.Error(), "Sup3rS3cret") {
		t.Errorf("the error quotes the content: %v", err)
	}
	mustContent(t, s, rec.SHA256, export) // the right key still reads it
}

func testLegacyContentReadAndSealed(t *testing.T, b Backend) {
	s := b.Open(t)
	secrets, export := SecretExport(t, 16<<10)
	sum := store.Sum(export)
	b.PutLegacy(t, s, sum, export)
	mustContent(t, s, sum, export)
	dirs := b.DataDirs(t, s)
	// The scan sees content stored as cfgsnap did before sealing, so that
	// its silence elsewhere means something.
	deadline := time.Now().Add(15 * time.Second)
	for Find(t, dirs, secrets) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the scan does not find a secret of content stored in clear")
		}
		time.Sleep(100 * time.Millisecond)
	}

	st := sealAll(t, s)
	if st.Sealed != 1 || st.Total != 1 || st.Foreign != 0 {
		t.Errorf("first seal: %+v, want 1 of 1 sealed", st)
	}
	if raw := b.Raw(t, s, sum); !seal.IsSealed(raw) {
		t.Errorf("content is not sealed after SealAll")
	}
	mustContent(t, s, sum, export)
	if st := sealAll(t, s); st.Sealed != 0 || st.Rekeyed != 0 || st.Total != 1 {
		t.Errorf("second seal: %+v, want nothing to do", st)
	}
	if b.ScrubsOnSeal {
		if where := Find(t, dirs, secrets); where != "" {
			t.Errorf("after sealing, a secret is still readable at rest: %s", where)
		}
	}
	// Sealed now: a reader without the key cannot read it.
	missing := filepath.Join(t.TempDir(), "content.key")
	if _, err := b.Reopen(t, s, store.NewKeys(missing)).Content(context.Background(), sum); api.KindOf(err) != api.KindStorage {
		t.Errorf("sealed content without the key: err = %v, want storage", err)
	}
}

func testLegacyContentSealedOnNextWrite(t *testing.T, b Backend) {
	s := b.Open(t)
	_, export := SecretExport(t, 4<<10)
	sum := store.Sum(export)
	b.PutLegacy(t, s, sum, export)
	if raw := b.Raw(t, s, sum); seal.IsSealed(raw) {
		t.Fatal("PutLegacy stored a sealed blob")
	}
	rec := record(t, s, "r1", export)
	if rec.SHA256 != sum {
		t.Fatalf("hash %s, want %s", rec.SHA256, sum)
	}
	if raw := b.Raw(t, s, sum); !seal.IsSealed(raw) {
		t.Errorf("content stored in clear was not sealed by the next write of it")
	}
	mustContent(t, s, sum, export)
	if n := b.Contents(t, s); n != 1 {
		t.Errorf("%d contents, want 1", n)
	}
}

func testRekeyFromOldKey(t *testing.T, b Backend) {
	s := b.Open(t)
	_, export := SecretExport(t, 4<<10)
	rec := record(t, s, "r1", export)
	old, err := seal.Load(b.KeyFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	newFile := filepath.Join(t.TempDir(), "content.key")
	r := b.Reopen(t, s, store.NewKeys(newFile, old))
	st := sealAll(t, r)
	if st.Rekeyed < 1 || st.Foreign != 0 {
		t.Errorf("rekey: %+v, want the content re-sealed", st)
	}
	mustContent(t, b.Reopen(t, s, store.NewKeys(newFile)), rec.SHA256, export)
	if _, err := s.Content(context.Background(), rec.SHA256); api.KindOf(err) != api.KindStorage {
		t.Errorf("after rotation, the old key alone: err = %v, want storage", err)
	}
}
