package collect

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/hostkey"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeys decides which SSH host keys are trusted: a key pinned by the
// inventory, else keys recorded in known_hosts files, else the first key a
// host presents (trust on first use), which is then recorded in File.
// Use one *HostKeys per File in a process; several processes may share File.
//
// With Shared set (serve --store jetstream), keys are recorded and checked
// in the cluster's store under tenant/device instead, and File and ReadOnly
// are not consulted: every worker must see the same trust, and a key one
// worker's local file holds would make that worker's view differ from the
// others' in a way no cluster-wide `hostkey forget` can fix.
type HostKeys struct {
	// File is DATA_DIR/known_hosts: read, and appended to on first contact.
	// It is created 0600 in a 0700 directory.
	File string
	// ReadOnly files (e.g. ~/.ssh/known_hosts) are consulted and never
	// written. Missing or unreadable ones are skipped: they can only add
	// trust, so skipping one is the same as the user not having it.
	ReadOnly []string

	// OnLearn, if set, is called after a first-contact key was recorded,
	// so the caller can tell the user what was trusted on their behalf.
	OnLearn func(label, address, fingerprint string)

	// Shared, if set, is the cluster-wide store that replaces the files.
	Shared hostkey.Store
	// Worker names this process in what it records ("user@host").
	Worker string

	mu sync.Mutex // serialises this process's writers; the lock file serialises processes
}

// Callback returns the host key check for t: the pin when t has one (and
// nothing is recorded), otherwise the known_hosts files with trust on first
// use. Rejections are *api.Error of kind host_key_mismatch that name both
// fingerprints and what to do. h may be nil when t is pinned.
func (h *HostKeys) Callback(t Target) ssh.HostKeyCallback {
	return h.CallbackContext(context.Background(), t)
}

// CallbackContext is Callback whose lookups in a shared store end with ctx.
func (h *HostKeys) CallbackContext(ctx context.Context, t Target) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if t.HostKeyPin != "" {
			return checkPin(t, key)
		}
		// Jump hosts are not devices of a tenant: their keys live in the
		// known_hosts files even when devices' keys are shared.
		if h != nil && h.Shared != nil && t.hop == nil {
			return h.verifyShared(ctx, t, key)
		}
		if h == nil || h.File == "" {
			return api.Errorf(api.KindInternal, "cannot verify the host key of %s: no known_hosts file is configured", t.name())
		}
		if hostname == "" {
			hostname = remote.String()
		}
		return h.verify(t, hostname, remote, key)
	}
}

// normalizePin validates an inventory host_key: the "SHA256:..." form
// printed by ssh-keygen -lf and RouterOS, with or without base64 padding.
func normalizePin(t Target) (string, error) {
	pin := strings.TrimSpace(t.HostKeyPin)
	rest, ok := strings.CutPrefix(pin, "SHA256:")
	rest = strings.TrimRight(rest, "=")
	if !ok || rest == "" {
		return "", api.Errorf(api.KindBadRequest, "host_key of %s is %q: it must be a SHA256 fingerprint like \"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\" (ssh-keygen -lf shows it)", t.name(), t.HostKeyPin)
	}
	if _, err := base64.RawStdEncoding.DecodeString(rest); err != nil {
		return "", api.Errorf(api.KindBadRequest, "host_key of %s is %q: the part after SHA256: is not base64", t.name(), t.HostKeyPin)
	}
	return "SHA256:" + rest, nil
}

func checkPin(t Target, key ssh.PublicKey) error {
	pin, err := normalizePin(t)
	if err != nil {
		return err
	}
	got := ssh.FingerprintSHA256(key)
	if got == pin {
		return nil
	}
	return api.Errorf(api.KindHostKeyMismatch,
		"host key mismatch for %s (%s): the device presented %s %s, but the inventory pins host_key %s. "+
			"Either the device's key was regenerated (reinstall, reset) or someone is intercepting the connection. "+
			"Check with whoever runs the device; if the change is legitimate, update host_key of %s in the inventory.",
		t.name(), t.addr(), key.Type(), got, pin, t.name())
}

// lookup is the verdict of the known_hosts files on one key.
type lookup struct {
	known   bool
	want    []knownhosts.KnownKey
	revoked *knownhosts.KnownKey
}

func (h *HostKeys) files() []string {
	return append(slices.Clone(h.ReadOnly), h.File)
}

// check asks every file about key for hostname. Only File's errors count:
// it is ours, and a broken one must stop the job rather than silently
// turning every device back into a first contact.
func (h *HostKeys) check(files []string, hostname string, remote net.Addr, key ssh.PublicKey) (lookup, error) {
	var res lookup
	for _, file := range files {
		cb, err := knownhosts.New(file)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || file != h.File {
				continue
			}
			return res, api.Wrap(api.KindStorage, err, fmt.Sprintf("cannot read the known hosts file %s (fix or move it)", file))
		}
		err = cb(hostname, remote, key)
		var keyErr *knownhosts.KeyError
		var revErr *knownhosts.RevokedError
		switch {
		case err == nil:
			res.known = true
		case errors.As(err, &revErr):
			res.revoked = &revErr.Revoked
			return res, nil
		case errors.As(err, &keyErr):
			res.want = append(res.want, keyErr.Want...)
		case file == h.File:
			return res, api.Wrap(api.KindStorage, err, fmt.Sprintf("cannot check %s against %s", hostname, file))
		}
	}
	return res, nil
}

func (h *HostKeys) verify(t Target, hostname string, remote net.Addr, key ssh.PublicKey) error {
	res, err := h.check(h.files(), hostname, remote, key)
	if err != nil {
		return err
	}
	if v := h.verdict(t, key, res); v != nil || res.known {
		return v
	}
	learned, err := h.learn(t, hostname, remote, key)
	if learned && h.OnLearn != nil {
		h.OnLearn(t.Label, hostname, ssh.FingerprintSHA256(key))
	}
	return err
}

// verdict is nil for a known key and for an unknown host (learn decides).
func (h *HostKeys) verdict(t Target, key ssh.PublicKey, res lookup) error {
	switch {
	case res.revoked != nil:
		return api.Errorf(api.KindHostKeyMismatch, "host key of %s (%s) is revoked: %s %s is marked @revoked in %s line %d — the device must get a new key",
			t.name(), t.addr(), key.Type(), ssh.FingerprintSHA256(key), res.revoked.Filename, res.revoked.Line)
	case res.known:
		return nil
	case len(res.want) > 0:
		return h.mismatch(t, key, res.want)
	}
	return nil
}

func (h *HostKeys) mismatch(t Target, key ssh.PublicKey, want []knownhosts.KnownKey) error {
	var recorded []string
	var readOnly []string
	ours := false
	for _, w := range want {
		recorded = append(recorded, fmt.Sprintf("%s line %d records %s %s", w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key)))
		if w.Filename == h.File {
			ours = true
		} else if !slices.Contains(readOnly, w.Filename) {
			readOnly = append(readOnly, w.Filename)
		}
	}
	var todo []string
	switch {
	case t.hop != nil && (ours || len(readOnly) == 0):
		todo = append(todo, fmt.Sprintf("remove the jump host's old key with: ssh-keygen -R '%s' -f %s", knownhosts.Normalize(t.addr()), h.File))
	case ours || len(readOnly) == 0:
		todo = append(todo, "run: "+forgetCommand(t))
	}
	for _, f := range readOnly {
		todo = append(todo, fmt.Sprintf("remove the old key from %s (cfgsnap never writes it) with: ssh-keygen -R '%s' -f %s",
			f, knownhosts.Normalize(t.addr()), f))
	}
	return api.Errorf(api.KindHostKeyMismatch,
		"host key mismatch for %s (%s): the device presented %s %s, but %s. "+
			"Either the device's key was regenerated (reinstall, reset) or someone is intercepting the connection. "+
			"Check with whoever runs the device; if the change is legitimate, %s, then back up again to record the new key.",
		t.name(), t.addr(), key.Type(), ssh.FingerprintSHA256(key), strings.Join(recorded, "; "), strings.Join(todo, " and "))
}

func forgetCommand(t Target) string {
	if t.Label == "" {
		return "cfgsnap hostkey forget TENANT/DEVICE"
	}
	return "cfgsnap hostkey forget " + t.Label
}

// learn records key for an unknown host. It re-checks File under the lock
// because another goroutine or process may have recorded the host since the
// first look: the same key must not be added twice, and a different one is a
// mismatch like any other. It reports whether it wrote the key.
func (h *HostKeys) learn(t Target, hostname string, remote net.Addr, key ssh.PublicKey) (bool, error) {
	unlock, err := h.lock()
	if err != nil {
		return false, err
	}
	defer unlock()

	res, err := h.check([]string{h.File}, hostname, remote, key)
	if err != nil {
		return false, err
	}
	if v := h.verdict(t, key, res); v != nil || res.known {
		return false, v
	}
	f, err := os.OpenFile(h.File, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, api.Wrap(api.KindStorage, err, "cannot record the host key of "+t.name())
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	// A hand-edited file may lack its final newline; appending to it would
	// glue two entries into one unparsable line.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	// One write with O_APPEND: a reader in another process sees either no
	// line or the whole line.
	_, werr := f.Write([]byte(line))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return false, api.Wrap(api.KindStorage, err, "cannot record the host key of "+t.name()+" in "+h.File)
	}
	return true, nil
}

// lock takes this process's mutex and the cross-process lock file beside
// File, creating File's directory (0700) on the way.
func (h *HostKeys) lock() (func(), error) {
	if err := h.writable(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(h.File), 0o700); err != nil {
		return nil, api.Wrap(api.KindStorage, err, "cannot create the directory of "+h.File)
	}
	h.mu.Lock()
	unlockFile, err := lockFile(h.File + ".lock")
	if err != nil {
		h.mu.Unlock()
		return nil, api.Wrap(api.KindStorage, err, "cannot lock "+h.File)
	}
	return func() { unlockFile(); h.mu.Unlock() }, nil
}

// writable refuses to write inside ~/.ssh: that directory belongs to the
// user's OpenSSH, and a configuration mistake must not edit it.
func (h *HostKeys) writable() error {
	if h.File == "" {
		return api.Errorf(api.KindInternal, "no known_hosts file is configured")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return nil //nolint:nilerr // without a home there is no ~/.ssh/known_hosts to consult
	}
	abs, err := filepath.Abs(h.File)
	if err != nil {
		return nil //nolint:nilerr // no absolute path: it cannot be ~/.ssh/known_hosts
	}
	if rel, err := filepath.Rel(filepath.Join(home, ".ssh"), abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return api.Errorf(api.KindInternal, "refusing to write %s: cfgsnap records host keys in its data directory and never writes ~/.ssh (list that file as read-only instead)", h.File)
	}
	return nil
}

// Forget removes the entries for host:port from File, keeping every other
// line (comments, other hosts, markers), and returns how many keys it
// forgot. In a line that lists several hosts only this one is dropped.
// Hashed entries are matched too. The file is replaced atomically.
func (h *HostKeys) Forget(host string, port int) (int, error) {
	if host == "" {
		return 0, api.Errorf(api.KindBadRequest, "forget host key: no host given")
	}
	if port == 0 {
		port = 22
	}
	if port < 0 || port > 65535 {
		return 0, api.Errorf(api.KindBadRequest, "forget host key of %s: invalid port %d", host, port)
	}
	unlock, err := h.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()

	data, err := os.ReadFile(h.File)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, api.Wrap(api.KindStorage, err, "forget host key")
	}
	target := knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port)))
	out, n := forgetLines(data, target)
	if n == 0 {
		return 0, nil
	}
	if err := writeFileAtomic(h.File, out, 0o600); err != nil {
		return 0, api.Wrap(api.KindStorage, err, "forget host key")
	}
	return n, nil
}

func forgetLines(data []byte, target string) ([]byte, int) {
	var out bytes.Buffer
	n := 0
	lines := strings.SplitAfter(string(data), "\n")
	for _, raw := range lines {
		line := strings.TrimRight(raw, "\r\n")
		trimmed := strings.TrimLeft(line, " \t")
		// Markers (@revoked, @cert-authority) are policy, not a recorded
		// key: forgetting a device must never un-revoke a key.
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '@' {
			out.WriteString(raw)
			continue
		}
		hostsField, rest, ok := strings.Cut(trimmed, " ")
		if !ok {
			hostsField, rest, ok = strings.Cut(trimmed, "\t")
		}
		if !ok {
			out.WriteString(raw)
			continue
		}
		var kept []string
		hosts := strings.Split(hostsField, ",")
		for _, e := range hosts {
			if !entryMatches(e, target) {
				kept = append(kept, e)
			}
		}
		switch {
		case len(kept) == len(hosts):
			out.WriteString(raw)
		case len(kept) == 0:
			n++
		default:
			n++
			out.WriteString(strings.Join(kept, ",") + " " + rest + "\n")
		}
	}
	return out.Bytes(), n
}

// entryMatches compares one host entry of a known_hosts line with a
// normalised address, as knownhosts does: plain, [host]:port, or hashed.
// Wildcard and negated patterns are left alone, they name more than a host.
func entryMatches(entry, target string) bool {
	if strings.HasPrefix(entry, "|1|") {
		parts := strings.Split(entry[3:], "|")
		if len(parts) != 2 {
			return false
		}
		salt, err1 := base64.StdEncoding.DecodeString(parts[0])
		want, err2 := base64.StdEncoding.DecodeString(parts[1])
		if err1 != nil || err2 != nil {
			return false
		}
		mac := hmac.New(sha1.New, salt)
		mac.Write([]byte(target))
		return hmac.Equal(mac.Sum(nil), want)
	}
	if strings.ContainsAny(entry, "*?!") {
		return false
	}
	return knownhosts.Normalize(entry) == target
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, werr := tmp.Write(data)
	err = errors.Join(werr, tmp.Chmod(mode), tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// knownAlgorithms returns host key algorithms for the key types already
// recorded for hostname, so that the handshake asks the device for a key
// type we can verify: a device with RSA and ed25519 keys, recorded by
// OpenSSH as RSA, would otherwise present ed25519 and look like a mismatch.
func (h *HostKeys) knownAlgorithms(hostname string) []string {
	if h == nil || h.File == "" {
		return nil
	}
	_, probe, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	signer, err := ssh.NewSignerFromKey(probe)
	if err != nil {
		return nil
	}
	// A fresh random key matches nothing, so the files answer with every
	// key they hold for the host.
	res, err := h.check(h.files(), hostname, &net.TCPAddr{}, signer.PublicKey())
	if err != nil {
		return nil
	}
	var algos []string
	for _, w := range res.want {
		for _, a := range algorithmsForKeyType(w.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}
