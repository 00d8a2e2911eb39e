// Package local assembles the parts of one machine: the SQLite store and
// lock in the data directory, the known hosts, the inventory and the backup
// pipeline over them. Direct mode, the service and the demo all start here,
// so a direct backup and a service backup on one data dir share one lock.
package local

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/collect"
	"github.com/cfgsnap/cfgsnap/backend/hostkey"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Options say where the parts live.
type Options struct {
	DataDir       string
	InventoryPath string
	// Inventory may be given instead of InventoryPath (tests, the demo).
	Inventory *inventory.Inventory
	Timeout   time.Duration
	LockTTL   time.Duration
	// OnStored is called after each stored snapshot.
	OnStored func(api.SnapshotRecord)
	// Holder overrides "user@host".
	Holder string
	// Store and Locker replace the SQLite store and lock in DataDir (serve
	// --store jetstream gives the cluster's). Both or neither.
	Store  store.Store
	Locker lock.Locker
	// HostKeys, if set, is the cluster's record of device host keys, used
	// instead of DATA_DIR/known_hosts so every worker trusts the same keys.
	HostKeys hostkey.Store

	// ContentKeyFile seals snapshot content; "" is DataDir/content.key.
	ContentKeyFile string
}

// Stack is one machine's backup machinery.
type Stack struct {
	DataDir  string
	Store    store.Store
	Locker   lock.Locker
	HostKeys *collect.HostKeys
	Pipeline *backup.Pipeline
	// Warnings from loading the inventory (inline passwords, loose modes).
	Warnings []string

	mu       sync.RWMutex
	inv      *inventory.Inventory
	invPath  string
	onStored listeners[api.SnapshotRecord]
	onFailed listeners[backup.Failure]
}

// Open opens the store in opts.DataDir, loads the inventory and builds the
// pipeline. An invalid inventory is an *inventory.ValidationError.
func Open(ctx context.Context, opts Options) (*Stack, error) {
	inv := opts.Inventory
	var warnings []string
	if inv == nil {
		if opts.InventoryPath == "" {
			return nil, fmt.Errorf("no inventory: give --inventory FILE (or CFGSNAP_INVENTORY), or a NATS URL for remote mode")
		}
		var err error
		inv, warnings, err = inventory.Load(opts.InventoryPath)
		if err != nil {
			return nil, err
		}
	}
	st, lk := opts.Store, opts.Locker
	if st == nil || lk == nil {
		keyFile := opts.ContentKeyFile
		if keyFile == "" {
			keyFile = store.KeyFileIn(opts.DataDir)
		}
		sq, err := store.OpenSQLite(ctx, opts.DataDir, store.WithKeys(store.NewKeys(keyFile)))
		if err != nil {
			return nil, fmt.Errorf("open store in %s: %w", opts.DataDir, err)
		}
		if lk, err = lock.NewSQLite(ctx, sq.DB()); err != nil {
			sq.Close()
			return nil, fmt.Errorf("open lock table: %w", err)
		}
		st = sq
	}
	s := &Stack{DataDir: opts.DataDir, Store: st, Locker: lk, Warnings: warnings, inv: inv, invPath: opts.InventoryPath}
	if opts.OnStored != nil {
		s.onStored.add(opts.OnStored)
	}
	s.HostKeys = &collect.HostKeys{File: filepath.Join(opts.DataDir, "known_hosts")}
	if home, err := os.UserHomeDir(); err == nil {
		s.HostKeys.ReadOnly = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	holder := opts.Holder
	if holder == "" {
		holder = Holder()
	}
	s.HostKeys.Shared, s.HostKeys.Worker = opts.HostKeys, holder
	s.Pipeline = backup.New(backup.Config{
		Inventory: func() backup.Inventory { return s.Inventory() },
		Store:     st, Locker: lk,
		Dialer: &collect.Dialer{HostKeys: s.HostKeys},
		Holder: holder, PID: os.Getpid(),
		Timeout: opts.Timeout, LockTTL: opts.LockTTL,
		OnStored: s.onStored.call, OnFailed: s.onFailed.call,
	})
	return s, nil
}

// OnStored adds a hook called after each stored snapshot.
func (s *Stack) OnStored(fn func(api.SnapshotRecord)) { s.onStored.add(fn) }

// OnFailed adds a hook called after each failed backup.
func (s *Stack) OnFailed(fn func(backup.Failure)) { s.onFailed.add(fn) }

// listeners are hooks that may be added while backups run (the service,
// the direct client, the hook runner and the git mirror add theirs after
// Open) and are called in the order added.
type listeners[T any] struct {
	mu  sync.RWMutex
	fns []func(T)
}

func (l *listeners[T]) add(fn func(T)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fns = append(l.fns, fn)
}

func (l *listeners[T]) call(v T) {
	l.mu.RLock()
	fns := l.fns
	l.mu.RUnlock()
	for _, fn := range fns {
		fn(v)
	}
}

// Inventory is the current inventory.
func (s *Stack) Inventory() *inventory.Inventory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.inv
}

// Reload reads the inventory file again. On error the old inventory stays;
// running jobs keep the device they started with.
func (s *Stack) Reload() ([]string, error) {
	if s.invPath == "" {
		return nil, fmt.Errorf("no inventory file to reload")
	}
	inv, warnings, err := inventory.Load(s.invPath)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.inv = inv
	s.mu.Unlock()
	return warnings, nil
}

// Close closes the store.
func (s *Stack) Close() error { return s.Store.Close() }

// Holder names this process for lock holders: "user@host".
func Holder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return name + "@" + host
}
