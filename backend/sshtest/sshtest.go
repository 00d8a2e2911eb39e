// Package sshtest holds SSH parts that tests of several packages need and
// that production code never uses: an in-process ssh-agent, new keys and
// identity files, a PTY client for the TUI served over SSH, and a heap
// watch for streams from devices that never stop talking.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// StartAgent serves an in-process ssh-agent holding one new ed25519 key
// on a unix socket in a temporary directory, points SSH_AUTH_SOCK at it
// for the rest of the test and returns the key's public half.
func StartAgent(tb testing.TB) ssh.PublicKey {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(tb.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = agent.ServeAgent(keyring, c)
			c.Close()
		}
	}()
	tb.Cleanup(func() { ln.Close(); <-served })
	tb.Setenv("SSH_AUTH_SOCK", sock)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return signer.PublicKey()
}
