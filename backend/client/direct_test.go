package client_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
)

// The TUI's ssh key uses the inventory's login and the known_hosts files
// the backups trust, never another tenant's device.
func TestShellLoginComesFromTheInventory(t *testing.T) {
	dir := t.TempDir()
	inv := &inventory.Inventory{Tenants: []inventory.Tenant{
		{ID: "acme", Devices: []inventory.Device{{ID: "r1", TenantID: "acme", Host: "127.0.0.1", Port: 2222, Username: "backup"}}},
		{ID: "globex", Devices: []inventory.Device{{ID: "r9", TenantID: "globex", Host: "127.0.0.9", Port: 22, Username: "gx"}}},
	}}
	st, err := local.Open(context.Background(), local.Options{DataDir: dir, Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := client.NewDirect(st)
	l, err := d.ShellLogin("acme", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if l.Host != "127.0.0.1" || l.Port != 2222 || l.User != "backup" {
		t.Fatalf("login %+v", l)
	}
	if len(l.KnownHosts) == 0 || l.KnownHosts[0] != filepath.Join(dir, "known_hosts") {
		t.Fatalf("known_hosts %q, want the data dir's first", l.KnownHosts)
	}
	if _, err := d.ShellLogin("acme", "r9"); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("another tenant's device: %v", err)
	}
}
