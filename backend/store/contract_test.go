package store_test

import (
	"bytes"
	"compress/flate"
	"context"
	"sync"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

func openSQLite(t *testing.T, dir string, opts ...store.SQLiteOption) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), dir, opts...)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// TestSQLiteContract runs the store contract against SQLite; concurrent
// writers each open the data dir themselves, as separate processes do.
func TestSQLiteContract(t *testing.T) {
	var mu sync.Mutex
	dirs := map[store.Store]string{}
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store {
			dir := t.TempDir()
			s := openSQLite(t, dir)
			mu.Lock()
			dirs[s] = dir
			mu.Unlock()
			return s
		},
		Shared: func(t *testing.T, s store.Store) store.Store {
			mu.Lock()
			defer mu.Unlock()
			return openSQLite(t, dirs[s])
		},
		Reopen: func(t *testing.T, s store.Store, keys *store.Keys) store.Store {
			mu.Lock()
			defer mu.Unlock()
			return openSQLite(t, dirs[s], store.WithKeys(keys))
		},
		KeyFile: func(t *testing.T, s store.Store) string { return s.(*store.SQLite).Keys().Path() },
		DataDirs: func(t *testing.T, s store.Store) []string {
			mu.Lock()
			defer mu.Unlock()
			return []string{dirs[s]}
		},
		Raw: func(t *testing.T, s store.Store, sum string) []byte {
			var data []byte
			if err := s.(*store.SQLite).DB().QueryRow("SELECT data FROM contents WHERE sha256 = ?", sum).Scan(&data); err != nil {
				t.Fatalf("raw content %s: %v", sum, err)
			}
			return data
		},
		PutLegacy: func(t *testing.T, s store.Store, sum string, content []byte) {
			// As cfgsnap stored content before sealing: raw DEFLATE.
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
			w.Write(content)
			w.Close()
			_, err := s.(*store.SQLite).DB().Exec(`INSERT INTO contents (sha256, codec, size, data) VALUES (?, 'deflate', ?, ?)`,
				sum, len(content), buf.Bytes())
			if err != nil {
				t.Fatalf("store legacy content: %v", err)
			}
		},
		ScrubsOnSeal: true,
		Contents: func(t *testing.T, s store.Store) int {
			var n int
			if err := s.(*store.SQLite).DB().QueryRow("SELECT count(*) FROM contents").Scan(&n); err != nil {
				t.Fatalf("count contents: %v", err)
			}
			return n
		},
	})
}
