package backup_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// TestEndlessDeviceStopsAtTheCap: a device that answers every command with
// output that never ends fails the backup with invalid_output well within
// the job's deadline, and the worker's heap stays small meanwhile.
func TestEndlessDeviceStopsAtTheCap(t *testing.T) {
	s, _ := newStack(t, []devicesim.Spec{{Tenant: "acme", ID: "lab-endless-1", Fault: devicesim.FaultEndless}},
		local.Options{Timeout: 30 * time.Second})
	heap := sshtest.WatchHeap(10 * time.Millisecond)
	start := time.Now()
	r := s.Pipeline.Backup(context.Background(), backup.Request{TenantID: "acme", DeviceID: "lab-endless-1"}, nil)
	took := time.Since(start)
	_, growth := heap.Stop()
	if r.Status != api.StatusFailed || r.ErrorKind != api.KindInvalidOutput || !strings.Contains(r.Error, "more than 64 KiB of output") {
		t.Fatalf("reply %+v, want invalid_output at the 64 KiB cap of /system resource print", r)
	}
	t.Logf("failed after %v: %s; peak HeapInuse +%.1f MiB", took, r.Error, float64(growth)/(1<<20))
	if took > 15*time.Second {
		t.Errorf("took %v, want well within the 30s deadline", took)
	}
	if growth > 100<<20 {
		t.Errorf("heap grew by %.1f MiB, want under 100 MiB", float64(growth)/(1<<20))
	}
	if rec, err := s.Store.Latest(context.Background(), "acme", "lab-endless-1"); err != nil || rec != nil {
		t.Errorf("something was stored: %+v %v", rec, err)
	}
}

// TestSecretFailLeaksNothing: an export that prints secrets and fails
// leaves none of them in the reply, its JSON or the stored last_error.
func TestSecretFailLeaksNothing(t *testing.T) {
	s, _ := newStack(t, []devicesim.Spec{{Tenant: "acme", ID: "lab-leak-1", Version: "7.16.2", Fault: devicesim.FaultSecretFail}}, local.Options{})
	ctx := context.Background()
	r := s.Pipeline.Backup(ctx, backup.Request{TenantID: "acme", DeviceID: "lab-leak-1"}, nil)
	if r.Status != api.StatusFailed || r.ErrorKind != api.KindInvalidOutput {
		t.Fatalf("reply %+v, want invalid_output", r)
	}
	if !strings.Contains(r.Error, `"/export show-sensitive"`) || !strings.Contains(r.Error, "exited with status 1 after 7 lines of output (not shown: exports may hold secrets)") {
		t.Errorf("error text does not say what happened: %s", r.Error)
	}
	last, err := s.Store.LastErrors(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	stored, ok := last[store.DeviceKey{Tenant: "acme", Device: "lab-leak-1"}]
	if !ok || stored.Kind != api.KindInvalidOutput {
		t.Fatalf("stored last error %+v (found %v)", stored, ok)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, where := range []struct{ name, text string }{{"error", r.Error}, {"reply JSON", string(raw)}, {"last_error", stored.Error}} {
		for _, secret := range devicesim.SecretFailSecrets {
			if strings.Contains(where.text, secret) {
				t.Errorf("the %s holds the secret %q: %s", where.name, secret, where.text)
			}
		}
	}
}

// TestAgentKeysOnlyWhenAsked: with an ssh-agent holding a key the device
// accepts, a device without use_agent is never shown that key; with
// use_agent: true it is offered, after the configured identity file.
func TestAgentKeysOnlyWhenAsked(t *testing.T) {
	agentKey := sshtest.StartAgent(t)
	identity, identityPub := sshtest.WriteIdentity(t, "")
	specs := []devicesim.Spec{{Tenant: "acme", ID: "r1", Version: "7.16.2", Seed: 1}}
	fleet, err := devicesim.Start(context.Background(), devicesim.Config{AuthorizedKeys: []ssh.PublicKey{agentKey}}, specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	agentFP, identityFP := ssh.FingerprintSHA256(agentKey), ssh.FingerprintSHA256(identityPub)

	for _, tc := range []struct {
		name     string
		settings func(d *inventory.FileSettings)
		want     []string // keys the device saw, in order
	}{
		{"default", func(d *inventory.FileSettings) {}, nil},
		{"use_agent false", func(d *inventory.FileSettings) { d.UseAgent = ptr(false) }, nil},
		{"identity without agent", func(d *inventory.FileSettings) { d.IdentityFile = identity }, []string{identityFP}},
		{"use_agent true", func(d *inventory.FileSettings) { d.UseAgent = ptr(true) }, []string{agentFP}},
		{"identity first", func(d *inventory.FileSettings) { d.UseAgent, d.IdentityFile = ptr(true), identity }, []string{identityFP, agentFP}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			invPath := filepath.Join(dir, "inv.yaml")
			if err := fleet.WriteInventory(invPath); err != nil {
				t.Fatal(err)
			}
			doc := readDoc(t, invPath)
			tc.settings(doc.Defaults)
			if err := inventory.WriteFile(invPath, doc); err != nil {
				t.Fatal(err)
			}
			inv, _, err := inventory.Load(invPath)
			if err != nil {
				t.Fatal(err)
			}
			s, err := local.Open(context.Background(), local.Options{DataDir: filepath.Join(dir, "data"), Inventory: inv})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			before, _ := fleet.OfferedKeys("acme", "r1")
			r := s.Pipeline.Backup(context.Background(), backup.Request{TenantID: "acme", DeviceID: "r1"}, nil)
			if r.Status != api.StatusSuccess {
				t.Fatalf("reply %+v", r)
			}
			after, _ := fleet.OfferedKeys("acme", "r1")
			got := after[len(before):]
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("the device was offered %v, want %v (agent %s, identity %s)", got, tc.want, agentFP, identityFP)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// readDoc reads back an inventory written by devicesim.
func readDoc(t *testing.T, path string) inventory.FileDoc {
	t.Helper()
	inv, _, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := inventory.FileDoc{Defaults: &inventory.FileSettings{}}
	for _, tn := range inv.Tenants {
		ft := inventory.FileTenant{ID: tn.ID}
		for _, d := range tn.Devices {
			ft.Devices = append(ft.Devices, inventory.FileDevice{ID: d.ID, Host: d.Host, Port: d.Port,
				Username: d.Username, PasswordFile: d.Credentials.PasswordFile})
		}
		doc.Tenants = append(doc.Tenants, ft)
	}
	return doc
}

// TestRogueVersionLineIsShortened: a device that answers the resource
// print with a huge version value gets a short excerpt of it in the error,
// not the whole line.
func TestRogueVersionLineIsShortened(t *testing.T) {
	fixture := filepath.Join(t.TempDir(), "rogue#simulation.yaml")
	junk := strings.Repeat("Sup3rS3cret!", 1000)
	capture := "init_prompt:\ncommands:\n  \"/system resource print\\n\": |-\n    \\x20   version: 7." + junk + "\n    board-name: CHR\n"
	if err := os.WriteFile(fixture, []byte(capture), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := newStack(t, []devicesim.Spec{{Tenant: "acme", ID: "rogue-1", Version: "7.16.2", Fixture: fixture}}, local.Options{})
	r := s.Pipeline.Backup(context.Background(), backup.Request{TenantID: "acme", DeviceID: "rogue-1"}, nil)
	if r.Status != api.StatusFailed || r.ErrorKind != api.KindInvalidOutput || !strings.Contains(r.Error, "did not answer /system resource print like RouterOS") {
		t.Fatalf("reply %+v", r)
	}
	if len(r.Error) > 300 || strings.Count(r.Error, "Sup3rS3cret!") > 12 {
		t.Errorf("error of %d bytes quotes the device's line at length: %s", len(r.Error), r.Error)
	}
}
