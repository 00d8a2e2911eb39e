// Package collect is the SSH client cfgsnap uses to talk to RouterOS
// devices: it connects with deadlines, authenticates (password,
// keyboard-interactive, identity file, ssh-agent), verifies host keys
// (inventory pin, known_hosts, trust on first use), runs commands while
// streaming their output, and classifies every failure into exactly one
// api.ErrorKind with a message that tells a person what to do.
//
// It does not parse RouterOS output; the backup pipeline does.
//
// Cancelling a context yields an error of kind internal that keeps
// context.Canceled in its chain: a cancellation is this side's decision, not
// a device failure. A passed deadline is kind timeout.
package collect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Defaults of Dialer.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 15 * time.Second
)

// clientVersion identifies cfgsnap in the device's log.
const clientVersion = "SSH-2.0-cfgsnap"

// Auth holds the credentials for one device, already resolved by the caller.
type Auth struct {
	Username string
	// Password is used for password and keyboard-interactive logins.
	Password string
	// IdentityFile is an unencrypted private key (OpenSSH or PEM). Encrypted
	// keys belong in ssh-agent: cfgsnap never prompts for a passphrase.
	IdentityFile string
	// UseAgent offers the keys of the ssh-agent at $SSH_AUTH_SOCK, after the
	// identity file. Only devices whose inventory says use_agent: true get
	// them: a rogue or compromised device learns every public key it is
	// offered (and which ones the agent holds), so they go nowhere by default.
	UseAgent bool
}

// Target is one device to connect to.
type Target struct {
	// Label ("tenant/device") names the device in messages and in the
	// hostkey forget hint.
	Label string
	Host  string
	Port  int // 0 means 22
	Auth  Auth
	// HostKeyPin is an optional "SHA256:..." fingerprint from the inventory.
	// When set, only that key is accepted and nothing is recorded.
	HostKeyPin string
}

func (t Target) port() int {
	if t.Port == 0 {
		return 22
	}
	return t.Port
}

func (t Target) addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.port())) }

// name is how messages refer to the device.
func (t Target) name() string {
	if t.Label != "" {
		return t.Label
	}
	return t.addr()
}

func (t Target) validate() error {
	switch {
	case t.Host == "":
		return api.Errorf(api.KindBadRequest, "%s has no host address", t.name())
	case t.Port < 0 || t.Port > 65535:
		return api.Errorf(api.KindBadRequest, "%s has invalid port %d", t.name(), t.Port)
	case t.Auth.Username == "":
		return api.Errorf(api.KindBadRequest, "%s has no username", t.name())
	}
	if t.HostKeyPin != "" {
		if _, err := normalizePin(t); err != nil {
			return err
		}
	}
	return nil
}

// Dialer opens SSH connections to devices.
type Dialer struct {
	HostKeys *HostKeys
	// DialTimeout bounds the TCP connect (default 10s).
	DialTimeout time.Duration
	// HandshakeTimeout bounds the SSH handshake and authentication together
	// (default 15s): a device that accepts TCP and then says nothing must
	// not hold a job forever.
	HandshakeTimeout time.Duration
	// OnStage, if set, is called with api.StageConnecting before dialing
	// and api.StageAuthenticating once the host key is accepted. The second
	// call comes from the handshake's goroutine; it must not block.
	OnStage func(api.Stage)
}

func (d *Dialer) dialTimeout() time.Duration {
	if d.DialTimeout > 0 {
		return d.DialTimeout
	}
	return DefaultDialTimeout
}

func (d *Dialer) handshakeTimeout() time.Duration {
	if d.HandshakeTimeout > 0 {
		return d.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (d *Dialer) stage(s api.Stage) {
	if d.OnStage != nil {
		d.OnStage(s)
	}
}

// Algorithms that RouterOS 6 and 7 accept, strongest first. The SHA-1
// key exchange, hmac-sha1 and ssh-rsa are here for RouterOS 6, which offers
// nothing better; the server picks the first one it supports.
var (
	kexAlgorithms = []string{
		ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519,
		ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521,
		ssh.KeyExchangeDH14SHA256, ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDHGEXSHA256,
		ssh.InsecureKeyExchangeDH14SHA1,
	}
	cipherAlgorithms = []string{
		ssh.CipherAES128GCM, ssh.CipherAES256GCM, ssh.CipherChaCha20Poly1305,
		ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR,
	}
	macAlgorithms = []string{
		ssh.HMACSHA256ETM, ssh.HMACSHA512ETM, ssh.HMACSHA256, ssh.HMACSHA512, ssh.HMACSHA1,
	}
	hostKeyAlgorithms = []string{
		ssh.KeyAlgoED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA,
	}
)

// Dial connects to t, verifies its host key and logs in. ctx bounds the
// dial, handshake and login (the connection is closed as soon as ctx is
// done); once Dial returns, each Run takes its own ctx.
func (d *Dialer) Dial(ctx context.Context, t Target) (*Conn, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	if t.HostKeyPin == "" && !d.HostKeys.canVerify() {
		return nil, api.Errorf(api.KindInternal, "cannot connect to %s: no known_hosts file is configured to verify its host key", t.name())
	}
	creds, err := loadCredentials(t)
	if err != nil {
		return nil, err
	}
	defer creds.close()
	if ctx.Err() != nil {
		return nil, contextFailure(ctx, "connecting to "+t.name(), "")
	}

	d.stage(api.StageConnecting)
	nd := net.Dialer{Timeout: d.dialTimeout()}
	raw, err := nd.DialContext(ctx, "tcp", t.addr())
	if err != nil {
		return nil, classifyDial(ctx, t, d.dialTimeout(), err)
	}
	// A hung device must not hang the caller: closing the socket unblocks
	// every read of the handshake.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	if err := raw.SetDeadline(time.Now().Add(d.handshakeTimeout())); err != nil {
		stop()
		raw.Close()
		return nil, fail(api.KindInternal, []error{err}, "connecting to %s: %v", t.name(), err)
	}

	hs := &handshakeState{creds: creds}
	check := d.HostKeys.CallbackContext(ctx, t)
	cfg := &ssh.ClientConfig{
		User:          t.Auth.Username,
		Auth:          creds.methods,
		ClientVersion: clientVersion,
		Config: ssh.Config{
			KeyExchanges: kexAlgorithms,
			Ciphers:      cipherAlgorithms,
			MACs:         macAlgorithms,
		},
		HostKeyAlgorithms: hostKeyAlgorithms,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := check(hostname, remote, key); err != nil {
				hs.setHostKeyError(err)
				return err
			}
			if hs.acceptHostKey() {
				d.stage(api.StageAuthenticating)
			}
			return nil
		},
		AuthCallback: hs.observeAuth,
	}
	if t.HostKeyPin == "" {
		if known := d.HostKeys.knownAlgorithmsFor(ctx, t); len(known) > 0 {
			cfg.HostKeyAlgorithms = preferred(known, hostKeyAlgorithms)
		}
	}

	sc, chans, reqs, err := ssh.NewClientConn(raw, t.addr(), cfg)
	if !stop() {
		// ctx ended while handshaking; the socket is already closed.
		if err == nil {
			sc.Close()
		}
		return nil, classifyHandshake(ctx, t, hs, d.handshakeTimeout(), context.Cause(ctx))
	}
	if err != nil {
		return nil, classifyHandshake(ctx, t, hs, d.handshakeTimeout(), err)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		sc.Close()
		return nil, fail(api.KindInternal, []error{err}, "connecting to %s: %v", t.name(), err)
	}
	return &Conn{client: ssh.NewClient(sc, chans, reqs), target: t}, nil
}

// preferred puts first the algorithms of keys already known for the host.
func preferred(first, all []string) []string {
	out := slices.Clone(first)
	for _, a := range all {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// handshakeState is what the handshake's callbacks saw, for classifying
// its failure. The callbacks run on x/crypto's goroutines.
type handshakeState struct {
	creds *credentials

	mu         sync.Mutex
	hostKeyErr error
	accepted   bool
	tried      []string
	allowed    []string
}

func (h *handshakeState) setHostKeyError(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hostKeyErr = err
}

func (h *handshakeState) hostKeyError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hostKeyErr
}

// acceptHostKey records the accepted key and reports whether it is the
// first time (a re-key calls the host key callback again).
func (h *handshakeState) acceptHostKey() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := !h.accepted
	h.accepted = true
	return first
}

func (h *handshakeState) hostKeyAccepted() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepted
}

// observeAuth only watches: returning nil lets x/crypto pick the next
// method from ClientConfig.Auth.
func (h *handshakeState) observeAuth(ctx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tried = slices.DeleteFunc(slices.Clone(ctx.TriedMethods), func(m string) bool { return m == "none" })
	h.allowed = slices.Clone(ctx.AllowedMethods)
	return nil, nil
}

func (h *handshakeState) authMethods() (tried, allowed []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.tried), slices.Clone(h.allowed)
}

func (h *handshakeState) describe(method string) string {
	if d, ok := h.creds.describe[method]; ok {
		return d
	}
	return method
}

func (h *handshakeState) offered() []string {
	var out []string
	for _, m := range h.creds.order {
		out = append(out, h.describe(m))
	}
	return out
}

// credentials are the auth methods for one Dial, plus what to close after.
type credentials struct {
	methods  []ssh.AuthMethod
	order    []string          // method names, in the order of methods
	describe map[string]string // method name -> words for messages (never a secret)
	agent    net.Conn
}

func (c *credentials) close() {
	if c.agent != nil {
		c.agent.Close()
	}
}

// loadCredentials reads the identity file and reaches the agent before any
// connection is made, so a broken key is reported without touching the
// device (and without a failed-login entry in its log).
func loadCredentials(t Target) (*credentials, error) {
	a := t.Auth
	c := &credentials{describe: map[string]string{}}
	var signers []ssh.Signer
	var sources []string
	if a.IdentityFile != "" {
		s, err := loadIdentity(t, a.IdentityFile)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
		sources = append(sources, "identity file "+a.IdentityFile)
	}
	var agentClient agent.ExtendedAgent
	agentProblem := ""
	if a.UseAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			agentProblem = "use_agent: true is set but SSH_AUTH_SOCK is not (no ssh-agent in this environment)"
		} else if conn, err := net.DialTimeout("unix", sock, 2*time.Second); err != nil {
			agentProblem = fmt.Sprintf("use_agent: true is set but the ssh-agent at %s does not answer: %v", sock, err)
		} else {
			c.agent = conn
			agentClient = agent.NewClient(conn)
			sources = append(sources, "ssh-agent keys")
		}
	}
	if len(sources) > 0 {
		fixed := signers
		c.methods = append(c.methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			out := slices.Clone(fixed)
			if agentClient != nil {
				// An agent that fails now leaves the other methods to try.
				if more, err := agentClient.Signers(); err == nil {
					out = append(out, more...)
				}
			}
			return out, nil
		}))
		c.order = append(c.order, "publickey")
		c.describe["publickey"] = "publickey (" + strings.Join(sources, ", ") + ")"
	}
	if a.Password != "" {
		password := a.Password
		c.methods = append(c.methods, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				// RouterOS asks one question, the password.
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
		c.order = append(c.order, "password", "keyboard-interactive")
		c.describe["password"] = "password"
		c.describe["keyboard-interactive"] = "keyboard-interactive (answered with the password)"
	}
	if len(c.methods) == 0 {
		c.close()
		if agentProblem != "" {
			return nil, api.Errorf(api.KindAuthFailed, "cannot log in to %s: %s, and no password or identity_file is configured", t.name(), agentProblem)
		}
		return nil, api.Errorf(api.KindAuthFailed, "cannot log in to %s: no credentials configured (set password_env, password_file, identity_file or use_agent: true for it in the inventory)", t.name())
	}
	return c, nil
}

func loadIdentity(t Target, path string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fail(api.KindAuthFailed, []error{err}, "cannot log in to %s: cannot read identity file: %v", t.name(), err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, fail(api.KindAuthFailed, []error{err}, "cannot log in to %s: identity file %s is encrypted and cfgsnap never asks for passphrases — load it into ssh-agent (ssh-add %s) and set use_agent: true for this device in the inventory instead", t.name(), path, path)
	case err != nil:
		return nil, fail(api.KindAuthFailed, []error{err}, "cannot log in to %s: identity file %s is not a private key cfgsnap can read (OpenSSH or PEM): %v", t.name(), path, err)
	}
	return signer, nil
}

// Conn is a logged-in SSH connection to one device. Run may be called
// several times, one command at a time.
type Conn struct {
	client *ssh.Client
	target Target
	closed atomic.Bool
}

// ServerVersion is the device's SSH identification, e.g. "SSH-2.0-ROSSSH".
func (c *Conn) ServerVersion() string { return string(c.client.ServerVersion()) }

// Close closes the connection. It is safe to call more than once.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close ssh connection to %s: %w", c.target.name(), err)
	}
	return nil
}
