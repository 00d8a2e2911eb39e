package ui

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// TestFlowOnRealStack runs the TUI under teatest on the real parts, in this
// process: an embedded NATS server, the backup service on a SQLite store,
// the simulated fleet over loopback SSH, and the remote client. A person
// opens it, backs up core-rtr-1 and sees the hash the store recorded; then
// backs up a device another requester holds and sees the lock.
func TestFlowOnRealStack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	slow := devicesim.Spec{Tenant: "acme", ID: "slow-rtr-1", Version: "7.16.2", SizeBytes: 8 << 10, Seed: 2,
		Fault: devicesim.FaultSlowOutput, BytesPerSecond: 3 << 10}
	fleet, err := devicesim.Start(ctx, devicesim.Config{}, []devicesim.Spec{
		{Tenant: "acme", ID: "core-rtr-1", Version: "7.16.2", SizeBytes: 8 << 10, Seed: 1}, slow})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	invPath := filepath.Join(dir, "inventory.yaml")
	if err := fleet.WriteInventory(invPath); err != nil {
		t.Fatal(err)
	}
	stack, err := local.Open(ctx, local.Options{DataDir: filepath.Join(dir, "data"), InventoryPath: invPath, Holder: "other@jump2"})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	srv, err := natsserver.Start(ctx, natsserver.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	svcConn, err := client.DialNATS(ctx, srv.URL(), client.NATSOptions{Name: "service"})
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Config{Conn: svcConn, Stack: stack})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Shutdown(context.Background())
	uiConn, err := client.DialNATS(ctx, srv.URL(), client.NATSOptions{Name: "tui"})
	if err != nil {
		t.Fatal(err)
	}
	remote := client.NewRemote(uiConn, "", client.RemoteOptions{})
	defer remote.Close()

	raw, err := fleet.Export("acme", "core-rtr-1", true)
	if err != nil {
		t.Fatal(err)
	}
	want := routeros.Hash(routeros.Normalize(raw))

	tm := teatest.NewTestModel(t, New(Options{Client: remote, User: "ops@jump1", NoColor: true}),
		teatest.WithInitialTermSize(120, 35))
	waitFor := func(what string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
			teatest.WithDuration(20*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	waitFor("slow-rtr-1")
	// core-rtr-1 sorts first and is selected: back it up.
	tm.Send(tea.KeyPressMsg{Code: 'b', Text: "b"})
	waitFor(want)
	rec, err := stack.Store.Latest(ctx, "acme", "core-rtr-1")
	if err != nil || rec == nil || rec.SHA256 != want || rec.RequestedBy != "ops@jump1" {
		t.Fatalf("the store recorded %+v (%v), the screen showed %s", rec, err, want)
	}

	// Someone else backs up the slow device; the TUI tries too.
	other := make(chan api.TriggerReply, 1)
	go func() {
		r, _ := remote.Backup(ctx, "acme", "slow-rtr-1", client.BackupOptions{RequestedBy: "other@jump2"}, nil)
		other <- r
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h, _ := stack.Locker.Holder(ctx, "acme/slow-rtr-1"); h != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other backup never took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tm.Send(tea.KeyPressMsg{Code: 'j', Text: "j"})
	tm.Send(tea.KeyPressMsg{Code: 'b', Text: "b"})
	waitFor("other@jump2")
	if r := <-other; r.Status != api.StatusSuccess {
		t.Errorf("the other backup: %+v", r)
	}
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
	if view := final.View().Content; !bytes.Contains([]byte(view), []byte("locked")) {
		t.Errorf("the final screen does not show the lock:\n%s", view)
	}
}
