package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
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
