package service_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// TestSearchAndChangesOverNATS: search and changes answer per tenant on
// their subjects, merge over every tenant, mask secrets unless asked, and
// agree with the direct client on the same data dir.
func TestSearchAndChangesOverNATS(t *testing.T) {
	h := newHarness(t, devices(2))
	h.service(service.Config{})
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	for _, k := range [][2]string{{"acme", "core-rtr-1"}, {"acme", "dev-1"}, {"globex", "core-rtr-1"}, {"globex", "gx-edge-1"}} {
		if rep, err := r.Backup(ctx, k[0], k[1], client.BackupOptions{RequestedBy: "alice", Reason: "CHG-7"}, nil); err != nil || rep.Status != api.StatusSuccess {
			t.Fatalf("backup %v: %+v %v", k, rep, err)
		}
	}
	rep, err := r.Search(ctx, api.SearchRequest{Pattern: `^set name=`, Max: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rep.Matches {
		got = append(got, m.TenantID+"/"+m.DeviceID+":"+m.Menu+":"+m.Text)
	}
	want := []string{"acme/core-rtr-1:/system identity:set name=core-rtr-1", "acme/dev-1:/system identity:set name=dev-1",
		"globex/core-rtr-1:/system identity:set name=core-rtr-1", "globex/gx-edge-1:/system identity:set name=gx-edge-1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || rep.More || rep.Devices != 4 {
		t.Fatalf("identities over NATS:\n%s\nwant\n%s (%+v)", strings.Join(got, "\n"), strings.Join(want, "\n"), rep)
	}
	// One tenant, max and more.
	rep, err = r.Search(ctx, api.SearchRequest{Pattern: `^add `, TenantID: "globex", Max: 3})
	if err != nil || len(rep.Matches) != 3 || !rep.More || rep.Matches[0].TenantID != "globex" {
		t.Fatalf("globex, max 3: %+v %v", rep, err)
	}
	// Secrets: masked and not matched by default.
	rep, err = r.Search(ctx, api.SearchRequest{Pattern: `password=`, TenantID: "acme", Max: 1000})
	if err != nil || len(rep.Matches) == 0 {
		t.Fatalf("password= over NATS: %+v %v", rep, err)
	}
	for _, m := range rep.Matches {
		if !strings.Contains(m.Text, "password="+redact.Mask) {
			t.Errorf("unmasked: %s", m.Text)
		}
	}
	_, content, err := r.Snapshot(ctx, "acme", "core-rtr-1", "latest")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(content), "password=")
	secret := strings.Fields(string(content)[i+len("password="):])[0]
	if rep, err := r.Search(ctx, api.SearchRequest{Pattern: secret}); err != nil || len(rep.Matches) != 0 {
		t.Errorf("a secret's value matched without secrets: %+v %v", rep, err)
	}
	if rep, err := r.Search(ctx, api.SearchRequest{Pattern: secret, Secrets: true}); err != nil || len(rep.Matches) == 0 || !strings.Contains(rep.Matches[0].Text, secret) {
		t.Errorf("with secrets: %+v %v", rep, err)
	}
	// A bad pattern is a bad request from the service.
	if _, err := r.Search(ctx, api.SearchRequest{Pattern: `(`, TenantID: "acme"}); api.KindOf(err) != api.KindBadRequest || !strings.Contains(err.Error(), "invalid pattern") {
		t.Errorf("bad pattern: %v", err)
	}
	if _, err := r.Search(ctx, api.SearchRequest{Pattern: `x`, TenantID: "nope"}); api.KindOf(err) != api.KindNotFound {
		t.Errorf("unknown tenant: %v", err)
	}

	// Changes: every first backup is a new device, newest first.
	ch, err := r.Changes(ctx, api.ChangesRequest{Since: time.Now().Add(-time.Hour)})
	if err != nil || len(ch.Changes) != 4 {
		t.Fatalf("changes: %+v %v", ch, err)
	}
	for i, c := range ch.Changes {
		if c.Kind != api.ChangeNew || c.RequestedBy != "alice" || c.Reason != "CHG-7" || (i > 0 && c.CollectedAt.After(ch.Changes[i-1].CollectedAt)) {
			t.Errorf("change %d: %+v", i, c)
		}
	}
	if err := h.fleet.Drift("acme", "dev-1"); err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Backup(ctx, "acme", "dev-1", client.BackupOptions{RequestedBy: "bob", Reason: "CHG-8"}, nil); err != nil || !rep.IsChanged() {
		t.Fatalf("backup after drift: %+v %v", rep, err)
	}
	ch, err = r.Changes(ctx, api.ChangesRequest{Since: time.Now().Add(-time.Hour), TenantID: "acme"})
	if err != nil || len(ch.Changes) != 3 {
		t.Fatalf("acme changes: %+v %v", ch, err)
	}
	if c := ch.Changes[0]; c.DeviceID != "dev-1" || c.Kind != api.ChangeChanged || c.Added == 0 || c.Removed == 0 || c.RequestedBy != "bob" || c.Reason != "CHG-8" {
		t.Errorf("the drift: %+v", c)
	}

	// The direct client on the same data dir answers the same.
	d := client.NewDirect(h.stack())
	drep, err := d.Search(ctx, api.SearchRequest{Pattern: `^set name=`, Max: 100})
	if err != nil || len(drep.Matches) != 4 {
		t.Fatalf("direct: %+v %v", drep, err)
	}
	dch, err := d.Changes(ctx, api.ChangesRequest{Since: time.Now().Add(-time.Hour), TenantID: "acme"})
	if err != nil || len(dch.Changes) != 3 || dch.Changes[0] != ch.Changes[0] {
		t.Fatalf("direct changes: %+v %v", dch, err)
	}
}

// TestSearchTenantPermissions: with one NATS user per tenant
// (examples/nats-tenants.conf) acme's user searches acme only and is told
// plainly that it may not search globex.
func TestSearchTenantPermissions(t *testing.T) {
	h := newHarnessWith(t, devices(1), natsserver.Options{Listen: "127.0.0.1:0", ConfigFile: tenantsConf})
	h.service(service.Config{Conn: h.conn(nats.UserInfo("cfgsnap-service", "service-demo-password"))})
	ctx := context.Background()
	// bcrypt makes a password login slow (more so under -race): dial with
	// the client's own timeout rather than nats.go's 2 s default.
	dial := func(user, inbox string) *client.Remote {
		t.Helper()
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		nc, err := client.DialNATS(dctx, h.ns.URL(), client.NATSOptions{User: user, Password: user + "-demo-password", InboxPrefix: inbox})
		if err != nil {
			t.Fatal(err)
		}
		r := client.NewRemote(nc, "", client.RemoteOptions{})
		t.Cleanup(func() { r.Close() })
		return r
	}
	admin := dial("admin", "")
	for _, k := range [][2]string{{"acme", "core-rtr-1"}, {"globex", "core-rtr-1"}} {
		if rep, err := admin.Backup(ctx, k[0], k[1], client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
			t.Fatalf("backup %v: %+v %v", k, rep, err)
		}
	}
	acme := dial("acme", "_INBOX_acme")

	rep, err := acme.Search(ctx, api.SearchRequest{Pattern: `^set name=core-rtr-1$`, TenantID: "acme"})
	if err != nil || len(rep.Matches) != 1 || rep.Matches[0].TenantID != "acme" {
		t.Fatalf("acme searching acme: %+v %v", rep, err)
	}
	const want = "not allowed: your NATS user may not use tenant globex"
	start := time.Now()
	if _, err := acme.Search(ctx, api.SearchRequest{Pattern: `core`, TenantID: "globex"}); err == nil || err.Error() != want || api.KindOf(err) != api.KindBadRequest {
		t.Errorf("acme searching globex: %v", err)
	}
	if _, err := acme.Changes(ctx, api.ChangesRequest{Since: time.Now().Add(-time.Hour), TenantID: "globex"}); err == nil || err.Error() != want {
		t.Errorf("acme's changes of globex: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("refused after %s; the refusal should be immediate", d)
	}
	// Without --tenant acme cannot list the tenants, and is told to name one.
	if _, err := acme.Search(ctx, api.SearchRequest{Pattern: `core`}); err == nil || !strings.Contains(err.Error(), "--tenant") {
		t.Errorf("acme searching every tenant: %v", err)
	}
	ch, err := acme.Changes(ctx, api.ChangesRequest{Since: time.Now().Add(-time.Hour), TenantID: "acme"})
	if err != nil || len(ch.Changes) != 1 || ch.Changes[0].TenantID != "acme" {
		t.Errorf("acme's changes: %+v %v", ch, err)
	}
	// The admin sees both tenants.
	if rep, err := admin.Search(ctx, api.SearchRequest{Pattern: `^set name=core-rtr-1$`}); err != nil || len(rep.Matches) != 2 {
		t.Errorf("admin: %+v %v", rep, err)
	}
}

// logLines collects a service's log lines, one per Write.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default: // a full buffer drops lines rather than block the service
	}
	return len(p), nil
}

// TestServiceWarmsSearchAtStart: a service builds the search index from
// the stored configurations when it starts, before any search asks, so the
// first search over NATS is a warm one.
func TestServiceWarmsSearchAtStart(t *testing.T) {
	h := newHarness(t, devices(1))
	h.service(service.Config{})
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	for _, k := range [][2]string{{"acme", "core-rtr-1"}, {"globex", "core-rtr-1"}} {
		if rep, err := r.Backup(ctx, k[0], k[1], client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
			t.Fatalf("backup %v: %+v %v", k, rep, err)
		}
	}
	logs := make(logLines, 64)
	h.service(service.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-logs:
			if !strings.Contains(l, `msg="search index warm"`) {
				continue
			}
			if !strings.Contains(l, "configurations=2 ") {
				t.Fatalf("warmed with the wrong configurations: %s", l)
			}
			return
		case <-deadline:
			t.Fatal("the second service did not warm its search index within 20 s")
		}
	}
}
