package devicesim

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// hostKeysFile holds every device's host key in the state directory. One
// file rather than one per device: creating a thousand small files takes
// most of a second on some file systems, and the fleet must start fast.
const hostKeysFile = "devicesim-hostkeys"

// keyStore hands out device host keys: fresh ones in memory, or, with a
// state directory, the persisted key of each device so that a restarted
// fleet keeps the identity clients have trusted. Keys are secrets: the
// directory is created 0700 and the file written 0600.
type keyStore struct {
	path  string // "" = memory only
	mu    sync.Mutex
	seeds map[string][]byte // "tenant/id" -> ed25519 seed
	dirty bool
}

func newKeyStore(stateDir string) (*keyStore, error) {
	ks := &keyStore{seeds: map[string][]byte{}}
	if stateDir == "" {
		return ks, nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("devicesim: state directory: %w", err)
	}
	ks.path = filepath.Join(stateDir, hostKeysFile)
	b, err := os.ReadFile(ks.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ks, nil
	case err != nil:
		return nil, fmt.Errorf("devicesim: host keys: %w", err)
	}
	if err := ks.parse(b); err != nil {
		return nil, fmt.Errorf("devicesim: host keys %s: %w", ks.path, err)
	}
	return ks, nil
}

// parse reads lines of "tenant/id base64-seed"; '#' starts a comment.
func (ks *keyStore) parse(b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, enc, ok := strings.Cut(line, " ")
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if !ok || err != nil || len(seed) != ed25519.SeedSize || !strings.Contains(name, "/") {
			// The line holds a secret: say where it is, not what it says.
			return fmt.Errorf("line %d: want \"TENANT/ID BASE64-ED25519-SEED\"", n)
		}
		ks.seeds[name] = seed
	}
	return sc.Err()
}

// signer returns the device's host key, making a new one when it has none
// yet or fresh is set; save persists new keys.
func (ks *keyStore) signer(device string, fresh bool) (ssh.Signer, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	seed, ok := ks.seeds[device]
	if !ok || fresh {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("devicesim: generate host key: %w", err)
		}
		ks.seeds[device] = seed
		ks.dirty = true
	}
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, fmt.Errorf("devicesim: host key of %s: %w", device, err)
	}
	return s, nil
}

// save writes the keys when some are new. Keys of devices that are not in
// this fleet stay, so a fleet that shrinks and grows again keeps them.
func (ks *keyStore) save() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.path == "" || !ks.dirty {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("# Host keys of cfgsnap's simulated RouterOS devices (ed25519 seeds). Secret.\n")
	names := make([]string, 0, len(ks.seeds))
	for name := range ks.seeds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b.WriteString(name + " " + base64.StdEncoding.EncodeToString(ks.seeds[name]) + "\n")
	}
	if err := writePrivate(ks.path, b.Bytes()); err != nil {
		return fmt.Errorf("devicesim: host keys: %w", err)
	}
	ks.dirty = false
	return nil
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
