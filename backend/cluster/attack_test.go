package cluster

import (
	"bytes"
	"context"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// TestReplyAttacksOnTheExampleCluster replays issue 11's attack on the
// example cluster (its users and permissions) with the service storing on
// JetStream: as acme, requests on acme's subjects whose reply subject is
// globex's history subject, its lock key, the JetStream API, globex's inbox
// or progress. Nothing is published there, globex's history and lock do
// not change, and the service keeps serving both tenants (which also shows
// it works under the example's narrowed permissions: triggers, locks,
// history, content reads).
func TestReplyAttacksOnTheExampleCluster(t *testing.T) {
	ex, ca := exampleCluster(t, true)
	_, inv := startFleet(t, []devicesim.Spec{
		{Tenant: "acme", ID: "core-rtr-1", Version: "7.16.2", SizeBytes: 3 << 10},
		{Tenant: "globex", ID: "core-rtr-1", Version: "6.49.13", SizeBytes: 3 << 10},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	user := func(name string) nats.Option {
		pw := strings.TrimPrefix(name, "cfgsnap-") + "-demo-password"
		return nats.UserInfo(name, pw)
	}
	logs := &natstest.LogBuffer{}
	m := metrics.New()
	var violations []string
	var vmu sync.Mutex
	snc := ex.Connect(t, ex.URL(), nats.RootCAs(ca), user("cfgsnap-service"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			vmu.Lock()
			violations = append(violations, err.Error())
			vmu.Unlock()
		}))
	if _, err := startServiceWith(ctx, snc, workerSpec{Inventory: inv, DataDir: t.TempDir(), Name: "svc@test",
		LockTTL: 10 * time.Second}, func(c *service.Config) {
		c.Metrics, c.Logger = m, slog.New(slog.NewTextHandler(logs, nil))
		c.TenantInboxPrefixes = map[string][]string{"acme": {"_INBOX_acme"}, "globex": {"_INBOX_globex"}}
	}); err != nil {
		t.Fatal(err)
	}
	parts, err := Open(ctx, jetStream(t, ex.Connect(t, ex.URL(), nats.RootCAs(ca), user("admin"))), Options{Replicas: 3, Keys: testKeys()})
	if err != nil {
		t.Fatal(err)
	}
	remote := func(name string) *client.Remote {
		nc := ex.Connect(t, ex.NodeURL(1), nats.RootCAs(ca), user(name), nats.CustomInboxPrefix("_INBOX_"+name))
		return client.NewRemote(nc, "", client.RemoteOptions{})
	}
	acme, globex := remote("acme"), remote("globex")
	for _, c := range []struct {
		r      *client.Remote
		tenant string
	}{{acme, "acme"}, {globex, "globex"}} {
		r, err := c.r.Backup(ctx, c.tenant, "core-rtr-1", client.BackupOptions{}, nil)
		if err != nil || r.Status != api.StatusSuccess {
			t.Fatalf("%s backs up its device under the example's permissions: %+v %v\n%s", c.tenant, r, err, logs.String())
		}
		if rec, content, err := c.r.Snapshot(ctx, c.tenant, "core-rtr-1", "latest"); err != nil || rec.SnapshotID != r.SnapshotID || len(content) == 0 {
			t.Fatalf("%s reads its snapshot back: %+v %d bytes %v", c.tenant, rec, len(content), err)
		}
	}
	before, _, err := parts.Store.History(ctx, "globex", "core-rtr-1", 50, "")
	if err != nil || len(before) != 1 {
		t.Fatalf("globex history: %v %v", before, err)
	}

	admin := ex.Connect(t, ex.NodeURL(2), nats.RootCAs(ca), user("admin"))
	var mu sync.Mutex
	var seen []*nats.Msg
	if _, err := admin.Subscribe(">", func(m *nats.Msg) { mu.Lock(); seen = append(seen, m); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	raw := ex.Connect(t, ex.NodeURL(0), nats.RootCAs(ca), user("acme"), nats.CustomInboxPrefix("_INBOX_acme"))
	targets := []string{
		"cfgsnap.history.globex.core-rtr-1",
		"$KV.cfgsnap_locks.globex.core-rtr-1",
		"$KV.cfgsnap_errors.globex.core-rtr-1",
		"$JS.API.STREAM.PURGE.CFGSNAP_HISTORY",
		"$O.cfgsnap_content.M.x",
		"_INBOX_globex.steal",
		"cfgsnap.backup.progress.globex.core-rtr-1",
	}
	requests := map[string]string{
		"cfgsnap.snapshot.get.acme":   `{"device_id":"core-rtr-1","sha256_hash":"latest"}`,
		"cfgsnap.snapshot.list.acme":  `{"device_id":"core-rtr-1"}`,
		"cfgsnap.backup.trigger.acme": `{"device_id":"core-rtr-1"}`,
	}
	for _, reply := range targets {
		for subj, body := range requests {
			if err := raw.PublishRequest(subj, reply, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	mu.Lock()
	for _, m := range seen {
		if _, ok := requests[m.Subject]; ok {
			continue // the attacker's own requests
		}
		if strings.HasPrefix(m.Subject, "$JS.API.") && !strings.HasPrefix(m.Subject, "$JS.API.STREAM.PURGE") || strings.HasPrefix(m.Subject, "_INBOX.") {
			continue // the service's and admin's own JetStream traffic
		}
		t.Errorf("published outside an inbox: %s: %.100s", m.Subject, m.Data)
	}
	mu.Unlock()

	after, _, err := parts.Store.History(ctx, "globex", "core-rtr-1", 50, "")
	if err != nil || len(after) != 1 || after[0].SnapshotID != before[0].SnapshotID {
		t.Errorf("globex's history changed: %v %v", after, err)
	}
	if h, err := parts.Locker.Holder(ctx, lock.Key("globex", "core-rtr-1")); err != nil || h != nil {
		t.Errorf("globex's lock: %+v %v", h, err)
	}
	if parts.Store.Skipped() != 0 || parts.Locker.Skipped() != 0 {
		t.Errorf("something reached the stores: %d history, %d lock entries skipped", parts.Store.Skipped(), parts.Locker.Skipped())
	}
	var prom bytes.Buffer
	_ = m.WritePrometheus(&prom)
	if !strings.Contains(prom.String(), `cfgsnap_replies_refused_total{reason="not_inbox"} 18`) ||
		!strings.Contains(prom.String(), `cfgsnap_replies_refused_total{reason="tenant_inbox"} 3`) {
		t.Errorf("refusals not counted:\n%s", prom.String())
	}
	// Both tenants still work.
	if r, err := globex.Backup(ctx, "globex", "core-rtr-1", client.BackupOptions{}, nil); err != nil || r.Status != api.StatusSuccess {
		t.Errorf("globex after the attacks: %+v %v", r, err)
	}
	// The example's narrowed permissions cover all the service does.
	vmu.Lock()
	defer vmu.Unlock()
	if len(violations) > 0 {
		t.Errorf("the service hit its permissions: %v", violations)
	}
}
