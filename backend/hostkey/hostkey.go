// Package hostkey keeps the SSH host keys of devices in one place that every
// worker of a cluster shares, so that trust on first use happens once for
// the whole cluster instead of once per worker: with one known_hosts file
// per worker, a man in the middle needs to fool only the worker that meets
// the device first (or after a restart on a fresh data dir), and the others
// would never notice. Here the first key any worker records is the key
// every worker checks.
//
// A key belongs to a device (tenant/device), not to an address. The
// inventory names devices, `cfgsnap hostkey forget TENANT/DEVICE` names
// devices, and tenants of one service commonly reuse the same private
// addresses (192.168.88.1 is every MikroTik's default): keyed by host:port,
// one tenant's device could make another tenant's device look rotated, or
// forgetting one would forget the other. The address a key was first seen
// at is kept in the record for people, not for matching.
package hostkey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// Entry is the host key recorded for one device.
type Entry struct {
	Tenant, Device string
	Key            ssh.PublicKey
	// Addr is host:port where the key was first seen.
	Addr string
	// At is when it was recorded, by the recording worker's clock.
	At time.Time
	// By names the worker that recorded it ("user@host").
	By string
	// Revision is the store's revision of the record (set by reads).
	Revision uint64
}

// Label is "tenant/device".
func (e Entry) Label() string { return e.Tenant + "/" + e.Device }

// Fingerprint is the SHA256 fingerprint of the key, as ssh-keygen -l prints it.
func (e Entry) Fingerprint() string { return ssh.FingerprintSHA256(e.Key) }

// Store keeps one host key per device. Implementations decide races: of
// several workers recording a first key for one device at once, exactly one
// wins, and every one of them gets the winner's entry back.
type Store interface {
	// Get returns the device's entry, nil when none is recorded. A record
	// that does not decode is an error, never "none".
	Get(ctx context.Context, tenant, device string) (*Entry, error)
	// Create records e unless the device already has a key. It returns the
	// entry now recorded and whether it is e.
	Create(ctx context.Context, e Entry) (Entry, bool, error)
	// Forget removes the device's entry (also one that does not decode) and
	// returns what it removed: nil when nothing was recorded, and an entry
	// with only Tenant and Device set when the record did not decode.
	Forget(ctx context.Context, tenant, device string) (*Entry, error)
	// Where names the store in messages ("the cluster's host key bucket X").
	Where() string
}

// maxValue bounds a record: a 16384-bit RSA key is under 3 KB in base64.
const maxValue = 16 << 10

// version of the record format; a reader refuses versions it does not know
// rather than guess what a newer writer meant.
const version = 1

// value is a record as stored. Fingerprint repeats what Key says so that
// `nats kv get` shows it, and so that a record edited by hand in one field
// but not the other is refused.
type value struct {
	V           int    `json:"v"`
	Tenant      string `json:"tenant"`
	Device      string `json:"device"`
	Key         string `json:"key"` // authorized_keys form: "ssh-ed25519 AAAA..."
	Fingerprint string `json:"fingerprint"`
	Addr        string `json:"addr,omitempty"`
	At          string `json:"at,omitempty"` // RFC 3339
	By          string `json:"by,omitempty"`
}

// Encode returns the stored form of e.
func Encode(e Entry) ([]byte, error) {
	if e.Key == nil {
		return nil, fmt.Errorf("host key of %s: no key", e.Label())
	}
	if err := checkIDs(e.Tenant, e.Device); err != nil {
		return nil, err
	}
	v := value{V: version, Tenant: e.Tenant, Device: e.Device,
		Key:         strings.TrimSpace(string(ssh.MarshalAuthorizedKey(e.Key))),
		Fingerprint: ssh.FingerprintSHA256(e.Key), Addr: e.Addr, By: e.By}
	if !e.At.IsZero() {
		v.At = e.At.UTC().Format(time.RFC3339)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("host key of %s: %w", e.Label(), err)
	}
	if len(b) > maxValue {
		return nil, fmt.Errorf("host key of %s: record of %d bytes is over %d", e.Label(), len(b), maxValue)
	}
	return b, nil
}

// ErrUndecodable marks a stored record that is not a host key record for
// the device it is stored under.
var ErrUndecodable = errors.New("the recorded host key does not decode")

// Decode reads the record stored for tenant/device. Anything but a
// well-formed record of this format for this very device is an error
// wrapping ErrUndecodable: a garbage or foreign value must neither be
// trusted nor be taken for "no key yet", which would let the next key
// presented replace it.
func Decode(tenant, device string, data []byte) (Entry, error) {
	e, err := decode(tenant, device, data)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %s/%s: %w", ErrUndecodable, tenant, device, err)
	}
	return e, nil
}

func decode(tenant, device string, data []byte) (Entry, error) {
	if len(data) > maxValue {
		return Entry{}, fmt.Errorf("%d bytes, more than a record can be", len(data))
	}
	var v value
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return Entry{}, fmt.Errorf("not a host key record: %w", err)
	}
	if dec.More() {
		return Entry{}, errors.New("not a host key record: data after the record")
	}
	if v.V != version {
		return Entry{}, fmt.Errorf("record format %d, this cfgsnap reads %d", v.V, version)
	}
	// A record copied under another device's key would otherwise vouch
	// for a key that device never presented.
	if v.Tenant != tenant || v.Device != device {
		if api.ValidID(v.Tenant) && api.ValidID(v.Device) {
			return Entry{}, fmt.Errorf("the record is for %s/%s", v.Tenant, v.Device)
		}
		return Entry{}, errors.New("the record is for another device")
	}
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(v.Key))
	if err != nil {
		return Entry{}, fmt.Errorf("key: %w", err)
	}
	if comment != "" || len(options) > 0 || len(bytes.TrimSpace(rest)) > 0 {
		return Entry{}, errors.New("key: more than one key, or options or a comment")
	}
	if fp := ssh.FingerprintSHA256(key); fp != v.Fingerprint {
		return Entry{}, fmt.Errorf("fingerprint %q does not match the key (%s)", v.Fingerprint, fp)
	}
	e := Entry{Tenant: tenant, Device: device, Key: key, Addr: v.Addr, By: v.By}
	if v.At != "" {
		at, err := time.Parse(time.RFC3339, v.At)
		if err != nil {
			return Entry{}, fmt.Errorf("time %q: %w", v.At, err)
		}
		e.At = at
	}
	return e, nil
}

func checkIDs(tenant, device string) error {
	if err := api.CheckID("tenant", tenant); err != nil {
		return err
	}
	return api.CheckID("device", device)
}

// SameKey reports whether a and b are the same public key.
func SameKey(a, b ssh.PublicKey) bool {
	return a != nil && b != nil && bytes.Equal(a.Marshal(), b.Marshal())
}
