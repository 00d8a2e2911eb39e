package tuiserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

// A user confined to acme cannot reach globex through the client, whatever
// request is crafted: nothing is listed, read, watched or backed up.
func TestConfinedClientRefusesOtherTenants(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	alice := &User{Name: "alice", Tenants: []string{"acme"}, Role: RoleOperator}
	c := Confine(e.client, alice, "alice@jump1", ratelimit.New(100))

	ts, err := c.Tenants(ctx)
	if err != nil || len(ts) != 1 || ts[0].ID != "acme" {
		t.Fatalf("tenants %v %v, want only acme", ts, err)
	}
	gdevs, err := e.client.Devices(ctx, "globex")
	if err != nil || len(gdevs) == 0 {
		t.Fatalf("globex devices: %v %v", gdevs, err)
	}
	dev := gdevs[0].ID
	rep, err := c.Backup(ctx, "globex", dev, client.BackupOptions{RequestedBy: "root@elsewhere"}, nil)
	if api.KindOf(err) != api.KindNotFound || rep.Status != api.StatusFailed {
		t.Fatalf("backup of globex/%s: %+v %v, want not_found", dev, rep, err)
	}
	if recs, _, err := e.client.History(ctx, "globex", dev, 5, ""); err != nil || len(recs) != 0 {
		t.Fatalf("a refused backup left history: %v %v", recs, err)
	}
	if _, err := c.Devices(ctx, "globex"); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("devices of globex: %v", err)
	}
	if _, _, err := c.History(ctx, "globex", dev, 5, ""); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("history of globex: %v", err)
	}
	if _, _, err := c.Snapshot(ctx, "globex", dev, "latest"); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("snapshot of globex: %v", err)
	}
	if _, err := c.WatchDevice(ctx, "globex", dev, func(client.Update) {}); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("watch globex device: %v", err)
	}
	if _, err := c.WatchSnapshots(ctx, "globex", nil); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("watch globex snapshots: %v", err)
	}
	// A nonexistent tenant reads the same as a forbidden one.
	_, errNone := c.Devices(ctx, "nosuch")
	_, errForbidden := c.Devices(ctx, "globex")
	if strings.Replace(errForbidden.Error(), "globex", "nosuch", 1) != errNone.Error() {
		t.Fatalf("a forbidden tenant is told apart from a missing one: %q vs %q", errForbidden, errNone)
	}
	// Crafted ids cannot slip through (wildcards, subject tokens).
	for _, bad := range []string{"*", ">", "acme.>", "", "globex "} {
		if _, err := c.Backup(ctx, bad, "core-rtr-1", client.BackupOptions{}, nil); err == nil {
			t.Fatalf("tenant %q accepted", bad)
		}
	}
	// Its own tenant works, and the requester is the session's user
	// whatever the caller said.
	rep, err = c.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{RequestedBy: "root@elsewhere"}, nil)
	if err != nil || rep.Status != api.StatusSuccess {
		t.Fatalf("backup of acme/core-rtr-1: %+v %v", rep, err)
	}
	recs, _, err := c.History(ctx, "acme", "core-rtr-1", 1, "")
	if err != nil || len(recs) != 1 || recs[0].RequestedBy != "alice@jump1" {
		t.Fatalf("history %+v %v, want one snapshot requested by alice@jump1", recs, err)
	}
}

func TestConfinedClientRoleAndRateLimit(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	vic := Confine(e.client, &User{Name: "vic", Tenants: []string{"*"}, Role: RoleViewer}, "vic@jump1", nil)
	if ts, err := vic.Tenants(ctx); err != nil || len(ts) != 3 {
		t.Fatalf("viewer with * sees %v %v", ts, err)
	}
	_, err := vic.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), "viewer") {
		t.Fatalf("viewer trigger: %v", err)
	}
	if err := vic.ForgetHostKey(ctx, "acme", "core-rtr-1"); err == nil {
		t.Fatal("a shared session forgot a host key")
	}

	lim := ratelimit.New(2)
	// Two sessions of one user share the budget.
	a1 := Confine(e.client, &User{Name: "alice", Tenants: []string{"acme"}, Role: RoleOperator}, "alice@jump1", lim)
	a2 := Confine(e.client, &User{Name: "alice", Tenants: []string{"acme"}, Role: RoleOperator}, "alice@jump1", lim)
	for i, c := range []*Confined{a1, a2} {
		if _, err := c.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil); err != nil {
			t.Fatalf("trigger %d: %v", i+1, err)
		}
	}
	rep, err := a1.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if api.KindOf(err) != api.KindRateLimited || rep.ErrorKind != api.KindRateLimited || !strings.Contains(rep.Error, "retry in") {
		t.Fatalf("third trigger: %+v %v, want rate_limited with when to retry", rep, err)
	}
}

func TestUsersFileProblemsAreReported(t *testing.T) {
	dir := t.TempDir()
	k := sshtest.AuthorizedLine(sshtest.NewPublicKey(t))
	kf := filepath.Join(dir, "bob.keys")
	if err := os.WriteFile(kf, []byte("# bob\n"+sshtest.AuthorizedLine(sshtest.NewPublicKey(t))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := "users:\n  - name: alice\n    keys: [\"" + k + "\"]\n    tenants: [acme]\n  - name: bob\n    keys_file: bob.keys\n    tenants: [\"*\"]\n    role: viewer\n"
	u, err := ParseUsers([]byte(good), filepath.Join(dir, "users.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != 2 || u.list[0].Role != RoleOperator {
		t.Fatalf("parsed %+v", u.list)
	}
	for name, doc := range map[string]string{
		"unknown field": "users:\n  - name: a\n    key: [x]\n    tenants: [acme]\n",
		"bad role":      "users:\n  - name: a\n    keys: [\"" + k + "\"]\n    tenants: [acme]\n    role: admin\n",
		"no tenants":    "users:\n  - name: a\n    keys: [\"" + k + "\"]\n",
		"no keys":       "users:\n  - name: a\n    tenants: [acme]\n",
		"bad key":       "users:\n  - name: a\n    keys: [\"ssh-ed25519 AAAAnot-a-key\"]\n    tenants: [acme]\n",
		"shared key":    "users:\n  - name: a\n    keys: [\"" + k + "\"]\n    tenants: [acme]\n  - name: b\n    keys: [\"" + k + "\"]\n    tenants: [acme]\n",
		"twice":         "users:\n  - name: a\n    keys: [\"" + k + "\"]\n    tenants: [acme]\n  - name: a\n    keys: [\"" + k + "\"]\n    tenants: [acme]\n",
		"bad name":      "users:\n  - name: \"a b\"\n    keys: [\"" + k + "\"]\n    tenants: [acme]\n",
		"missing file":  "users:\n  - name: a\n    keys_file: /nonexistent/keys\n    tenants: [acme]\n",
		"not yaml":      "users: [",
	} {
		if _, err := ParseUsers([]byte(doc), "users.yaml"); err == nil {
			t.Errorf("%s: accepted", name)
		} else if api.KindOf(err) != api.KindBadRequest {
			t.Errorf("%s: kind %s", name, api.KindOf(err))
		}
	}
}

// Fleet search, changes and pins from a served session stay inside the
// user's tenants, even though the service's own client sees every tenant;
// secrets are never asked for, and a viewer cannot pin.
func TestConfinedFleetQueriesAndPins(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	gdevs, err := e.client.Devices(ctx, "globex")
	if err != nil || len(gdevs) == 0 {
		t.Fatalf("globex devices: %v %v", gdevs, err)
	}
	for _, td := range [][2]string{{"acme", "core-rtr-1"}, {"globex", gdevs[0].ID}} {
		if rep, err := e.client.Backup(ctx, td[0], td[1], client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
			t.Fatalf("backup %s/%s: %+v %v", td[0], td[1], rep, err)
		}
	}
	alice := Confine(e.client, &User{Name: "alice", Tenants: []string{"acme"}, Role: RoleOperator}, "alice@jump1", nil)
	rep, err := alice.Search(ctx, api.SearchRequest{Pattern: "/system identity", Secrets: true})
	if err != nil || len(rep.Matches) == 0 {
		t.Fatalf("search: %+v %v", rep, err)
	}
	for _, m := range rep.Matches {
		if m.TenantID != "acme" {
			t.Fatalf("a confined search returned %s/%s", m.TenantID, m.DeviceID)
		}
	}
	if _, err := alice.Search(ctx, api.SearchRequest{Pattern: "x", TenantID: "globex"}); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("search of globex: %v, want not_found", err)
	}
	ch, err := alice.Changes(ctx, api.ChangesRequest{Since: time.Now().Add(-time.Hour)})
	if err != nil || len(ch.Changes) == 0 {
		t.Fatalf("changes: %+v %v", ch, err)
	}
	for _, c := range ch.Changes {
		if c.TenantID != "acme" {
			t.Fatalf("confined changes list %s/%s", c.TenantID, c.DeviceID)
		}
	}
	if _, err := alice.Pin(ctx, "globex", gdevs[0].ID, "latest", true, ""); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("pin in globex: %v, want not_found", err)
	}
	if rec, err := alice.Pin(ctx, "acme", "core-rtr-1", "latest", true, "before CHG-1"); err != nil || !rec.Pinned {
		t.Fatalf("operator pin: %+v %v", rec, err)
	}
	bob := Confine(e.client, &User{Name: "bob", Tenants: []string{"acme"}, Role: RoleViewer}, "bob@jump1", nil)
	if _, err := bob.Pin(ctx, "acme", "core-rtr-1", "latest", false, ""); err == nil || !strings.Contains(err.Error(), "viewer") {
		t.Fatalf("viewer pin: %v, want refused", err)
	}
}
