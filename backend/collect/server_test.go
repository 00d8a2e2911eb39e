package collect

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

// Commands the test server understands, besides resourceCmd.
const (
	resourceCmd = "/system resource print"
	cmdBig      = "big"      // 4 MiB of export-like lines, exit 0
	cmdFail     = "fail"     // a line of stdout, an error on stderr, exit 1
	cmdTruncate = "truncate" // truncateBytes, then the channel closes without exit status
	cmdDrop     = "drop"     // truncateBytes, then the TCP connection drops
	cmdHang     = "hang"     // never answers
	// cmdEndless and cmdEndlessStderr stream export-like lines on stdout
	// (stderr) until the client goes away: a device that never stops talking.
	cmdEndless       = "endless"
	cmdEndlessStderr = "endless-stderr"
	// cmdSecretExport prints secretLines, then exits 1 with a RouterOS
	// error on stderr: an export must still not be quoted.
	cmdSecretExport = "/export show-sensitive"
	// cmdNoisyFail prints a line that is not a RouterOS error (and holds a
	// secret) and exits 1.
	cmdNoisyFail = "/system noisy print"

	bigSize       = 4 << 20
	truncateBytes = 100000
)

const resourceOutput = `                   uptime: 3w2d4h5m
                  version: 7.16.1 (stable)
               build-time: 2024-10-10 14:03:32
                 cpu-load: 3%
           board-name: RB5009UG+S+
`

// testServer is a small SSH server on 127.0.0.1 that behaves like the parts
// of RouterOS that matter here, plus the failures a device can have.
type testServer struct {
	t    testing.TB
	ln   net.Listener
	port int

	mu             sync.Mutex
	signers        []ssh.Signer // host keys, all offered
	password       string       // accepted by password auth; "" turns it off
	kbdPassword    string       // accepted by keyboard-interactive; "" turns it off
	authorized     []ssh.PublicKey
	stall          bool // accept TCP, never speak SSH
	closeOnAccept  bool // accept TCP and close at once
	stallInAuth    bool // password callback blocks until the test ends
	passwordTries  int
	lastClientVers string

	done  chan struct{}
	wg    sync.WaitGroup
	conns map[net.Conn]bool
}

func newTestServer(t testing.TB, configure func(s *testServer)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, port: ln.Addr().(*net.TCPAddr).Port,
		done: make(chan struct{}), conns: map[net.Conn]bool{}}
	s.signers = []ssh.Signer{sshtest.NewSigner(t)}
	if configure != nil {
		configure(s)
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) hostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signers[0].PublicKey()
}

// rotate gives the server a new host key, as a reset device gets.
func (s *testServer) rotate() {
	signer := sshtest.NewSigner(s.t)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signers = []ssh.Signer{signer}
}

func (s *testServer) target() Target {
	return Target{Label: "acme/core-rtr-1", Host: "127.0.0.1", Port: s.port,
		Auth: Auth{Username: "backup", Password: "s3cret-Passw0rd"}}
}

func (s *testServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *testServer) close() {
	close(s.done)
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[nc] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				nc.Close()
				s.mu.Lock()
				delete(s.conns, nc)
				s.mu.Unlock()
			}()
			s.handle(nc)
		}()
	}
}

func (s *testServer) config() (*ssh.ServerConfig, bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := &ssh.ServerConfig{ServerVersion: "SSH-2.0-ROSSSH"}
	for _, k := range s.signers {
		cfg.AddHostKey(k)
	}
	if pw := s.password; pw != "" {
		stall := s.stallInAuth
		cfg.PasswordCallback = func(c ssh.ConnMetadata, got []byte) (*ssh.Permissions, error) {
			s.mu.Lock()
			s.passwordTries++
			s.lastClientVers = string(c.ClientVersion())
			s.mu.Unlock()
			if stall {
				<-s.done
			}
			if c.User() == "backup" && string(got) == pw {
				return nil, nil
			}
			return nil, fmt.Errorf("bad password")
		}
	}
	if pw := s.kbdPassword; pw != "" {
		cfg.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(answers) == 1 && answers[0] == pw {
				return nil, nil
			}
			return nil, fmt.Errorf("bad answer")
		}
	}
	if keys := s.authorized; len(keys) > 0 {
		cfg.PublicKeyCallback = func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range keys {
				if string(k.Marshal()) == string(key.Marshal()) {
					return nil, nil
				}
			}
			return nil, fmt.Errorf("unknown key")
		}
	}
	return cfg, s.stall, s.closeOnAccept
}

func (s *testServer) handle(nc net.Conn) {
	cfg, stall, closeNow := s.config()
	if closeNow {
		return
	}
	if stall {
		_, _ = io.Copy(io.Discard, nc)
		return
	}
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(sc, ch, chReqs)
		}()
	}
}

func (s *testServer) session(sc *ssh.ServerConn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			if req.WantReply {
				req.Reply(false, nil)
			}
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			req.Reply(false, nil)
			return
		}
		req.Reply(true, nil)
		go ssh.DiscardRequests(reqs)
		s.exec(sc, ch, payload.Command)
		return
	}
}

func exitStatus(ch ssh.Channel, code uint32) {
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
}

func (s *testServer) exec(sc *ssh.ServerConn, ch ssh.Channel, cmd string) {
	switch cmd {
	case resourceCmd:
		_, _ = io.WriteString(ch, resourceOutput)
		exitStatus(ch, 0)
	case cmdBig:
		_, _ = writeBig(ch)
		exitStatus(ch, 0)
	case cmdFail:
		_, _ = io.WriteString(ch, "# partial\n")
		_, _ = io.WriteString(ch.Stderr(), "bad command name exprot (line 1 column 1)\n")
		exitStatus(ch, 1)
	case cmdTruncate:
		_, _ = ch.Write(exportLines(truncateBytes))
	case cmdDrop:
		_, _ = ch.Write(exportLines(truncateBytes))
		sc.Close()
	case cmdEndless, cmdEndlessStderr:
		var w io.Writer = ch
		if cmd == cmdEndlessStderr {
			w = ch.Stderr()
		}
		for {
			if _, err := w.Write(bigExport[:32<<10]); err != nil {
				return
			}
		}
	case cmdSecretExport:
		_, _ = io.WriteString(ch, secretLines)
		_, _ = io.WriteString(ch.Stderr(), "failure: "+secretWord+"\n")
		exitStatus(ch, 1)
	case cmdNoisyFail:
		_, _ = io.WriteString(ch, "set admin password="+secretWord+"\nmore\n")
		exitStatus(ch, 1)
	case cmdHang:
		// A hung device: no output, no exit, until the client goes away
		// (the client's stdin EOF comes at once, so that is no signal).
		_ = sc.Wait()
	default:
		_, _ = io.WriteString(ch.Stderr(), "bad command name "+cmd+"\n")
		exitStatus(ch, 1)
	}
}

// exportLines returns n bytes of lines that look like an export, numbered
// so that a lost or repeated chunk changes the content.
func exportLines(n int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "/ip firewall filter add action=accept chain=input comment=\"rule %07d\" src-address=10.%d.%d.0/24\n", i, i/256%256, i%256)
	}
	return []byte(b.String()[:n])
}

var bigExport = exportLines(bigSize)

// secretWord must never appear in an error text.
const secretWord = "Sup3rS3cret!"

const secretLines = "/user set admin password=" + secretWord + "\n/interface wireless security-profiles set wpa2-pre-shared-key=" + secretWord + "\n/ppp secret add name=x password=" + secretWord + "\n"

// writeBig writes the 4 MiB export in chunks like a device streams it.
func writeBig(w io.Writer) (int, error) {
	total := 0
	for off := 0; off < len(bigExport); off += 32 << 10 {
		n, err := w.Write(bigExport[off:min(off+32<<10, len(bigExport))])
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// newDialer returns a Dialer with a fresh known_hosts in a temp dir and short
// timeouts, recording the stages it reports.
func newDialer(t *testing.T) (*Dialer, *stageLog) {
	t.Helper()
	log := &stageLog{}
	return &Dialer{
		HostKeys:         &HostKeys{File: t.TempDir() + "/data/known_hosts"},
		DialTimeout:      2 * time.Second,
		HandshakeTimeout: 2 * time.Second,
		OnStage:          log.add,
	}, log
}

type stageLog struct {
	mu     sync.Mutex
	stages []string
}

func (l *stageLog) add(s api.Stage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stages = append(l.stages, string(s))
}

func (l *stageLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.stages, ",")
}
