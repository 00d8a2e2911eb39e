package store_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

// BenchmarkSealOpen measures what sealing adds to storing and reading one
// export: DEFLATE then XChaCha20-Poly1305, and back.
func BenchmarkSealOpen(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
	}{{"60KB", 60 << 10}, {"1MB", 1 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			keys := store.NewKeys(filepath.Join(b.TempDir(), "content.key"))
			_, export := storetest.SecretExport(b, tc.size)
			sum := store.Sum(export)
			b.SetBytes(int64(len(export)))
			b.ReportAllocs()
			for b.Loop() {
				blob, err := keys.SealContent(sum, export)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := keys.OpenContent(sum, int64(len(export)), blob); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzOpenContent feeds the store's sealed-content decoder arbitrary
// blobs and sizes: errors, never a panic or an unbounded allocation, and
// nothing but the sealed content comes out.
func FuzzOpenContent(f *testing.F) {
	keys := store.NewKeys(filepath.Join(f.TempDir(), "content.key"))
	content := []byte("/system identity\nset name=r1\n")
	sum := store.Sum(content)
	blob, err := keys.SealContent(sum, content)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob, int64(len(content)))
	f.Add(blob[:20], int64(len(content)))
	f.Add(blob, int64(-1))
	f.Add(blob, int64(1<<62))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		got, err := keys.OpenContent(sum, size, b)
		if err == nil && !bytes.Equal(got, content) {
			t.Fatalf("decoded %q from a blob, want the sealed content or an error", got)
		}
	})
}
