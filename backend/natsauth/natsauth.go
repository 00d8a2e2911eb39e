// Package natsauth keeps the credentials of the NATS server that
// `cfgsnap serve` embeds: an nkey for the service itself, the public keys of
// the clients allowed in, and the client seed files the CLI and TUI find
// without flags. The embedded server accepts only these keys, each with the
// subjects its role needs, so another local user reads nothing without a
// credential the operator gave them.
//
// Files (directories 0700, files 0600; seeds that others can read are
// refused):
//
//	DATA_DIR/nats-auth/service.nk   the service's seed
//	DATA_DIR/nats-auth/clients      allowed client public keys, "UKEY name" a line
//	$XDG_CONFIG_HOME/cfgsnap/client.nk  a user's client seed, "# url: ..." names the server
package natsauth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/api"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// File names.
const (
	DirName         = "nats-auth"
	ServiceSeedName = "service.nk"
	ClientsName     = "clients"
	ClientSeedName  = "client.nk"
)

// ClientSeedPath is where a user's client seed lives under configHome (the
// XDG config dir): the CLI looks there when no credential flag is given.
func ClientSeedPath(configHome string) string {
	return filepath.Join(configHome, "cfgsnap", ClientSeedName)
}

// Dir is the embedded server's credential directory in dataDir.
func Dir(dataDir string) string { return filepath.Join(dataDir, DirName) }

// Client is one allowed client key.
type Client struct {
	PublicKey string
	Name      string
}

// Embedded is the authentication of one embedded server.
type Embedded struct {
	// ServiceSeed is the service's seed file; the service connects with it.
	ServiceSeed string
	// ClientsFile lists the allowed client public keys.
	ClientsFile string
	// ClientSeed is the seed file written for the OS user running serve.
	ClientSeed string
	// Clients are the keys of ClientsFile.
	Clients []Client

	servicePub string
}

// Prepare creates what is missing and reads the rest: the service seed, the
// owner's client seed at clientSeed (its "# url:" line set to url) and the
// clients file, to which the owner's key is added under the name owner.
func Prepare(dataDir, clientSeed, url, owner string) (*Embedded, error) {
	dir := Dir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nats credentials dir: %w", err)
	}
	e := &Embedded{ServiceSeed: filepath.Join(dir, ServiceSeedName), ClientsFile: filepath.Join(dir, ClientsName), ClientSeed: clientSeed}
	pub, err := ensureSeed(e.ServiceSeed, "# cfgsnap: the backup service's NATS nkey seed (the embedded server's service user). Keep it private.\n")
	if err != nil {
		return nil, err
	}
	e.servicePub = pub
	clientPub, err := EnsureClientSeed(clientSeed, url, fmt.Sprintf("written by `cfgsnap serve` for %s", owner))
	if err != nil {
		return nil, err
	}
	if err := Allow(e.ClientsFile, clientPub, owner); err != nil {
		return nil, err
	}
	if err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload re-reads the clients file (after the operator added a key).
func (e *Embedded) Reload() error {
	clients, err := ReadClients(e.ClientsFile)
	if err != nil {
		return err
	}
	e.Clients = clients
	return nil
}

// Users are the server's nkey users: the service with ServicePermissions,
// every client with ClientPermissions. inboxPrefix is the service's custom
// inbox prefix, if any.
func (e *Embedded) Users(prefix, inboxPrefix string) []*server.NkeyUser {
	users := []*server.NkeyUser{{Nkey: e.servicePub, Permissions: ServicePermissions(prefix, inboxPrefix)}}
	for _, c := range e.Clients {
		if c.PublicKey == e.servicePub {
			continue // the service key never gets client rights as well
		}
		users = append(users, &server.NkeyUser{Nkey: c.PublicKey, Permissions: ClientPermissions(prefix, c.PublicKey)})
	}
	return users
}

// ServicePermissions let the service answer on its subjects, run its
// JetStream store and lock, and reply to inboxes; nothing else.
func ServicePermissions(prefix, inboxPrefix string) *server.Permissions {
	if prefix == "" {
		prefix = "cfgsnap"
	}
	inboxes := []string{"_INBOX.>"}
	if inboxPrefix != "" {
		inboxes = append(inboxes, inboxPrefix+".>")
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: append([]string{prefix + ".>",
			"$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.>", "$O.>"}, inboxes...)},
		Subscribe: &server.SubjectPermission{Allow: append([]string{prefix + ".>", "config.backup.trigger",
			"$SRV.>"}, inboxes...)},
	}
}

// ClientPermissions let a client send the service's requests, watch
// progress and new snapshots, list the service ($SRV) and read its own
// replies, under api.NKeyInbox(pub) only (not all of _INBOX, where it
// could read the snapshots sent to others); it cannot answer requests,
// publish events or reach JetStream.
func ClientPermissions(prefix, pub string) *server.Permissions {
	if prefix == "" {
		prefix = "cfgsnap"
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			prefix + ".backup.trigger.*", prefix + ".inventory.tenants", prefix + ".inventory.devices.*",
			prefix + ".snapshot.list.*", prefix + ".snapshot.get.*", "config.backup.trigger",
			prefix + ".search.*", prefix + ".changes.*",
			"$SRV.PING", "$SRV.PING.>", "$SRV.INFO", "$SRV.INFO.>", "$SRV.STATS", "$SRV.STATS.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{api.NKeyInbox(pub) + ".>",
			prefix + ".backup.progress.>", prefix + ".snapshot.created.>"}},
	}
}

// NewClientSeed creates a new client seed at path (refusing to replace one)
// and returns its public key.
func NewClientSeed(path, url, comment string) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", fmt.Errorf("new nkey: %w", err)
	}
	defer kp.Wipe()
	if err := writeSeed(path, clientHeader(url, comment), kp, false); err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// EnsureClientSeed reads the client seed at path, creating it when
// missing; its "# url:" line is rewritten when it names another server.
func EnsureClientSeed(path, url, comment string) (string, error) {
	pub, oldURL, err := ReadClientSeed(path)
	if errors.Is(err, fs.ErrNotExist) {
		if pub, err = NewClientSeed(path, url, comment); err == nil || !errors.Is(err, fs.ErrExist) {
			return pub, err
		}
		pub, oldURL, err = ReadClientSeed(path) // another process made it first
	}
	if err != nil {
		return "", err
	}
	if url == "" || oldURL == url {
		return pub, nil
	}
	kp, err := readSeed(path)
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	return pub, writeSeed(path, clientHeader(url, comment), kp, true)
}

func clientHeader(url, comment string) string {
	h := "# cfgsnap: a NATS client credential (nkey seed). Keep it private: anyone who reads it can use the backup service.\n"
	if comment != "" {
		h += "# " + comment + "\n"
	}
	if url != "" {
		h += "# url: " + url + "\n"
	}
	return h
}

// ReadClientSeed reads a client seed file: its public key and the server
// its "# url:" line names ("" if none).
func ReadClientSeed(path string) (pub, url string, err error) {
	kp, err := readSeed(path)
	if err != nil {
		return "", "", err
	}
	defer kp.Wipe()
	if pub, err = kp.PublicKey(); err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return "", "", fmt.Errorf("%s: not a NATS user seed (it must start with SU)", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	defer clear(b)
	for line := range strings.Lines(string(b)) {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "# url:"); ok {
			url = strings.TrimSpace(u)
		}
	}
	return pub, url, nil
}

// readSeed reads a seed file that only its owner can read.
func readSeed(path string) (nkeys.KeyPair, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is mode %04o: a credential must be readable by its owner only (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: no nkey seed in it: %w", path, err)
	}
	return kp, nil
}

// ensureSeed reads the user seed at path, creating it when missing.
func ensureSeed(path, header string) (string, error) {
	kp, err := readSeed(path)
	if errors.Is(err, fs.ErrNotExist) {
		if kp, err = nkeys.CreateUser(); err != nil {
			return "", fmt.Errorf("new nkey: %w", err)
		}
		if err = writeSeed(path, header, kp, false); errors.Is(err, fs.ErrExist) {
			kp.Wipe()
			kp, err = readSeed(path)
		}
	}
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

// writeSeed writes header and kp's seed to path, 0600 in a 0700 dir, by a
// rename (replace) or a link that fails when path exists, so a reader never
// sees half a file and two first starts never make two keys.
func writeSeed(path, header string, kp nkeys.KeyPair, replace bool) error {
	seed, err := kp.Seed()
	if err != nil {
		return fmt.Errorf("nkey seed: %w", err)
	}
	// seed is kp's own storage: kp.Wipe clears it, the copy in buf is
	// cleared here.
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credential dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".nk-*")
	if err != nil {
		return fmt.Errorf("write credential: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	buf := append([]byte(header), seed...)
	buf = append(buf, '\n')
	defer clear(buf)
	_, werr := f.Write(buf)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write credential %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write credential %s: %w", path, err)
	}
	return nil
}

// ReadClients reads a clients file: one user public key a line, optionally
// followed by a name; '#' starts a comment. A bad line is an error naming
// file:line, and so is a file others may write to.
func ReadClients(path string) ([]Client, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s is mode %04o: only its owner may change who is allowed in (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Client
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !nkeys.IsValidPublicUserKey(fields[0]) {
			problems = append(problems, fmt.Sprintf("%s:%d: %q is not a NATS user public key (U followed by 55 characters; `cfgsnap credential new` prints one)", path, n, trunc(fields[0])))
			continue
		}
		out = append(out, Client{PublicKey: fields[0], Name: strings.Join(fields[1:], " ")})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return out, nil
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Allow adds a client public key to the clients file (created 0600) unless
// it is there already.
func Allow(path, pub, name string) error {
	if !nkeys.IsValidPublicUserKey(pub) {
		return fmt.Errorf("%q is not a NATS user public key (U followed by 55 characters)", trunc(pub))
	}
	if strings.ContainsAny(name, "\n\r#") {
		return fmt.Errorf("name %q: no line breaks or '#'", name)
	}
	clients, err := ReadClients(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, c := range clients {
		if c.PublicKey == pub {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("credentials dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("clients file: %w", err)
	}
	line := pub
	if name != "" {
		line += " " + name
	}
	_, werr := fmt.Fprintln(f, line)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("clients file %s: %w", path, err)
	}
	return nil
}
