// Package devicesim runs a fleet of simulated MikroTik RouterOS devices:
// real SSH servers on loopback, one port per device, all in one process. It
// is what `cfgsnap sim` and `cfgsnap demo` serve, what the benchmarks back
// up, and what every integration test talks to instead of a router.
//
// A device looks like RouterOS to an SSH client: the "SSH-2.0-ROSSSH"
// version string, an ed25519 host key, password / keyboard-interactive /
// public-key auth, and exec requests answered like RouterOS 6 or 7 answers
// them (`/export [terse] [show-sensitive|hide-sensitive]`, `/system resource
// print`, `/system package update print`, `/system identity print`, errors
// with "(line 1 column N)" and exit status 1). Configurations are generated
// on demand from a seed and a generation number, so a thousand devices cost
// a few megabytes; nothing of an export is kept between requests. Devices can
// also replay a real capture (Spec.Fixture) and misbehave on purpose
// (Spec.Fault) so that clients can be tested against every failure a real
// fleet shows.
package devicesim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// Fault is a way a device misbehaves on purpose.
type Fault string

const (
	FaultNone          Fault = ""
	FaultWrongPassword Fault = "wrong_password"        // the device expects another password: auth fails
	FaultSlowHandshake Fault = "slow_handshake"        // waits Spec.Delay (default 30s) before the SSH version exchange
	FaultHangAfterAuth Fault = "hang_after_auth"       // auth OK, then exec never answers until the client goes away
	FaultSlowOutput    Fault = "slow_output"           // exports trickle at Spec.BytesPerSecond (default 2 KB/s)
	FaultDisconnect    Fault = "disconnect_mid_export" // about half an export, cut mid-line, then the channel closes without exit status
	FaultNonZeroExit   Fault = "nonzero_exit"          // exports print a RouterOS failure and exit status 1
	FaultGarbage       Fault = "garbage"               // exports exit 0 but print noise, not an export
	FaultRotateHostKey Fault = "rotate_hostkey"        // a new host key on every start of the fleet (and when set at run time)
	FaultEndless       Fault = "endless"               // every command streams export-like lines forever, until the client goes away
	FaultSecretFail    Fault = "secret_fail"           // exports print lines carrying SecretFailSecrets, then exit status 1
	FaultLegacyCrypto  Fault = "legacy_crypto"         // speaks only what RouterOS 6 without strong crypto does: SHA-1 key exchanges, CBC ciphers, an ssh-rsa host key
)

// Faults lists every fault, for tools and tests that cover them all.
var Faults = []Fault{FaultWrongPassword, FaultSlowHandshake, FaultHangAfterAuth, FaultSlowOutput,
	FaultDisconnect, FaultNonZeroExit, FaultGarbage, FaultRotateHostKey, FaultEndless, FaultSecretFail}

// FaultLegacyCrypto is not in Faults, so DefaultFleet (the demo's lab
// devices and the screens built on it) stays as it is; a Spec may still
// ask for it.
func (f Fault) valid() bool {
	return f == FaultNone || f == FaultLegacyCrypto || slices.Contains(Faults, f)
}

const (
	defaultDelay          = 30 * time.Second
	defaultBytesPerSecond = 2048
	defaultSizeBytes      = 20 << 10
	maxSizeBytes          = 64 << 20
	defaultVersion        = "7.16.2"
	defaultUsername       = "admin"
	handshakeTimeout      = 30 * time.Second
)

// Spec describes one simulated device.
type Spec struct {
	Tenant, ID string
	TenantName string // display name for inventories ("ACME Networks"); "" = the tenant ID
	Name       string // display name of the device; "" = the ID
	Version    string // "6.49.10", "7.10.1", "7.16.2" ...; "" = 7.16.2 (or the capture's version)
	Model      string // board name, e.g. "CCR2004-16G-2S+", "RB4011iGS+", "hEX S", "CHR"; "" = chosen by seed
	SizeBytes  int    // approximate export size, 2 KB .. 4 MB (up to 64 MB accepted); 0 = 20 KB
	Seed       int64  // configuration seed; 0 = derived from tenant and ID
	Fault      Fault
	Delay      time.Duration // FaultSlowHandshake; 0 = 30s
	// BytesPerSecond is the FaultSlowOutput rate; 0 = 2 KB/s.
	BytesPerSecond int
	Password       string // "" = the fleet's password
	// Fixture is the path of an Oxidized *#simulation.yaml capture whose
	// replies are served verbatim, or BuiltinCapture and the name of one of
	// the simulator's own (captures/); commands it lacks fall back to
	// generated ones.
	Fixture string
	// DriftEvery > 0 changes the configuration on this schedule (a new
	// generation number every period since the fleet started).
	DriftEvery time.Duration
}

// Config is the fleet's shared settings.
type Config struct {
	ListenHost string // default "127.0.0.1"
	BasePort   int    // 0 = an ephemeral port per device; > 0 = BasePort+i for the i-th spec
	// StateDir keeps host keys across restarts (0700 directories, 0600
	// files); "" = host keys live in memory only.
	StateDir           string
	Username, Password string                           // defaults "admin" and a generated password (Fleet.Password)
	AuthorizedKeys     []ssh.PublicKey                  // public-key auth is accepted for these keys
	Logf               func(format string, args ...any) // nil = silent; passwords are never logged
	// Now is the devices' clock (export headers, uptime, drift schedule);
	// nil = time.Now. Tests fix it to compare exports byte for byte.
	Now func() time.Time
}

// DeviceInfo is what a client needs to reach a device, and what it is.
type DeviceInfo struct {
	Tenant, ID         string
	TenantName, Name   string
	Host               string
	Port               int
	Version            string
	Model              string
	Fault              Fault
	Fixture            string
	SizeBytes          int
	HostKeyFingerprint string // ssh.FingerprintSHA256 of the key the device presents now
}

// Fleet is a running set of simulated devices.
type Fleet struct {
	cfg     Config
	started time.Time
	devices []*device
	byKey   map[string]*device

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// ErrUnknownDevice is returned for a tenant/ID pair the fleet does not have.
var ErrUnknownDevice = errors.New("devicesim: unknown device")

// Start validates the specs, opens one listener per device and serves them
// until Close (or until ctx is done). On error nothing is left running.
func Start(ctx context.Context, cfg Config, specs []Spec) (*Fleet, error) {
	if cfg.ListenHost == "" {
		cfg.ListenHost = "127.0.0.1"
	}
	if cfg.Username == "" {
		cfg.Username = defaultUsername
	}
	if cfg.Password == "" {
		cfg.Password = rand.Text()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BasePort < 0 || cfg.BasePort+len(specs) > 65536 {
		return nil, fmt.Errorf("devicesim: base port %d cannot hold %d devices", cfg.BasePort, len(specs))
	}
	fctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{
		cfg:     cfg,
		started: cfg.Now(),
		byKey:   make(map[string]*device, len(specs)),
		ctx:     fctx,
		cancel:  cancel,
		conns:   make(map[net.Conn]struct{}),
	}
	keys, err := newKeyStore(cfg.StateDir)
	if err != nil {
		cancel()
		return nil, err
	}
	devs := make([]*device, 0, len(specs))
	for i, s := range specs {
		d, err := newDevice(f, i, s)
		if err != nil {
			cancel()
			return nil, err
		}
		if _, dup := f.byKey[d.key()]; dup {
			cancel()
			return nil, fmt.Errorf("devicesim: device %s/%s is listed twice", s.Tenant, s.ID)
		}
		f.byKey[d.key()] = d
		devs = append(devs, d)
	}
	for _, d := range devs {
		s, err := keys.signer(d.key(), d.currentFault() == FaultRotateHostKey)
		if err != nil {
			cancel()
			return nil, err
		}
		d.signer.Store(s)
		d.keys = keys
	}
	if err := keys.save(); err != nil {
		cancel()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		cancel()
		return nil, fmt.Errorf("devicesim: start: %w", err)
	}
	for i, d := range devs {
		addr := net.JoinHostPort(cfg.ListenHost, "0")
		if cfg.BasePort > 0 {
			addr = net.JoinHostPort(cfg.ListenHost, strconv.Itoa(cfg.BasePort+i))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			f.abort()
			return nil, fmt.Errorf("devicesim: device %s: listen %s: %w", d.key(), addr, err)
		}
		d.ln = ln
		d.port = ln.Addr().(*net.TCPAddr).Port
		f.devices = append(f.devices, d)
	}
	for _, d := range f.devices {
		f.wg.Add(1)
		go f.acceptLoop(d)
	}
	// The fleet lives as long as the caller's context, so that `cfgsnap sim`
	// can stop it with a signal context; this goroutine is not in wg because
	// Close waits for wg.
	go func() {
		select {
		case <-ctx.Done():
			f.Close()
		case <-fctx.Done():
		}
	}()
	f.logf("devicesim: %d devices listening on %s", len(f.devices), cfg.ListenHost)
	return f, nil
}

// abort undoes a partial Start.
func (f *Fleet) abort() {
	f.cancel()
	for _, d := range f.devices {
		d.ln.Close()
	}
}

// Close stops every listener and live connection, hanging ones included,
// and waits for all of the fleet's goroutines.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		f.cancel()
		f.mu.Lock()
		f.closed = true
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		for _, d := range f.devices {
			if err := d.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && f.closeErr == nil {
				f.closeErr = fmt.Errorf("devicesim: close %s/%s: %w", d.spec.Tenant, d.spec.ID, err)
			}
		}
		f.wg.Wait()
	})
	return f.closeErr
}

// Password is the fleet's password (devices without their own Spec.Password).
func (f *Fleet) Password() string { return f.cfg.Password }

// Username is the login every device accepts.
func (f *Fleet) Username() string { return f.cfg.Username }

// Devices describes every device, in the order of the specs.
func (f *Fleet) Devices() []DeviceInfo {
	out := make([]DeviceInfo, 0, len(f.devices))
	for _, d := range f.devices {
		out = append(out, d.info())
	}
	return out
}

// Addr is where a device listens.
func (f *Fleet) Addr(tenant, id string) (host string, port int, ok bool) {
	d, ok := f.byKey[tenant+"/"+id]
	if !ok {
		return "", 0, false
	}
	return f.cfg.ListenHost, d.port, true
}

func (f *Fleet) lookup(tenant, id string) (*device, error) {
	d, ok := f.byKey[tenant+"/"+id]
	if !ok {
		return nil, fmt.Errorf("%w %s/%s", ErrUnknownDevice, tenant, id)
	}
	return d, nil
}

// Drift changes a device's configuration now (its next generation).
func (f *Fleet) Drift(tenant, id string) error {
	d, err := f.lookup(tenant, id)
	if err != nil {
		return err
	}
	d.manualGen.Add(1)
	return nil
}

// Generation is the device's current configuration generation: 0 at start,
// one more for every Drift and every DriftEvery period.
func (f *Fleet) Generation(tenant, id string) (int64, error) {
	d, err := f.lookup(tenant, id)
	if err != nil {
		return 0, err
	}
	return d.generation(), nil
}

// RotateHostKey gives a device a new host key (persisted when the fleet has
// a StateDir); connections from then on see the new key.
func (f *Fleet) RotateHostKey(tenant, id string) error {
	d, err := f.lookup(tenant, id)
	if err != nil {
		return err
	}
	return d.rotateHostKey()
}

// SetFault changes how a device misbehaves, for connections from then on.
// Setting FaultRotateHostKey rotates the key at once.
func (f *Fleet) SetFault(tenant, id string, fault Fault) error {
	if !fault.valid() {
		return fmt.Errorf("devicesim: unknown fault %q", fault)
	}
	d, err := f.lookup(tenant, id)
	if err != nil {
		return err
	}
	d.fault.Store(fault)
	if fault == FaultRotateHostKey {
		return d.rotateHostKey()
	}
	return nil
}

// OfferedKeys lists the SHA256 fingerprints of every public key a client
// offered the device since the fleet started, in order, repeats included:
// what a rogue device learns about its clients. Only devices of a fleet
// with Config.AuthorizedKeys accept public-key auth, so only they see keys.
func (f *Fleet) OfferedKeys(tenant, id string) ([]string, error) {
	d, err := f.lookup(tenant, id)
	if err != nil {
		return nil, err
	}
	d.offeredMu.Lock()
	defer d.offeredMu.Unlock()
	return slices.Clone(d.offered), nil
}

// Export is exactly the configuration export a healthy device would send
// now: `/export show-sensitive` (7.x) or `/export` (6.x) when showSecrets,
// else `/export` (7.x) or `/export hide-sensitive` (6.x). Faults are not
// applied: this is what a correct backup must have received.
func (f *Fleet) Export(tenant, id string, showSecrets bool) ([]byte, error) {
	d, err := f.lookup(tenant, id)
	if err != nil {
		return nil, err
	}
	cmd := "/export"
	switch {
	case showSecrets && !d.version.v6():
		cmd = "/export show-sensitive"
	case !showSecrets && d.version.v6():
		cmd = "/export hide-sensitive"
	}
	r := d.respond(cmd, f.cfg.Now())
	if r.status != 0 {
		return nil, fmt.Errorf("devicesim: %s/%s: %s: %s", tenant, id, cmd, r.body)
	}
	return r.bytes()
}

func (f *Fleet) logf(format string, args ...any) {
	if f.cfg.Logf != nil {
		f.cfg.Logf(format, args...)
	}
}

// track registers a live connection so that Close can end it; it reports
// false when the fleet is already closing.
func (f *Fleet) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Fleet) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// device is one simulated router. Its spec never changes; the fault, host
// key and generation may, from any goroutine.
type device struct {
	fleet   *Fleet
	index   int
	spec    Spec
	version rosVersion
	board   board
	seed    uint64
	capture map[string][]byte // normalised command line -> reply; nil without a fixture
	bootAge time.Duration     // uptime at fleet start

	ln   net.Listener
	port int
	keys *keyStore

	fault     atomic.Value // Fault
	signer    atomic.Value // ssh.Signer
	legacyKey atomic.Value // ssh.Signer: the ssh-rsa key of FaultLegacyCrypto, made on first use
	manualGen atomic.Int64
	units     atomic.Int64 // filler units for SizeBytes; -1 until computed
	keyMu     sync.Mutex   // serialises rotations

	offeredMu sync.Mutex
	offered   []string // fingerprints of the public keys clients offered, in order
}

func newDevice(f *Fleet, index int, s Spec) (*device, error) {
	if err := api.CheckID("tenant", s.Tenant); err != nil {
		return nil, fmt.Errorf("devicesim: spec %d: %w", index, err)
	}
	if err := api.CheckID("device", s.ID); err != nil {
		return nil, fmt.Errorf("devicesim: spec %d: %w", index, err)
	}
	where := s.Tenant + "/" + s.ID
	if !s.Fault.valid() {
		return nil, fmt.Errorf("devicesim: %s: unknown fault %q", where, s.Fault)
	}
	if s.SizeBytes < 0 || s.SizeBytes > maxSizeBytes {
		return nil, fmt.Errorf("devicesim: %s: size %d bytes out of range 0..%d", where, s.SizeBytes, maxSizeBytes)
	}
	if s.Delay < 0 || s.BytesPerSecond < 0 || s.DriftEvery < 0 {
		return nil, fmt.Errorf("devicesim: %s: negative delay, rate or drift period", where)
	}
	if s.SizeBytes == 0 {
		s.SizeBytes = defaultSizeBytes
	}
	if s.Delay == 0 {
		s.Delay = defaultDelay
	}
	if s.BytesPerSecond == 0 {
		s.BytesPerSecond = defaultBytesPerSecond
	}
	d := &device{fleet: f, index: index, spec: s}
	d.seed = uint64(s.Seed)
	if s.Seed == 0 {
		d.seed = hash64(s.Tenant, s.ID)
	}
	if s.Fixture != "" {
		if err := d.loadFixture(); err != nil {
			return nil, fmt.Errorf("devicesim: %s: %w", where, err)
		}
	}
	if d.spec.Version == "" {
		d.spec.Version = defaultVersion
	}
	v, err := parseVersion(d.spec.Version)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: %w", where, err)
	}
	d.version = v
	if d.spec.Model == "" {
		r := newRNG(d.seed, 7)
		for {
			b := boards[r.intn(len(boards))]
			if !b.v7Only || !v.v6() {
				d.spec.Model = b.name
				break
			}
		}
	}
	d.board = boardFor(d.spec.Model)
	r := newRNG(d.seed, 8)
	d.bootAge = time.Duration(r.intn(90*24*3600)+600) * time.Second
	d.fault.Store(s.Fault)
	d.units.Store(-1)
	return d, nil
}

func (d *device) key() string { return d.spec.Tenant + "/" + d.spec.ID }

func (d *device) currentFault() Fault { return d.fault.Load().(Fault) }

func (d *device) currentSigner() ssh.Signer { return d.signer.Load().(ssh.Signer) }

func (d *device) password() string {
	if d.spec.Password != "" {
		return d.spec.Password
	}
	return d.fleet.cfg.Password
}

// generation counts manual drifts plus elapsed DriftEvery periods; it needs
// no timer goroutine, so idle drifting devices cost nothing.
func (d *device) generation() int64 {
	g := d.manualGen.Load()
	if d.spec.DriftEvery > 0 {
		if el := d.fleet.cfg.Now().Sub(d.fleet.started); el > 0 {
			g += int64(el / d.spec.DriftEvery)
		}
	}
	return g
}

func (d *device) rotateHostKey() error {
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	s, err := d.keys.signer(d.key(), true)
	if err != nil {
		return err
	}
	if err := d.keys.save(); err != nil {
		return err
	}
	d.signer.Store(s)
	return nil
}

func (d *device) info() DeviceInfo {
	name, tname := d.spec.Name, d.spec.TenantName
	if name == "" {
		name = d.spec.ID
	}
	if tname == "" {
		tname = d.spec.Tenant
	}
	info := DeviceInfo{
		Tenant: d.spec.Tenant, ID: d.spec.ID, TenantName: tname, Name: name,
		Host: d.fleet.cfg.ListenHost, Port: d.port,
		Version: d.spec.Version, Model: d.spec.Model, Fault: d.currentFault(),
		Fixture: d.spec.Fixture, SizeBytes: d.spec.SizeBytes,
		HostKeyFingerprint: ssh.FingerprintSHA256(d.currentSigner().PublicKey()),
	}
	if info.Fault == FaultLegacyCrypto {
		if s, err := d.legacySigner(); err == nil {
			info.HostKeyFingerprint = ssh.FingerprintSHA256(s.PublicKey())
		}
	}
	return info
}
