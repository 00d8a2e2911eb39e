package lock_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/lock/locktest"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// openSQLite returns a locker on the store in dir, as each cfgsnap process
// on a data dir opens its own.
func openSQLite(t *testing.T, dir string) *lock.SQLiteLocker {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err := lock.NewSQLite(context.Background(), s.DB())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSQLiteContract runs the locker contract against SQLite; the race's
// contenders each open the data dir themselves, like separate processes.
func TestSQLiteContract(t *testing.T) {
	var mu sync.Mutex
	dirs := map[lock.Locker]string{}
	locktest.Run(t, locktest.Backend{
		Open: func(t *testing.T) lock.Locker {
			dir := t.TempDir()
			l := openSQLite(t, dir)
			mu.Lock()
			dirs[l] = dir
			mu.Unlock()
			return l
		},
		Shared: func(t *testing.T, l lock.Locker) lock.Locker {
			mu.Lock()
			dir := dirs[l]
			mu.Unlock()
			return openSQLite(t, dir)
		},
		MinTTL: 30 * time.Millisecond,
	})
}
