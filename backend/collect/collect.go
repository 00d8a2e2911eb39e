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
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/proxyjump"
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

	// ProxyJump is the inventory's proxy_jump in OpenSSH -J syntax; ""
	// leaves it to ~/.ssh/config, "none" means a direct connection.
	ProxyJump string
	// ProxyIdentityFile authenticates every jump host instead of the
	// device's credentials.
	ProxyIdentityFile string
	// LegacyAlgorithms also offers what RouterOS 6 without strong crypto
	// speaks: SHA-1 key exchanges, CBC ciphers, ssh-dss host keys.
	LegacyAlgorithms bool
	// Implicit marks settings that hold the inventory's built-in defaults
	// rather than a value someone wrote: ~/.ssh/config may fill those.
	Implicit Implicit

	// Set while dialing, never by callers.
	hop           *hopInfo // this target is a jump host on the way to a device
	identityFrom  string   // the ssh_config file that named Auth.IdentityFile
	proxyJumpFrom string   // the ssh_config file that named ProxyJump
}

// Implicit says which of a Target's settings are defaults, not choices.
type Implicit struct {
	Username bool
	Port     bool
}

// hopInfo places a jump host on a device's path, for messages.
type hopInfo struct {
	n, of  int
	device string
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
	// OnHop, if set, is called before each jump host is connected with a
	// detail such as "via bastion1:22 (hop 1/2)".
	OnHop func(detail string)
	// SSHConfig, if set, fills what the inventory leaves open (HostName,
	// Port, User, IdentityFile, ProxyJump) from the user's ssh_config.
	SSHConfig *SSHConfig
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

	// What ssh_legacy_algorithms: true adds, after everything above so a
	// device that can do better still does: RouterOS 6 before strong
	// crypto offers only SHA-1 key exchanges and CBC ciphers, and some of
	// those devices only a DSA host key.
	legacyKex = []string{
		ssh.InsecureKeyExchangeDHGEXSHA1, ssh.InsecureKeyExchangeDH1SHA1,
	}
	legacyCiphers = []string{
		ssh.InsecureCipherAES128CBC, ssh.InsecureCipherTripleDESCBC,
	}
	legacyMACs = []string{ssh.InsecureHMACSHA196}
	// ssh-dss on purpose: RouterOS 6 devices without strong crypto may
	// offer nothing else, and this list is used only with
	// ssh_legacy_algorithms: true.
	legacyHostKeys = []string{ssh.InsecureKeyAlgoDSA} //nolint:staticcheck // see above
)

// algorithms is what the handshake with t offers.
func algorithms(t Target) (cfg ssh.Config, hostKeys []string) {
	cfg = ssh.Config{KeyExchanges: kexAlgorithms, Ciphers: cipherAlgorithms, MACs: macAlgorithms}
	hostKeys = hostKeyAlgorithms
	if t.LegacyAlgorithms {
		cfg.KeyExchanges = slices.Concat(kexAlgorithms, legacyKex)
		cfg.Ciphers = slices.Concat(cipherAlgorithms, legacyCiphers)
		cfg.MACs = slices.Concat(macAlgorithms, legacyMACs)
		hostKeys = slices.Concat(hostKeyAlgorithms, legacyHostKeys)
	}
	return cfg, hostKeys
}

// Dial connects to t, verifies its host key and logs in. ctx bounds the
// dial, handshake and login (the connection is closed as soon as ctx is
// done); once Dial returns, each Run takes its own ctx.
//
// With a ProxyJump (the target's, else ~/.ssh/config's), each jump host is
// connected through the previous one (a direct-tcpip channel), its host key
// checked against the known_hosts files like a device's, and logged in to
// with ProxyIdentityFile or else the device's credentials; errors name the
// hop. Each hop gets its own dial and handshake deadlines.
func (d *Dialer) Dial(ctx context.Context, t Target) (*Conn, error) {
	t, err := d.SSHConfig.resolve(t)
	if err != nil {
		return nil, fail(api.KindBadRequest, []error{err}, "cannot connect to %s: %v", t.name(), err)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	hops, err := proxyjump.Parse(t.ProxyJump)
	if err != nil {
		from := "proxy_jump in the inventory"
		if t.proxyJumpFrom != "" {
			from = "ProxyJump in " + t.proxyJumpFrom
		}
		return nil, fail(api.KindBadRequest, []error{err}, "cannot connect to %s: %s is wrong: %v", t.name(), from, err)
	}
	if t.HostKeyPin == "" && !d.HostKeys.canVerify() {
		return nil, api.Errorf(api.KindInternal, "cannot connect to %s: no known_hosts file is configured to verify its host key", t.name())
	}
	hopTargets, err := d.hopTargets(t, hops)
	if err != nil {
		return nil, err
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
	var clients []*ssh.Client
	closeAll := func() {
		for i := len(clients) - 1; i >= 0; i-- {
			clients[i].Close()
		}
	}
	var via *ssh.Client
	for _, ht := range hopTargets {
		if d.OnHop != nil {
			d.OnHop(fmt.Sprintf("via %s (hop %d/%d)", ht.addr(), ht.hop.n, ht.hop.of))
		}
		c, err := d.connectHop(ctx, via, ht)
		if err != nil {
			closeAll()
			return nil, err
		}
		clients = append(clients, c)
		via = c
	}
	client, err := d.connect(ctx, via, t, creds, func() { d.stage(api.StageAuthenticating) })
	if err != nil {
		closeAll()
		return nil, err
	}
	return &Conn{client: client, hops: clients, target: t}, nil
}

// hopTargets turns the hops into targets: the hop's user, else the
// device's; ProxyIdentityFile, else the device's credentials.
func (d *Dialer) hopTargets(t Target, hops []proxyjump.Hop) ([]Target, error) {
	if len(hops) > 0 && (d.HostKeys == nil || d.HostKeys.File == "") {
		return nil, api.Errorf(api.KindInternal, "cannot connect to %s through its jump hosts: no known_hosts file is configured to verify their host keys", t.name())
	}
	out := make([]Target, 0, len(hops))
	for i, h := range hops {
		h, cfgIDs, err := d.SSHConfig.resolveHop(h)
		if err != nil {
			return nil, fail(api.KindBadRequest, []error{err}, "cannot connect to %s: hop %d/%d: %v", t.name(), i+1, len(hops), err)
		}
		ht := Target{
			Label: "the jump host",
			Host:  h.Host, Port: h.Port,
			Auth: t.Auth,
			hop:  &hopInfo{n: i + 1, of: len(hops), device: t.name()},
		}
		ht.identityFrom = t.identityFrom
		if h.User != "" {
			ht.Auth.Username = h.User
		}
		switch {
		case t.ProxyIdentityFile != "":
			// The hop names its own key: the device's password and key
			// stay away from the bastion.
			ht.Auth = Auth{Username: ht.Auth.Username, IdentityFile: t.ProxyIdentityFile, UseAgent: t.Auth.UseAgent}
			ht.identityFrom = ""
		case len(cfgIDs) > 0:
			// ssh_config names a key for this jump host: as with OpenSSH,
			// that key logs in to it, not the device's credentials.
			ht.Auth = Auth{Username: ht.Auth.Username, IdentityFile: cfgIDs[0], UseAgent: t.Auth.UseAgent}
			ht.identityFrom = d.SSHConfig.Path
		}
		if err := ht.validate(); err != nil {
			return nil, prefixHop(err, ht)
		}
		out = append(out, ht)
	}
	return out, nil
}

func (d *Dialer) connectHop(ctx context.Context, via *ssh.Client, ht Target) (*ssh.Client, error) {
	creds, err := loadCredentials(ht)
	if err != nil {
		return nil, prefixHop(err, ht)
	}
	defer creds.close()
	c, err := d.connect(ctx, via, ht, creds, nil)
	if err != nil {
		return nil, prefixHop(err, ht)
	}
	return c, nil
}

// prefixHop puts "hop 1/2 bastion:22: " in front of a jump host's error,
// keeping its kind.
func prefixHop(err error, ht Target) error {
	prefix := fmt.Sprintf("hop %d/%d %s (on the way to %s): ", ht.hop.n, ht.hop.of, ht.addr(), ht.hop.device)
	var f *failure
	if errors.As(err, &f) {
		f.e.Msg = prefix + f.e.Msg
		return err
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		ae.Msg = prefix + ae.Msg
		return err
	}
	return fmt.Errorf("%s%w", prefix, err)
}

// errHandshakeDeadline is the cause of one handshake's own deadline.
var errHandshakeDeadline = errors.New("the SSH handshake's deadline passed")

// connect opens t's TCP connection (through via, a jump host, when set),
// does the handshake and logs in. onAccepted runs once t's host key is
// accepted.
func (d *Dialer) connect(ctx context.Context, via *ssh.Client, t Target, creds *credentials, onAccepted func()) (*ssh.Client, error) {
	var raw net.Conn
	var err error
	if via == nil {
		nd := net.Dialer{Timeout: d.dialTimeout()}
		raw, err = nd.DialContext(ctx, "tcp", t.addr())
		if err != nil {
			return nil, classifyDial(ctx, t, d.dialTimeout(), err)
		}
	} else {
		dctx, cancel := context.WithTimeout(ctx, d.dialTimeout())
		raw, err = via.DialContext(dctx, "tcp", t.addr())
		timedOut := dctx.Err() != nil
		cancel()
		if err != nil {
			return nil, classifyTunnelDial(ctx, t, d.dialTimeout(), timedOut, err)
		}
	}
	// A hung device must not hang the caller: closing the connection
	// unblocks every read of the handshake. A tunnelled connection has no
	// socket deadline, so the handshake's deadline is a context too.
	hctx, hcancel := context.WithTimeoutCause(ctx, d.handshakeTimeout(), errHandshakeDeadline)
	defer hcancel()
	stop := context.AfterFunc(hctx, func() { raw.Close() })
	if via == nil {
		if err := raw.SetDeadline(time.Now().Add(d.handshakeTimeout())); err != nil {
			stop()
			raw.Close()
			return nil, fail(api.KindInternal, []error{err}, "connecting to %s: %v", t.name(), err)
		}
	}

	hs := &handshakeState{creds: creds}
	check := d.HostKeys.CallbackContext(ctx, t)
	algs, hostKeyAlgs := algorithms(t)
	cfg := &ssh.ClientConfig{
		User:              t.Auth.Username,
		Auth:              creds.methods,
		ClientVersion:     clientVersion,
		Config:            algs,
		HostKeyAlgorithms: hostKeyAlgs,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := check(hostname, remote, key); err != nil {
				hs.setHostKeyError(err)
				return err
			}
			if hs.acceptHostKey() && onAccepted != nil {
				onAccepted()
			}
			return nil
		},
		AuthCallback: hs.observeAuth,
	}
	if t.HostKeyPin == "" {
		if known := d.HostKeys.knownAlgorithmsFor(ctx, t); len(known) > 0 {
			cfg.HostKeyAlgorithms = preferred(known, hostKeyAlgs)
		}
	}

	sc, chans, reqs, err := ssh.NewClientConn(raw, t.addr(), cfg)
	if !stop() {
		// A deadline ended the handshake; the connection is already closed.
		if err == nil {
			sc.Close()
		}
		if ctx.Err() == nil {
			return nil, classifyHandshake(ctx, t, hs, d.handshakeTimeout(), os.ErrDeadlineExceeded)
		}
		return nil, classifyHandshake(ctx, t, hs, d.handshakeTimeout(), context.Cause(ctx))
	}
	if err != nil {
		return nil, classifyHandshake(ctx, t, hs, d.handshakeTimeout(), err)
	}
	if via == nil {
		if err := raw.SetDeadline(time.Time{}); err != nil {
			sc.Close()
			return nil, fail(api.KindInternal, []error{err}, "connecting to %s: %v", t.name(), err)
		}
	}
	return ssh.NewClient(sc, chans, reqs), nil
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
	if msg := identityModeProblem(path); msg != "" {
		from := ""
		if t.identityFrom != "" {
			from = " (IdentityFile in " + t.identityFrom + ")"
		}
		return nil, api.Errorf(api.KindAuthFailed, "cannot log in to %s: identity file %s%s %s", t.name(), path, from, msg)
	}
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
	hops   []*ssh.Client // jump hosts, first hop first; closed after client
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
	err := c.client.Close()
	for i := len(c.hops) - 1; i >= 0; i-- {
		c.hops[i].Close()
	}
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("close ssh connection to %s: %w", c.target.name(), err)
	}
	return nil
}
