package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// A tenant over its trigger budget is answered rate_limited with when to
// retry; another tenant keeps its own budget.
func TestTenantTriggerBudget(t *testing.T) {
	h := newHarness(t, devices(2))
	h.service(service.Config{TriggerLimit: ratelimit.New(2)})
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	for _, d := range []string{"core-rtr-1", "dev-1"} {
		if rep, err := r.Backup(ctx, "acme", d, client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
			t.Fatalf("acme/%s: %+v %v", d, rep, err)
		}
	}
	rep, _ := r.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if rep.ErrorKind != api.KindRateLimited || !strings.Contains(rep.Error, "tenant acme") || !strings.Contains(rep.Error, "retry in") {
		t.Fatalf("third acme trigger: %+v, want rate_limited naming the tenant and when to retry", rep)
	}
	if rep, err := r.Backup(ctx, "globex", "core-rtr-1", client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
		t.Fatalf("globex: %+v %v", rep, err)
	}
}

// The example configuration's acme-viewer may read acme, never trigger.
func TestTenantsConfViewerCannotTrigger(t *testing.T) {
	h := newHarnessWith(t, devices(1), natsserver.Options{Listen: "127.0.0.1:0", ConfigFile: tenantsConf})
	// As the example's comment runs the service: the viewer's own inbox
	// prefix is one of acme's.
	h.service(service.Config{Conn: h.conn(nats.UserInfo("cfgsnap-service", "service-demo-password")),
		TenantInboxPrefixes: map[string][]string{"acme": {"_INBOX_acme", "_INBOX_acme-viewer"}}})
	ctx := context.Background()
	nc, err := client.DialNATS(ctx, h.ns.URL(), client.NATSOptions{User: "acme-viewer", Password: "acme-viewer-demo-password", InboxPrefix: "_INBOX_acme-viewer"})
	if err != nil {
		t.Fatal(err)
	}
	v := client.NewRemote(nc, "", client.RemoteOptions{})
	defer v.Close()
	if _, _, err := v.History(ctx, "acme", "core-rtr-1", 5, ""); err != nil {
		t.Fatalf("viewer reads acme history: %v", err)
	}
	if _, err := v.Devices(ctx, "acme"); err != nil {
		t.Fatalf("viewer lists acme devices: %v", err)
	}
	if _, err := v.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("viewer trigger: %v, want not allowed", err)
	}
}
