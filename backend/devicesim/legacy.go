package devicesim

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// What FaultLegacyCrypto speaks: RouterOS 6 before /ip ssh strong-crypto,
// which knows only SHA-1 Diffie-Hellman, CBC ciphers, hmac-sha1 and an RSA
// host key signed with SHA-1.
var (
	legacyKex     = []string{ssh.InsecureKeyExchangeDH1SHA1, ssh.InsecureKeyExchangeDHGEXSHA1}
	legacyCiphers = []string{ssh.InsecureCipherAES128CBC, ssh.InsecureCipherTripleDESCBC}
	legacyMACs    = []string{ssh.HMACSHA1}
)

// legacySigner is the device's ssh-rsa host key, made on first use (RSA
// generation is slow and only legacy devices need one) and kept for the
// fleet's life, so a client sees the same key on every connection.
func (d *device) legacySigner() (ssh.Signer, error) {
	if s, ok := d.legacyKey.Load().(ssh.Signer); ok {
		return s, nil
	}
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	if s, ok := d.legacyKey.Load().(ssh.Signer); ok {
		return s, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: generate ssh-rsa host key: %w", d.key(), err)
	}
	base, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: ssh-rsa host key: %w", d.key(), err)
	}
	as, ok := base.(ssh.AlgorithmSigner)
	if !ok {
		return nil, fmt.Errorf("devicesim: %s: RSA signer cannot choose its algorithm", d.key())
	}
	// Only "ssh-rsa" (SHA-1 signatures), as RouterOS 6 offers it.
	s, err := ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSA})
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: ssh-rsa host key: %w", d.key(), err)
	}
	d.legacyKey.Store(ssh.Signer(s))
	return s, nil
}

// legacyServerConfig restricts cfg to the legacy algorithms and gives it
// the ssh-rsa host key.
func (d *device) legacyServerConfig(cfg *ssh.ServerConfig) error {
	s, err := d.legacySigner()
	if err != nil {
		return err
	}
	cfg.KeyExchanges = legacyKex
	cfg.Ciphers = legacyCiphers
	cfg.MACs = legacyMACs
	cfg.AddHostKey(s)
	return nil
}
