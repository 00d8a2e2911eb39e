package devicesim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// serverVersion is what RouterOS's SSH server announces.
const serverVersion = "SSH-2.0-ROSSSH"

// chunkSize bounds each channel write so that a client sees a big export
// arrive progressively and a closing fleet interrupts it quickly.
const chunkSize = 16 << 10

func (f *Fleet) acceptLoop(d *device) {
	defer f.wg.Done()
	for {
		c, err := d.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, say: the device must not go deaf
			// for good, so wait a little and accept again.
			f.logf("devicesim: %s: accept: %v", d.key(), err)
			select {
			case <-f.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.untrack(c)
			defer c.Close()
			f.serveConn(d, c)
		}()
	}
}

// serveConn runs one SSH connection to completion.
func (f *Fleet) serveConn(d *device, c net.Conn) {
	fault := d.currentFault()
	if fault == FaultSlowHandshake {
		var ok bool
		if c, ok = f.stall(c, d.spec.Delay); !ok {
			return
		}
	}
	cfg := f.serverConfig(d, fault)
	if cfg == nil {
		return
	}
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		f.logf("devicesim: %s: handshake from %s: %v", d.key(), c.RemoteAddr(), err)
		return
	}
	c.SetDeadline(time.Time{})
	defer sconn.Close()
	f.logf("devicesim: %s: %s logged in from %s", d.key(), sconn.User(), c.RemoteAddr())

	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.serveSession(ctx, d, fault, ch, creqs)
		}()
	}
	// chans closes when the client is gone: end this connection's sessions
	// (a hanging exec included) now rather than when the fleet closes.
}

// stall is FaultSlowHandshake: say nothing for delay. Whatever the client
// sends meanwhile (its version line) is kept and replayed to the SSH
// server, and a client that gives up ends the wait at once.
func (f *Fleet) stall(c net.Conn, delay time.Duration) (net.Conn, bool) {
	var (
		buf  bytes.Buffer
		gone = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		p := make([]byte, 512)
		for {
			n, err := c.Read(p)
			buf.Write(p[:n])
			if err == nil && buf.Len() > maxStalledBytes {
				err = errors.New("client sent too much before the SSH version exchange")
			}
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					close(gone)
				}
				return
			}
		}
	}()
	t := time.NewTimer(delay)
	defer t.Stop()
	ok := false
	select {
	case <-t.C:
		ok = true
	case <-gone:
	case <-f.ctx.Done():
	}
	c.SetReadDeadline(time.Now()) // stops the reader
	<-done
	if !ok {
		return nil, false
	}
	select {
	case <-gone:
		return nil, false
	default:
	}
	c.SetReadDeadline(time.Time{})
	return &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(buf.Bytes()), c)}, true
}

// maxStalledBytes bounds what a client may send while the handshake is
// stalled: its version line and key exchange offer take a few kilobytes.
const maxStalledBytes = 64 << 10

// prefixConn replays bytes read ahead of the SSH server.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// serverConfig is built per connection so that a fault, password or host
// key changed at run time applies to the next connection. It is nil when
// the legacy host key cannot be made (the connection is then dropped).
func (f *Fleet) serverConfig(d *device, fault Fault) *ssh.ServerConfig {
	want := []byte(d.password())
	user := f.cfg.Username
	check := func(u string, pw []byte) error {
		okUser := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
		okPW := subtle.ConstantTimeCompare(pw, want) == 1
		if fault == FaultWrongPassword || !okUser || !okPW {
			return errors.New("invalid user name or password")
		}
		return nil
	}
	cfg := &ssh.ServerConfig{
		ServerVersion: serverVersion,
		PasswordCallback: func(m ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			return nil, check(m.User(), pw)
		},
		KeyboardInteractiveCallback: func(m ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := client(m.User(), "", []string{"password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(answers) != 1 {
				return nil, errors.New("expected one answer")
			}
			return nil, check(m.User(), []byte(answers[0]))
		},
	}
	if f.cfg.Logf != nil {
		cfg.AuthLogCallback = func(m ssh.ConnMetadata, method string, err error) {
			if err != nil && method != "none" {
				f.logf("devicesim: %s: %s auth for %q from %s failed: %v", d.key(), method, m.User(), m.RemoteAddr(), err)
			}
		}
	}
	if len(f.cfg.AuthorizedKeys) > 0 {
		cfg.PublicKeyCallback = func(m ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			fp := ssh.FingerprintSHA256(key)
			d.offeredMu.Lock()
			d.offered = append(d.offered, fp)
			d.offeredMu.Unlock()
			f.logf("devicesim: %s: %q from %s offers public key %s", d.key(), m.User(), m.RemoteAddr(), fp)
			if fault == FaultWrongPassword || m.User() != user {
				return nil, errors.New("public key not accepted")
			}
			kb := key.Marshal()
			for _, k := range f.cfg.AuthorizedKeys {
				if bytes.Equal(k.Marshal(), kb) {
					return nil, nil
				}
			}
			return nil, errors.New("public key not accepted")
		}
	}
	if fault == FaultLegacyCrypto {
		if err := d.legacyServerConfig(cfg); err != nil {
			f.logf("%v", err)
			return nil
		}
		return cfg
	}
	cfg.AddHostKey(d.currentSigner())
	return cfg
}

// serveSession answers the requests of one session channel: one exec (or a
// shell, which only gets a banner). It returns when the client closes the
// channel or the connection ends, and cancels the running command then.
func (f *Fleet) serveSession(connCtx context.Context, d *device, fault Fault, ch ssh.Channel, reqs <-chan *ssh.Request) {
	ctx, cancel := context.WithCancel(connCtx)
	var running sync.WaitGroup
	defer func() {
		cancel()
		running.Wait()
		ch.Close()
	}()
	started := false
	for req := range reqs {
		switch req.Type {
		case "exec", "shell":
			if started {
				req.Reply(false, nil)
				continue
			}
			var cmd string
			if req.Type == "exec" {
				var p struct{ Command string }
				if err := ssh.Unmarshal(req.Payload, &p); err != nil {
					req.Reply(false, nil)
					continue
				}
				cmd = p.Command
			}
			started = true
			req.Reply(true, nil)
			running.Add(1)
			go func() {
				defer running.Done()
				if req.Type == "shell" {
					f.shell(d, ch)
					return
				}
				f.exec(ctx, d, fault, ch, cmd)
			}()
		case "pty-req", "env", "window-change":
			// Accepted and ignored: exports never depend on a terminal.
			req.Reply(req.Type != "env", nil)
		default:
			req.Reply(false, nil)
		}
	}
}

func (f *Fleet) shell(d *device, ch ssh.Channel) {
	fmt.Fprintf(ch, "\r\n\r\n  MikroTik RouterOS %s (c) 1999-2026       https://www.mikrotik.com/\r\n\r\n"+
		"This simulated device answers exec requests only.\r\n", d.version.raw)
	ch.Close()
}

// exec runs one command on the device, faults included, and ends the
// channel the way the fault says: exit status and close, or no status.
func (f *Fleet) exec(ctx context.Context, d *device, fault Fault, ch ssh.Channel, cmd string) {
	if fault == FaultHangAfterAuth {
		<-ctx.Done()
		return
	}
	r := d.respond(cmd, f.cfg.Now())
	f.logf("devicesim: %s: exec %q", d.key(), cmd)
	w := &chanWriter{ctx: ctx, ch: ch}
	var err error
	switch {
	case fault == FaultEndless:
		writeEndless(w)
		return // only the client leaving ends it: no exit status
	case r.isExport && fault == FaultSecretFail:
		r = reply{status: 1, body: secretFailOutput(d)}
		err = r.writeTo(w)
	case r.isExport && fault == FaultNonZeroExit:
		r = reply{status: 1, body: []byte(nonZeroExitText)}
		err = r.writeTo(w)
	case r.isExport && fault == FaultGarbage:
		r = reply{body: garbage(d.seed)}
		err = r.writeTo(w)
	case r.isExport && fault == FaultDisconnect:
		if b, err := r.bytes(); err == nil {
			_, _ = w.Write(cutMidLine(b)) // the fault: the connection drops next
		}
		f.logf("devicesim: %s: dropped the export half way (fault)", d.key())
		ch.Close() // no exit status: the client must see a truncated transfer
		return
	case r.isExport && fault == FaultSlowOutput:
		err = r.writeTo(&throttledWriter{ctx: ctx, w: w, bps: d.spec.BytesPerSecond})
	default:
		err = r.writeTo(w)
	}
	if err != nil {
		// The client went away or the fleet is closing: nothing to report to.
		return
	}
	ch.CloseWrite()
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(r.status)}))
	ch.Close()
}

// writeEndless is FaultEndless: export-like lines, as fast as the client
// takes them, until a write fails (the client closed the channel or the
// connection, or the fleet is closing).
func writeEndless(w io.Writer) {
	var b bytes.Buffer
	for i := 0; b.Len() < chunkSize; i++ {
		fmt.Fprintf(&b, "/ip firewall address-list add address=10.%d.%d.0/24 list=endless comment=\"entry %d\"\r\n", i/256%256, i%256, i)
	}
	chunk := b.Bytes()
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// SecretFailSecrets are the secrets a FaultSecretFail export prints before
// failing; none of them may reach an error text, a log or the store.
var SecretFailSecrets = []string{"Sup3rS3cret!", "W1f1-PSK-d0nt-l3ak", "PppS3cret-42", "IpS3c-Pr3Shared-K3y"}

// secretFailOutput is what FaultSecretFail's export prints: the start of a
// show-sensitive export, secrets included, then a RouterOS failure.
func secretFailOutput(d *device) []byte {
	return crlfLines([]string{
		"# by RouterOS " + d.version.raw,
		"# software id = ABCD-1234",
		"/user set [ find name=admin ] password=" + SecretFailSecrets[0],
		"/interface wireless security-profiles set [ find default=yes ] authentication-types=wpa2-psk wpa2-pre-shared-key=" + SecretFailSecrets[1],
		"/ppp secret add name=vpn-user password=" + SecretFailSecrets[2],
		"/ip ipsec peer add address=192.0.2.7/32 secret=" + SecretFailSecrets[3],
		"failure: could not complete export",
	})
}

// cutMidLine returns about the first half of b, ending inside a line.
func cutMidLine(b []byte) []byte {
	n := len(b) / 2
	for n > 0 && n < len(b) && (b[n-1] == '\n' || b[n-1] == '\r' || b[n] == '\r') {
		n++
	}
	if n >= len(b) {
		n = len(b) / 2
	}
	return b[:n]
}

// chanWriter writes to a channel in chunks and stops once ctx is done.
type chanWriter struct {
	ctx context.Context
	ch  ssh.Channel
}

func (w *chanWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := w.ctx.Err(); err != nil {
			return written, err
		}
		n := min(len(p), chunkSize)
		m, err := w.ch.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// throttledWriter is FaultSlowOutput: bps bytes a second, in tenths of a
// second, so the client sees a steady trickle.
type throttledWriter struct {
	ctx context.Context
	w   io.Writer
	bps int
}

func (t *throttledWriter) Write(p []byte) (int, error) {
	step := max(1, t.bps/10)
	written := 0
	for len(p) > 0 {
		n := min(len(p), step)
		m, err := t.w.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
		timer := time.NewTimer(time.Duration(n) * time.Second / time.Duration(t.bps))
		select {
		case <-timer.C:
		case <-t.ctx.Done():
			timer.Stop()
			return written, t.ctx.Err()
		}
	}
	return written, nil
}
