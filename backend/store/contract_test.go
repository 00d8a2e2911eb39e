package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

func openSQLite(t *testing.T, dir string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), dir)
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
		Contents: func(t *testing.T, s store.Store) int {
			var n int
			if err := s.(*store.SQLite).DB().QueryRow("SELECT count(*) FROM contents").Scan(&n); err != nil {
				t.Fatalf("count contents: %v", err)
			}
			return n
		},
	})
}
