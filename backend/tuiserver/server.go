// Package tuiserver serves cfgsnap's TUI over SSH (charm.land/wish), for
// engineers on a shared jump host: `ssh -p 2222 jumphost` opens the same
// TUI as the local binary, sized and coloured for the client's terminal.
// Only the public keys of the users file get in; each session runs on a
// Confined client that enforces the user's tenants, role and trigger
// budget below the TUI.
package tuiserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	bm "charm.land/wish/v2/bubbletea"
	gossh "golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
	"github.com/cfgsnap/cfgsnap/ui"
)

// Defaults of Config.
const (
	DefaultIdleTimeout = 15 * time.Minute
	DefaultMaxSessions = 64
	// HostKeyFile is the host key's name in the data dir.
	HostKeyFile = "tui_host_ed25519"
	// handshakeTimeout bounds a connection that never authenticates.
	handshakeTimeout = 30 * time.Second
)

// Config is what a Server needs. Listen, UsersFile, HostKeyPath and Client
// are required.
type Config struct {
	Listen    string
	UsersFile string
	// HostKeyPath is the server's ed25519 host key, created (0600) if missing.
	HostKeyPath string
	// Client is what every session runs on (the local service); sessions
	// never close it.
	Client client.Client
	// Host names this machine in requested_by ("alice@Host"); default
	// os.Hostname.
	Host string
	// IdleTimeout closes a session after this long without a keystroke.
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions open at once; past it a new one gets
	// a refusal message.
	MaxSessions int
	// Limit bounds each user's triggers (nil: no limit), across sessions.
	Limit   *ratelimit.Limiter
	Version string
	Logger  *slog.Logger
}

// Server is the SSH server of the TUI.
type Server struct {
	cfg         Config
	srv         *ssh.Server
	fingerprint string
	users       atomic.Pointer[Users]

	ctx    context.Context // cancelled by Close: every session ends
	cancel context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	sessions int
	served   chan struct{}
}

type stateKey struct{}

// session is one SSH session's state, handed from the session middleware
// to the program handler through the session's context.
type session struct {
	user     *User
	ctx      context.Context
	model    *ui.Model
	shutdown func()
	idle     *time.Timer
	idled    atomic.Bool

	mu      sync.Mutex
	program *tea.Program
}

// New loads the users file and the host key and prepares the server; Start
// listens.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil || cfg.UsersFile == "" || cfg.HostKeyPath == "" {
		return nil, errors.New("tuiserver: Client, UsersFile and HostKeyPath are required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, served: make(chan struct{})}
	users, err := LoadUsers(cfg.UsersFile)
	if err != nil {
		return nil, err
	}
	s.users.Store(users)
	keyPEM, fp, err := EnsureHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s.fingerprint = fp
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv, err = wish.NewServer(
		wish.WithHostKeyPEM(keyPEM),
		wish.WithPublicKeyAuth(s.authorize),
		wish.WithVersion("cfgsnap"),
		wish.WithMiddleware(bm.MiddlewareWithProgramHandler(s.program), s.sessionMiddleware),
	)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("tui ssh server: %w", err)
	}
	s.srv.HandshakeTimeout = handshakeTimeout
	return s, nil
}

// Fingerprint is the host key's SHA256 fingerprint, as ssh prints it.
func (s *Server) Fingerprint() string { return s.fingerprint }

// Users is the users file currently in force.
func (s *Server) Users() *Users { return s.users.Load() }

// Sessions is the number of sessions open now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Reload reads the users file again; new sessions get it, open ones keep
// the user they started with. An invalid file is refused and the old one
// stays.
func (s *Server) Reload() error {
	u, err := LoadUsers(s.cfg.UsersFile)
	if err != nil {
		return err
	}
	s.users.Store(u)
	s.cfg.Logger.Info("tui users reloaded", "users", u.Len())
	return nil
}

// Start listens on Config.Listen and serves until Close.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("tui ssh listen %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			s.cfg.Logger.Error("tui ssh server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address listened on (after Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close ends every session (their TUIs quit, running watchers stop) and
// the listener, waiting up to ctx for connections to go.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	s.mu.Lock()
	started := s.ln != nil
	s.mu.Unlock()
	if started {
		select {
		case <-s.served:
		case <-ctx.Done():
		}
	}
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// authorize admits only keys of the users file in force. Nothing else
// (password, keyboard-interactive) is offered.
func (s *Server) authorize(ctx ssh.Context, key ssh.PublicKey) bool {
	_, ok := s.users.Load().Lookup(key)
	if !ok {
		s.cfg.Logger.Info("tui ssh: key refused", "remote", ctx.RemoteAddr().String(),
			"ssh_user", ctx.User(), "key", gossh.FingerprintSHA256(key))
	}
	return ok
}

// sessionMiddleware bounds the sessions, resolves the user from the key
// the session authenticated with, builds its confined TUI, and after the
// TUI ends stops everything it started.
func (s *Server) sessionMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		s.mu.Lock()
		full := s.sessions >= s.cfg.MaxSessions
		if !full {
			s.sessions++
		}
		s.mu.Unlock()
		if full {
			s.cfg.Logger.Warn("tui ssh: session refused, too many", "max", s.cfg.MaxSessions)
			// On the session's output, not stderr: with a PTY that is
			// where the person looks.
			fmt.Fprintf(sess, "cfgsnap: this server already has %d sessions open (its limit); try again later\r\n", s.cfg.MaxSessions)
			_ = sess.Exit(1)
			return
		}
		defer func() {
			s.mu.Lock()
			s.sessions--
			s.mu.Unlock()
		}()
		user, ok := s.users.Load().Lookup(sess.PublicKey())
		if !ok {
			// Removed by a reload between authentication and now.
			fmt.Fprint(sess, "cfgsnap: your key is no longer allowed\r\n")
			_ = sess.Exit(1)
			return
		}
		ctx, cancel := context.WithCancel(sess.Context())
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		by := user.Name + "@" + s.cfg.Host
		st := &session{user: user, ctx: ctx}
		st.model, st.shutdown = ui.NewSession(ctx, ui.Options{
			Client: Confine(s.cfg.Client, user, by, s.cfg.Limit), User: by, Version: s.cfg.Version,
			NoShell: true})
		defer st.shutdown()
		st.idle = time.AfterFunc(s.cfg.IdleTimeout, func() {
			st.idled.Store(true)
			st.quit()
		})
		defer st.idle.Stop()
		// The program ends with the session's context too (Close, or the
		// connection dropped), not only when the client's channel closes.
		stopQuit := context.AfterFunc(ctx, st.quit)
		defer stopQuit()
		s.cfg.Logger.Info("tui ssh: session", "user", user.Name, "role", user.Role, "remote", sess.RemoteAddr().String())
		sess.Context().SetValue(stateKey{}, st)
		next(sess)
		if st.idled.Load() {
			fmt.Fprintf(sess, "cfgsnap: closed after %s without a keystroke\r\n", s.cfg.IdleTimeout)
		}
		_ = sess.Exit(0)
		s.cfg.Logger.Info("tui ssh: session ended", "user", user.Name)
	}
}

func (st *session) quit() {
	st.mu.Lock()
	p := st.program
	st.mu.Unlock()
	if p != nil {
		p.Quit()
	}
}

// program builds the session's tea.Program with wish's options (the
// client's PTY size, TERM and colour profile) and input that restarts the
// idle timer on every keystroke.
func (s *Server) program(sess ssh.Session) *tea.Program {
	st, _ := sess.Context().Value(stateKey{}).(*session)
	if st == nil {
		return nil
	}
	opts := append(bm.MakeOptions(sess),
		tea.WithInput(&idleReader{r: sess, timer: st.idle, d: s.cfg.IdleTimeout}),
		tea.WithContext(st.ctx),
		tea.WithoutSignalHandler())
	p := tea.NewProgram(st.model, opts...)
	st.mu.Lock()
	st.program = p
	st.mu.Unlock()
	if st.ctx.Err() != nil {
		p.Quit()
	}
	return p
}

// idleReader restarts the idle timer whenever the client sends input.
// Output (ticks, progress) does not count: a session left open on a
// running fleet view is still idle.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.d)
	}
	return n, err
}

// EnsureHostKey returns the PEM of the ed25519 host key at path, creating
// it (0600, its directory 0700) if missing, and its SHA256 fingerprint. A
// key file readable by others is refused: it would let them impersonate
// the server.
func EnsureHostKey(path string) (pemBytes []byte, fingerprint string, err error) {
	if fi, err := os.Stat(path); err == nil {
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, "", fmt.Errorf("host key %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
		}
		pemBytes, err = os.ReadFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("read host key: %w", err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, "", fmt.Errorf("generate host key: %w", err)
		}
		block, err := gossh.MarshalPrivateKey(priv, "cfgsnap tui host key")
		if err != nil {
			return nil, "", fmt.Errorf("encode host key: %w", err)
		}
		pemBytes = pem.EncodeToMemory(block)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, "", fmt.Errorf("host key dir: %w", err)
		}
		// O_EXCL: two servers starting at once must not overwrite each other's key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("write host key: %w", err)
		}
		_, werr := f.Write(pemBytes)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, "", fmt.Errorf("write host key: %w", werr)
		}
	} else {
		return nil, "", fmt.Errorf("host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, "", fmt.Errorf("host key %s: %w", path, err)
	}
	return pemBytes, gossh.FingerprintSHA256(signer.PublicKey()), nil
}
