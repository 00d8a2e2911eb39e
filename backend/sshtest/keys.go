package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// NewSigner returns a signer for a new ed25519 key: a client's login key
// or a server's host key, whichever the test needs.
func NewSigner(tb testing.TB) ssh.Signer {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return signer(tb, priv, err)
}

// NewRSASigner returns a signer for a new 2048-bit RSA key, the host key
// of older devices.
func NewRSASigner(tb testing.TB) ssh.Signer {
	tb.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	return signer(tb, priv, err)
}

func signer(tb testing.TB, priv any, err error) ssh.Signer {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// NewPublicKey returns the public half of a new ed25519 key, for tests
// that only store or compare keys.
func NewPublicKey(tb testing.TB) ssh.PublicKey {
	tb.Helper()
	return NewSigner(tb).PublicKey()
}

// AuthorizedLine is k as one authorized_keys line without the newline, as
// users files quote it.
func AuthorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// WriteIdentity writes a new ed25519 private key in OpenSSH format, 0600,
// to a temporary directory, encrypted with passphrase unless it is empty,
// and returns its path and public key.
func WriteIdentity(tb testing.TB, passphrase string) (string, ssh.PublicKey) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "backup@cfgsnap")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "backup@cfgsnap", []byte(passphrase))
	}
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		tb.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return path, sshPub
}
