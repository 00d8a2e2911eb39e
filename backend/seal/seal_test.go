package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func newKey(t testing.TB) *Key {
	t.Helper()
	k, err := LoadOrCreate(filepath.Join(t.TempDir(), KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := newKey(t)
	plain := []byte("/user set admin password=Sup3rS3cret!\n")
	ad := []byte("hash-a")
	blob, err := k.Seal(plain, ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("Sup3rS3cret")) {
		t.Fatal("the sealed blob holds the plaintext")
	}
	if !IsSealed(blob) || len(blob) != len(plain)+overhead {
		t.Fatalf("blob of %d bytes (sealed %v), want %d", len(blob), IsSealed(blob), len(plain)+overhead)
	}
	if id, err := KeyID(blob); err != nil || id != k.ID() {
		t.Fatalf("KeyID = %q, %v; want %s", id, err, k.ID())
	}
	got, err := k.Open(blob, ad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := k.Seal(plain, ad)
	if bytes.Equal(again, blob) {
		t.Error("two seals of one plaintext are equal: the nonce is not fresh")
	}
}

func TestOpenRefusesTamperingAndOtherHashes(t *testing.T) {
	k := newKey(t)
	blob, err := k.Seal([]byte("config"), []byte("hash-a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(blob, []byte("hash-b")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("blob opened under another hash: err = %v, want ErrCorrupt", err)
	}
	for _, i := range []int{0, len(magic), headerLen - 1, headerLen, len(blob) - 1} {
		bad := bytes.Clone(blob)
		bad[i] ^= 1
		if _, err := k.Open(bad, []byte("hash-a")); err == nil {
			t.Errorf("byte %d flipped: opened anyway", i)
		}
	}
	if _, err := k.Open(blob[:overhead-1], []byte("hash-a")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short blob: err = %v, want ErrCorrupt", err)
	}
}

func TestOpenWithWrongKeyNamesBothIDs(t *testing.T) {
	a, b := newKey(t), newKey(t)
	blob, err := a.Seal([]byte("config"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Open(blob, nil)
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), a.ID()) || !strings.Contains(err.Error(), b.ID()) ||
		!strings.Contains(err.Error(), b.Path()) {
		t.Errorf("wrong key: err = %v, want ErrWrongKey naming %s, %s and %s", err, a.ID(), b.ID(), b.Path())
	}
}

func TestKeyFileCreatedOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", KeyFile)
	k, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != KeySize {
		t.Errorf("key file mode %04o size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), KeySize)
	}
	again, err := LoadOrCreate(path)
	if err != nil || again.ID() != k.ID() {
		t.Errorf("second LoadOrCreate: id %v, %v; want the same key %s", again, err, k.ID())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".content.key-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestConcurrentCreatorsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, err := LoadOrCreate(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("creators disagree on the key: %v", ids)
		}
	}
}

func TestLoadRefusesLooseOrBadFiles(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, bytes.Repeat([]byte{7}, KeySize), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(loose); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group/world-readable key: err = %v, want a refusal saying chmod 600", err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(short); err == nil {
		t.Error("a 9-byte key file was accepted")
	}
	if _, err := Load(filepath.Join(dir, "missing.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key: err = %v, want ErrNotExist", err)
	}
	// 64 hex digits and a newline, as a secrets manager may hold it, is
	// the same key as its 32 bytes.
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	hexFile := filepath.Join(dir, "hex.key")
	if err := os.WriteFile(hexFile, []byte(strings.Repeat("ab", KeySize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kh, err := Load(hexFile)
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := New(raw, "raw")
	if kh.ID() != kr.ID() {
		t.Errorf("hex key id %s, raw key id %s", kh.ID(), kr.ID())
	}
}

// FuzzOpen feeds the sealed-blob decoder arbitrary bytes: it must never
// panic, and must open nothing but what the key sealed.
func FuzzOpen(f *testing.F) {
	k, err := New(bytes.Repeat([]byte{1}, KeySize), "fuzz.key")
	if err != nil {
		f.Fatal(err)
	}
	good, _ := k.Seal([]byte("config"), []byte("h"))
	f.Add(good, []byte("h"))
	f.Add(good[:headerLen], []byte("h"))
	f.Add([]byte(magic+"\x02"), []byte(""))
	f.Add([]byte{}, []byte("h"))
	f.Fuzz(func(t *testing.T, blob, ad []byte) {
		_, _ = KeyID(blob)
		_ = IsSealed(blob)
		plain, err := k.Open(blob, ad)
		// Each fuzzing process seals its own seed (fresh nonce), so any
		// blob may open, but only as that seed: "config" under "h".
		if err == nil && (string(ad) != "h" || string(plain) != "config") {
			t.Fatalf("opened a blob the key did not seal: %x (ad %q) gave %q", blob, ad, plain)
		}
	})
}

// BenchmarkSeal measures the AEAD alone (the DEFLATE before it is the
// store's, and was there before sealing) on exports of typical sizes.
func BenchmarkSeal(b *testing.B) {
	k := newKey(b)
	for _, size := range []int{60 << 10, 1 << 20} {
		plain := bytes.Repeat([]byte("add address=10.0.0.1/32 list=allowed\n"), size/37)
		b.Run(strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				blob, err := k.Seal(plain, []byte("h"))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.Open(blob, []byte("h")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
