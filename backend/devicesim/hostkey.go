package devicesim

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
)

// keyStore hands out device host keys: fresh ones in memory, or, with a
// state directory, the persisted key of each device so that a restarted
// fleet keeps the identity clients have trusted. Keys are secrets: 0700
// directories, 0600 files.
type keyStore struct {
	dir  string // "" = memory only
	mu   sync.Mutex
	made map[string]bool // tenant directories already created
}

func newKeyStore(stateDir string) (*keyStore, error) {
	ks := &keyStore{made: map[string]bool{}}
	if stateDir == "" {
		return ks, nil
	}
	ks.dir = filepath.Join(stateDir, "hostkeys")
	if err := os.MkdirAll(ks.dir, 0o700); err != nil {
		return nil, fmt.Errorf("devicesim: host key directory: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; a key directory
	// others can list or write is not acceptable. StateDir itself may be a
	// shared data directory, so only the key directory is tightened.
	if err := os.Chmod(ks.dir, 0o700); err != nil {
		return nil, fmt.Errorf("devicesim: host key directory: %w", err)
	}
	return ks, nil
}

func (ks *keyStore) path(tenant, id string) string {
	return filepath.Join(ks.dir, tenant, id+".key")
}

// signer returns the device's host key: the persisted one, or a new one
// (persisted) when there is none yet or fresh is set.
func (ks *keyStore) signer(tenant, id string, fresh bool) (ssh.Signer, error) {
	if ks.dir != "" && !fresh {
		b, err := os.ReadFile(ks.path(tenant, id))
		switch {
		case err == nil:
			s, err := ssh.ParsePrivateKey(b)
			if err != nil {
				return nil, fmt.Errorf("devicesim: host key of %s/%s (%s): %w", tenant, id, ks.path(tenant, id), err)
			}
			return s, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("devicesim: host key of %s/%s: %w", tenant, id, err)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devicesim: generate host key: %w", err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("devicesim: host key signer: %w", err)
	}
	if ks.dir != "" {
		if err := ks.save(tenant, id, priv); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (ks *keyStore) save(tenant, id string, priv ed25519.PrivateKey) error {
	block, err := ssh.MarshalPrivateKey(priv, tenant+"/"+id)
	if err != nil {
		return fmt.Errorf("devicesim: encode host key of %s/%s: %w", tenant, id, err)
	}
	dir := filepath.Join(ks.dir, tenant)
	ks.mu.Lock()
	if !ks.made[tenant] {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			ks.mu.Unlock()
			return fmt.Errorf("devicesim: host key directory: %w", err)
		}
		ks.made[tenant] = true
	}
	ks.mu.Unlock()
	return writePrivate(ks.path(tenant, id), pem.EncodeToMemory(block))
}

// writePrivate writes a 0600 file atomically, so that a crash never leaves
// a half-written key (or password) behind.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
