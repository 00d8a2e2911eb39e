package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/seal"
)

// CodecSealed names, in the contents table's codec column and the object
// store's metadata, content that was DEFLATE-compressed and then sealed
// (package seal) under the content key, bound to its sha256.
const CodecSealed = "deflate+seal1"

// Keys is the content key a store seals with, read from its file when
// first needed, and the older keys it may still open (a rotation in
// progress). It is safe for concurrent use.
type Keys struct {
	path string
	old  map[string]*seal.Key

	mu  sync.Mutex
	key *seal.Key
}

// KeyFileIn is the default content key file of a data directory.
func KeyFileIn(dataDir string) string { return filepath.Join(dataDir, seal.KeyFile) }

// NewKeys returns the keys of the key file at path; old keys open content
// sealed under them (`cfgsnap store seal --rekey-from`).
func NewKeys(path string, old ...*seal.Key) *Keys {
	k := &Keys{path: path, old: map[string]*seal.Key{}}
	for _, o := range old {
		k.old[o.ID()] = o
	}
	return k
}

// Path is the content key file.
func (k *Keys) Path() string { return k.path }

// Current returns the sealing key, creating its file (0600, random) when
// create is set and it does not exist. Reads never create it: a new key
// could not open what an old one sealed.
func (k *Keys) Current(create bool) (*seal.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	load := seal.Load
	if create {
		load = seal.LoadOrCreate
	}
	key, err := load(k.path)
	if err != nil {
		return nil, err
	}
	k.key = key
	return key, nil
}

// SealContent compresses content and seals it under the current key,
// bound to sum.
func (k *Keys) SealContent(sum string, content []byte) ([]byte, error) {
	key, err := k.Current(true)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "seal content "+Short(sum))
	}
	packed, err := compress(content)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "seal content "+Short(sum))
	}
	return key.Seal(packed, []byte(sum))
}

// OpenContent returns the verified content of a blob SealContent made.
// The errors say which key file is wanted and what to do, never what the
// content holds.
func (k *Keys) OpenContent(sum string, size int64, blob []byte) ([]byte, error) {
	id, err := seal.KeyID(blob)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("content %s is corrupt", Short(sum)))
	}
	key := k.old[id]
	if key == nil {
		cur, err := k.Current(false)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, api.Errorf(api.KindStorage,
				"content %s is sealed (key id %s) but the content key file %s does not exist: restore that file "+
					"from your backup, or give the key the store was sealed with (--content-key-file, "+
					"CFGSNAP_CONTENT_KEY_FILE); without it this content cannot be read", Short(sum), id, k.path)
		}
		if err != nil {
			return nil, api.Wrap(api.KindStorage, err, "read content "+Short(sum))
		}
		if cur.ID() != id {
			return nil, api.Errorf(api.KindStorage,
				"content %s is sealed under key id %s, but the content key %s has key id %s: give the key file "+
					"the store was sealed with (--content-key-file, CFGSNAP_CONTENT_KEY_FILE), or, after a "+
					"rotation, run `cfgsnap store seal --rekey-from OLD_KEY_FILE`", Short(sum), id, k.path, cur.ID())
		}
		key = cur
	}
	packed, err := key.Open(blob, []byte(sum))
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("content %s", Short(sum)))
	}
	return decompress(sum, codecDeflate, size, packed)
}

// SealAction is what `cfgsnap store seal` does with one stored content.
type SealAction int

const (
	SealKeep    SealAction = iota // sealed under the current key already
	SealNow                       // stored in clear by an older cfgsnap: seal it
	SealRekey                     // sealed under an old key: re-seal under the current one
	SealForeign                   // sealed under a key this run does not have: left alone, reported
)

// Action says what `store seal` does with content stored with codec,
// sealed (when it is) under the key id keyID ("" when unknown or corrupt).
// It creates the key file when there is none: sealing needs it.
func (k *Keys) Action(codec, keyID string) (SealAction, error) {
	if codec != CodecSealed {
		return SealNow, nil
	}
	cur, err := k.Current(true)
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "seal contents")
	}
	switch {
	case keyID == "":
		return SealForeign, nil // corrupt: reading it reports that
	case keyID == cur.ID():
		return SealKeep, nil
	case k.old[keyID] != nil:
		return SealRekey, nil
	}
	return SealForeign, nil
}

// SealStats counts what `cfgsnap store seal` did.
type SealStats struct {
	Total   int // contents looked at
	Sealed  int // were in clear (an older cfgsnap) and are now sealed
	Rekeyed int // were sealed under an old key and are now under the current one
	Foreign int // sealed under a key not given (or corrupt): left as they are
}

func (s SealStats) String() string {
	return fmt.Sprintf("%d contents: %d sealed now, %d re-sealed under the current key, %d sealed already, %d under another key (not readable with the keys given)",
		s.Total, s.Sealed, s.Rekeyed, s.Total-s.Sealed-s.Rekeyed-s.Foreign, s.Foreign)
}

// Sealer is a store whose content `cfgsnap store seal` can seal in place.
type Sealer interface {
	SealAll(ctx context.Context) (SealStats, error)
}
