package service_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// tenantsConf is the example server configuration with one user per
// tenant; the test runs it as shipped, on a free port.
const tenantsConf = "../../examples/nats-tenants.conf"

// plainPasswords returns the example configuration at path with its bcrypt
// hashes replaced by the demo passwords they hash, written to a temporary
// file: the users and permissions are the shipped ones, but a connection
// does not spend seconds in bcrypt on a busy machine under -race (the
// server then pings before the client's handshake ends, and it fails).
func plainPasswords(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`user: ([a-z-]+), password: "\$2a\$[^"]+"`)
	out := re.ReplaceAllStringFunc(string(b), func(m string) string {
		user := re.FindStringSubmatch(m)[1]
		pw := strings.TrimPrefix(user, "cfgsnap-") + "-demo-password"
		if err := bcrypt.CompareHashAndPassword([]byte(m[strings.Index(m, `"`)+1:len(m)-1]), []byte(pw)); err != nil {
			t.Fatalf("%s: the hash of %s is not that of %q: %v", path, user, pw, err)
		}
		return fmt.Sprintf("user: %s, password: %q", user, pw)
	})
	if n := len(re.FindAllString(string(b), -1)); n < 3 {
		t.Fatalf("%s: found %d bcrypt users", path, n)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTenantPermissionsConfig(t *testing.T) {
	h := newHarnessWith(t, devices(1), natsserver.Options{Listen: "127.0.0.1:0", ConfigFile: plainPasswords(t, tenantsConf)})
	h.service(service.Config{Conn: h.conn(nats.UserInfo("cfgsnap-service", "service-demo-password"))})
	ctx := context.Background()
	dial := func(user, inboxPrefix string) *client.Remote {
		t.Helper()
		nc, err := client.DialNATS(ctx, h.ns.URL(), client.NATSOptions{User: user, Password: user + "-demo-password", InboxPrefix: inboxPrefix})
		if err != nil {
			t.Fatal(err)
		}
		r := client.NewRemote(nc, "", client.RemoteOptions{})
		t.Cleanup(func() { r.Close() })
		return r
	}
	acme := dial("acme", "_INBOX_acme")
	globex := dial("globex", "_INBOX_globex")

	// Each tenant works on its own devices.
	if rep, err := acme.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
		t.Fatalf("acme backs up acme/core-rtr-1: %+v %v", rep, err)
	}
	if _, _, err := acme.History(ctx, "acme", "core-rtr-1", 5, ""); err != nil {
		t.Fatalf("acme reads its history: %v", err)
	}
	if _, _, err := globex.History(ctx, "globex", "core-rtr-1", 5, ""); err != nil {
		t.Fatalf("globex reads its history: %v", err)
	}

	// acme may neither trigger nor read globex, and is told so in plain
	// words at once rather than after a timeout.
	const want = "not allowed: your NATS user may not use tenant globex"
	checks := map[string]func() error{
		"backup": func() error {
			_, err := acme.Backup(ctx, "globex", "core-rtr-1", client.BackupOptions{}, nil)
			return err
		},
		"history": func() error { _, _, err := acme.History(ctx, "globex", "core-rtr-1", 5, ""); return err },
		"show":    func() error { _, _, err := acme.Snapshot(ctx, "globex", "core-rtr-1", "latest"); return err },
		"devices": func() error { _, err := acme.Devices(ctx, "globex"); return err },
		"watch device": func() error {
			_, err := acme.WatchDevice(ctx, "globex", "core-rtr-1", func(client.Update) {})
			return err
		},
		"watch snapshots": func() error {
			_, err := acme.WatchSnapshots(ctx, "globex", func(api.SnapshotRecord) {})
			return err
		},
	}
	for name, f := range checks {
		start := time.Now()
		err := f()
		if err == nil || err.Error() != want || api.KindOf(err) != api.KindBadRequest {
			t.Errorf("%s of globex as acme: %v (kind %s), want %q", name, err, api.KindOf(err), want)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: refused after %s; the refusal should be immediate", name, d)
		}
	}
	if _, err := acme.Tenants(ctx); err == nil || !strings.HasPrefix(err.Error(), "not allowed: your NATS user may not list the tenants") {
		t.Errorf("tenant list as acme: %v", err)
	}

	// Nor can acme read other tenants' replies or use the compat subject,
	// whose tenant the server cannot check.
	raw, err := nats.Connect(h.ns.URL(), nats.UserInfo("acme", "acme-demo-password"), nats.PermissionErrOnSubscribe(true))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sniff, err := raw.SubscribeSync("_INBOX_globex.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sniff.NextMsg(2 * time.Second); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("acme subscribing to globex's inboxes: %v, want a permissions violation", err)
	}
	if _, err := raw.Request(api.CompatTriggerSubject, []byte(`{"device_id":"core-rtr-1","tenant_id":"globex"}`), time.Second); err == nil {
		t.Error("acme could use config.backup.trigger")
	}

	// A user left on the default inbox prefix is told what to change.
	plain := dial("acme", "")
	_, err = plain.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), "--inbox-prefix") {
		t.Errorf("acme with the default inbox prefix: %v", err)
	}

	// A wrong password is a configuration error, not an unreachable service.
	_, err = client.DialNATS(ctx, h.ns.URL(), client.NATSOptions{User: "acme", Password: "wrong"})
	if api.KindOf(err) != api.KindBadRequest || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("wrong password: %v (kind %s)", err, api.KindOf(err))
	}
}
