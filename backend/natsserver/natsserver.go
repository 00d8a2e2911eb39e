// Package natsserver runs the NATS server that `cfgsnap serve` and
// `cfgsnap demo` embed when no NATS URL is given, so that a single binary is
// enough on one machine. Its log goes to the caller's slog logger, and it
// never installs signal handlers: the process's own shutdown stops it.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultListen is where the embedded server listens unless told otherwise.
const DefaultListen = "127.0.0.1:4222"

// Options say how to run the embedded server.
type Options struct {
	// Listen is HOST:PORT; port 0 picks a free port. "" is DefaultListen.
	Listen string
	// StoreDir enables JetStream with its files there; "" leaves JetStream
	// off.
	StoreDir string
	// ConfigFile is a nats-server configuration (users, permissions,
	// limits). Listen, when given, overrides its host and port.
	ConfigFile string
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Debug also logs the server's debug lines.
	Debug bool
	// NKeys, when not empty, are the only users the server lets in (with
	// their permissions); they are added to a ConfigFile's users. Empty
	// leaves authentication to ConfigFile, or none at all.
	NKeys []*server.NkeyUser
}

// Server is a running embedded NATS server.
type Server struct {
	ns   *server.Server
	opts *server.Options
}

// Start starts the server and waits until it accepts connections, or until
// ctx ends (10 s at most when ctx has no deadline).
func Start(ctx context.Context, opts Options) (*Server, error) {
	so := &server.Options{}
	if opts.ConfigFile != "" {
		var err error
		if so, err = server.ProcessConfigFile(opts.ConfigFile); err != nil {
			return nil, fmt.Errorf("nats config %s: %w", opts.ConfigFile, err)
		}
	}
	if opts.Listen != "" || opts.ConfigFile == "" {
		host, port, err := splitListen(opts.Listen)
		if err != nil {
			return nil, err
		}
		so.Host, so.Port = host, port
	}
	so.NoSigs = true // the embedded server must not exit the process on a signal
	so.Nkeys = append(so.Nkeys, opts.NKeys...)
	so.ServerName = "cfgsnap"
	if opts.StoreDir != "" {
		if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("nats store dir: %w", err)
		}
		so.JetStream = true
		so.StoreDir = opts.StoreDir
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fatal := make(chan string, 1)
	ns.SetLoggerV2(slogAdapter{l: log.With("component", "nats-server"), fatal: fatal}, opts.Debug, false, false)
	go ns.Start()
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	ready := make(chan error, 1)
	go func() {
		if !ns.ReadyForConnections(wait) {
			ready <- fmt.Errorf("not listening on %s:%d after %s", so.Host, so.Port, wait.Round(time.Millisecond))
			return
		}
		ready <- nil
	}()
	select {
	case err = <-ready:
	case msg := <-fatal:
		err = errors.New(msg)
	}
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server: %w", err)
	}
	return &Server{ns: ns, opts: so}, nil
}

// SetNKeys replaces the nkey users of a running server (an operator added
// or removed a client key); connected clients whose key is gone are
// disconnected by the server.
func (s *Server) SetNKeys(users []*server.NkeyUser) error {
	o := s.opts.Clone()
	o.Nkeys = users
	if err := s.ns.ReloadOptions(o); err != nil {
		return fmt.Errorf("nats server: reload users: %w", err)
	}
	s.opts = o
	return nil
}

// splitListen reads HOST:PORT; a bare HOST gets the NATS default port and
// port 0 a free port.
func splitListen(listen string) (string, int, error) {
	if listen == "" {
		listen = DefaultListen
	}
	host, portS, err := net.SplitHostPort(listen)
	if err != nil {
		return listen, server.DEFAULT_PORT, nil //nolint:nilerr // a bare host: the default port
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("listen address %q: port must be a number 0-65535", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// URL is the nats:// URL clients connect to.
func (s *Server) URL() string { return s.ns.ClientURL() }

// Open reports whether the server lets in anyone who can reach it (no
// users, keys, token or operator configured).
func (s *Server) Open() bool {
	o := s.opts
	return len(o.Users) == 0 && len(o.Nkeys) == 0 && o.Username == "" && o.Authorization == "" &&
		len(o.TrustedOperators) == 0 && len(o.TrustedKeys) == 0 && o.AuthCallout == nil
}

// Server is the underlying server, for tests that inspect it.
func (s *Server) Server() *server.Server { return s.ns }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// slogAdapter writes the server's log lines to slog at matching levels.
type slogAdapter struct {
	l     *slog.Logger
	fatal chan<- string
}

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }

// Fatalf is logged and handed to Start, not fatal: the embedded server
// must never end the process it lives in. The server calls it when it
// cannot listen.
func (a slogAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.l.Error(msg)
	select {
	case a.fatal <- msg:
	default:
	}
}
