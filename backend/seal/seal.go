// Package seal encrypts snapshot content at rest. A show-sensitive export
// holds every password, PSK and private key of a router, so the stores keep
// it only as an AEAD-sealed blob (XChaCha20-Poly1305) under a content key
// kept apart from the data: whoever copies the database or the JetStream
// store dir without the key file learns nothing but sizes.
//
// A sealed blob is
//
//	magic "CSNP" | version 1 | key id (8 bytes) | nonce (24 bytes) | ciphertext+tag
//
// The key id (the first 8 bytes of SHA-256 over the key) tells, before any
// decryption, which key a blob needs, so that a wrong key gives a clear
// error and a rotation can find the blobs of the old key. The header and the
// content's hash are the associated data: a blob cannot be moved under
// another hash or have its header edited without failing to open.
package seal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of a content key.
const KeySize = chacha20poly1305.KeySize

// KeyFile is the content key's name in the data directory.
const KeyFile = "content.key"

const (
	magic      = "CSNP"
	version    = 1
	idLen      = 8
	headerLen  = len(magic) + 1 + idLen
	nonceLen   = chacha20poly1305.NonceSizeX
	overhead   = headerLen + nonceLen + chacha20poly1305.Overhead
	maxKeyFile = 4096 // a key file is 32 bytes, or 64 hex digits and a newline
)

// ErrWrongKey is wrapped when a blob was sealed under another key.
var ErrWrongKey = errors.New("sealed with another content key")

// ErrCorrupt is wrapped when a blob is malformed or fails authentication.
var ErrCorrupt = errors.New("sealed content is corrupt or was tampered with")

// Key is a content key. It is safe for concurrent use.
type Key struct {
	id   [idLen]byte
	path string
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
}

// New returns the key of raw (KeySize bytes); path only names it in errors.
func New(raw []byte, path string) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("content key %s: %d bytes, want %d", path, len(raw), KeySize)
	}
	a, err := chacha20poly1305.NewX(raw)
	if err != nil {
		return nil, fmt.Errorf("content key %s: %w", path, err)
	}
	k := &Key{path: path, aead: a}
	s := sha256.Sum256(raw)
	copy(k.id[:], s[:])
	return k, nil
}

// ID is the key's id in hex, as blobs name it.
func (k *Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Path is the file the key came from.
func (k *Key) Path() string { return k.path }

// Seal returns plain sealed under k, bound to ad (the content's hash).
func (k *Key) Seal(plain, ad []byte) ([]byte, error) {
	out := make([]byte, headerLen+nonceLen, overhead+len(plain))
	copy(out, magic)
	out[len(magic)] = version
	copy(out[len(magic)+1:], k.id[:])
	if _, err := rand.Read(out[headerLen:]); err != nil {
		return nil, fmt.Errorf("seal content: %w", err)
	}
	return k.aead.Seal(out, out[headerLen:], plain, assoc(out[:headerLen], ad)), nil
}

// Open returns the plaintext of blob, which must have been sealed under k
// with the same ad.
func (k *Key) Open(blob, ad []byte) ([]byte, error) {
	id, err := KeyID(blob)
	if err != nil {
		return nil, err
	}
	if id != k.ID() {
		return nil, fmt.Errorf("%w: the content needs key id %s, %s has key id %s", ErrWrongKey, id, k.path, k.ID())
	}
	nonce := blob[headerLen : headerLen+nonceLen]
	plain, err := k.aead.Open(nil, nonce, blob[headerLen+nonceLen:], assoc(blob[:headerLen], ad))
	if err != nil {
		return nil, fmt.Errorf("%w (key id %s)", ErrCorrupt, id)
	}
	return plain, nil
}

func assoc(header, ad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(ad)), header...), ad...)
}

// IsSealed reports whether blob starts like a sealed blob. Legacy content
// (raw DEFLATE, or plain text in the object store) can, by chance, start
// with the magic; callers that know a row's codec use that instead.
func IsSealed(blob []byte) bool {
	return len(blob) >= headerLen && string(blob[:len(magic)]) == magic
}

// KeyID returns the id of the key blob was sealed under.
func KeyID(blob []byte) (string, error) {
	if len(blob) < overhead || string(blob[:len(magic)]) != magic {
		return "", fmt.Errorf("%w: not a sealed blob", ErrCorrupt)
	}
	if v := blob[len(magic)]; v != version {
		return "", fmt.Errorf("%w: sealed with format version %d (written by a newer cfgsnap?)", ErrCorrupt, v)
	}
	return hex.EncodeToString(blob[len(magic)+1 : headerLen]), nil
}

// Load reads the key file at path. The file must be the owner's alone: a
// key others can read protects nothing.
func Load(path string) (*Key, error) {
	if path == "" {
		return nil, errors.New("content key: no key file given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("content key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("content key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("content key %s is not a regular file", path)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("content key %s has mode %04o: it must be readable by its owner only (chmod 600 %s)", path, m, path)
	}
	buf := make([]byte, maxKeyFile+1)
	n, _ := readFull(f, buf)
	raw, err := parse(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("content key %s: %w", path, err)
	}
	return New(raw, path)
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// parse accepts the 32 raw bytes cfgsnap writes, or 64 hex digits (with
// an optional newline), the form a secrets manager can hold.
func parse(b []byte) ([]byte, error) {
	if len(b) == KeySize {
		return b, nil
	}
	if t := strings.TrimSpace(string(b)); len(t) == 2*KeySize {
		if raw, err := hex.DecodeString(t); err == nil {
			return raw, nil
		}
	}
	return nil, fmt.Errorf("%d bytes: want %d random bytes or %d hex digits", len(b), KeySize, 2*KeySize)
}

// LoadOrCreate loads the key at path, creating it (0600, 32 random bytes)
// when it does not exist. Creation is atomic: the key is written to a
// temporary file and linked to path, which fails if path exists, so two
// processes starting at once end up with the same key (the loser reads the
// winner's), and no reader ever sees a half-written key.
func LoadOrCreate(path string) (*Key, error) {
	if path == "" {
		return nil, errors.New("content key: no key file given")
	}
	k, err := Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("content key: %w", err)
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("content key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".content.key-*")
	if err != nil {
		return nil, fmt.Errorf("content key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(raw)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("content key: write %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("content key: create %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable before content is sealed under it
		d.Close()
	}
	// Whoever won the link, path now holds a complete key.
	return loadSettled(path)
}

// loadSettled loads path, tolerating the brief window in which a key
// created by other means (a copy in progress) is short.
func loadSettled(path string) (*Key, error) {
	var err error
	for range 20 {
		var k *Key
		if k, err = Load(path); err == nil {
			return k, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, err
}
