package devicesim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// BastionConfig configures a jump host for tests and labs.
type BastionConfig struct {
	ListenHost string // default "127.0.0.1"
	Port       int    // 0 = an ephemeral port
	// Username is the only user let in (default "jump").
	Username string
	// AuthorizedKeys and Password are the accepted credentials; at least
	// one must be set.
	AuthorizedKeys []ssh.PublicKey
	Password       string
	// HostKey is the bastion's key; nil = a fresh ed25519 key.
	HostKey ssh.Signer
	Logf    func(format string, args ...any)
}

// Bastion is a small SSH server that does what an OpenSSH jump host does
// for `ssh -J`: it opens direct-tcpip channels to the address asked for
// and copies bytes both ways. It forwards only to loopback addresses, so a
// test bastion can never become an open proxy.
type Bastion struct {
	cfg    BastionConfig
	signer ssh.Signer
	ln     net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	forwarded atomic.Int64
	closeOnce sync.Once
}

// StartBastion listens and serves until Close or until ctx is done.
func StartBastion(ctx context.Context, cfg BastionConfig) (*Bastion, error) {
	if cfg.ListenHost == "" {
		cfg.ListenHost = "127.0.0.1"
	}
	if cfg.Username == "" {
		cfg.Username = "jump"
	}
	if len(cfg.AuthorizedKeys) == 0 && cfg.Password == "" {
		return nil, errors.New("devicesim: bastion: no authorized key and no password: nobody could log in")
	}
	signer := cfg.HostKey
	if signer == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("devicesim: bastion host key: %w", err)
		}
		if signer, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("devicesim: bastion host key: %w", err)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.ListenHost, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("devicesim: bastion: %w", err)
	}
	b := &Bastion{cfg: cfg, signer: signer, ln: ln, conns: map[net.Conn]struct{}{}}
	b.ctx, b.cancel = context.WithCancel(ctx)
	b.wg.Add(1)
	go b.accept()
	// A cancelled ctx closes the listener, which ends accept.
	context.AfterFunc(b.ctx, func() { ln.Close() })
	return b, nil
}

// Host and Port are where the bastion listens.
func (b *Bastion) Host() string { return b.cfg.ListenHost }

// Port is the bastion's TCP port.
func (b *Bastion) Port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// Addr is host:port.
func (b *Bastion) Addr() string { return b.ln.Addr().String() }

// HostKey is the key the bastion presents.
func (b *Bastion) HostKey() ssh.PublicKey { return b.signer.PublicKey() }

// Forwarded counts the channels forwarded so far.
func (b *Bastion) Forwarded() int64 { return b.forwarded.Load() }

// Close stops listening, drops every connection and waits for them.
func (b *Bastion) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
	})
	b.wg.Wait()
	return nil
}

func (b *Bastion) logf(format string, args ...any) {
	if b.cfg.Logf != nil {
		b.cfg.Logf(format, args...)
	}
}

func (b *Bastion) track(c net.Conn, add bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if add {
		if b.ctx.Err() != nil {
			return false
		}
		b.conns[c] = struct{}{}
	} else {
		delete(b.conns, c)
	}
	return true
}

func (b *Bastion) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		if !b.track(c, true) {
			c.Close()
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.track(c, false)
			defer c.Close()
			b.serve(c)
		}()
	}
}

func (b *Bastion) serverConfig() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{ServerVersion: "SSH-2.0-cfgsnap-bastion"}
	if b.cfg.Password != "" {
		want := []byte(b.cfg.Password)
		cfg.PasswordCallback = func(m ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if m.User() == b.cfg.Username && subtle.ConstantTimeCompare(pw, want) == 1 {
				return nil, nil
			}
			return nil, errors.New("invalid user name or password")
		}
	}
	if len(b.cfg.AuthorizedKeys) > 0 {
		cfg.PublicKeyCallback = func(m ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if m.User() != b.cfg.Username {
				return nil, errors.New("public key not accepted")
			}
			for _, k := range b.cfg.AuthorizedKeys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("public key not accepted")
		}
	}
	cfg.AddHostKey(b.signer)
	return cfg
}

func (b *Bastion) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(c, b.serverConfig())
	if err != nil {
		b.logf("devicesim: bastion: handshake from %s: %v", c.RemoteAddr(), err)
		return
	}
	c.SetDeadline(time.Time{})
	defer sconn.Close()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "direct-tcpip" {
			nc.Reject(ssh.UnknownChannelType, "this jump host only forwards (direct-tcpip)")
			continue
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.forward(nc)
		}()
	}
}

// directTCPIP is the payload of a direct-tcpip channel open (RFC 4254 7.2).
type directTCPIP struct {
	Host     string
	Port     uint32
	OrigHost string
	OrigPort uint32
}

func (b *Bastion) forward(nc ssh.NewChannel) {
	var req directTCPIP
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
		nc.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	addr, err := netip.ParseAddr(req.Host)
	if err != nil || !addr.IsLoopback() || req.Port == 0 || req.Port > 65535 {
		nc.Reject(ssh.Prohibited, "this test jump host forwards only to loopback addresses")
		return
	}
	var d net.Dialer
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	target, err := d.DialContext(ctx, "tcp", net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port))))
	cancel()
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	if !b.track(target, true) {
		target.Close()
		nc.Reject(ssh.ConnectionFailed, "jump host shutting down")
		return
	}
	defer b.track(target, false)
	defer target.Close()
	ch, creqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	b.forwarded.Add(1)
	go ssh.DiscardRequests(creqs)
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(target, ch) // either side closing ends the tunnel
		if tc, ok := target.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(ch, target)
		ch.CloseWrite()
		done <- struct{}{}
	}()
	// Either side ending ends the forward: a half-open pair would keep the
	// goroutines (and the test's leak check) waiting.
	<-done
	ch.Close()
	target.Close()
	<-done
}
