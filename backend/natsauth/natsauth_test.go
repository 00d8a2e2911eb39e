package natsauth_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/natsauth"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestPrepareCreatesPrivateFilesOnceAndKeepsThem(t *testing.T) {
	dir := t.TempDir()
	data, seed := filepath.Join(dir, "data"), natsauth.ClientSeedPath(filepath.Join(dir, "config"))
	// Two first starts at once make one service key and one client key.
	var wg sync.WaitGroup
	got := make([]*natsauth.Embedded, 4)
	for i := range got {
		wg.Go(func() {
			e, err := natsauth.Prepare(data, seed, "nats://127.0.0.1:4222", "root")
			if err != nil {
				t.Error(err)
			}
			got[i] = e
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e := got[0]
	for _, p := range []string{e.ServiceSeed, e.ClientSeed, e.ClientsFile} {
		if m := mode(t, p); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", p, m)
		}
	}
	for _, d := range []string{natsauth.Dir(data), filepath.Dir(seed)} {
		if m := mode(t, d); m != 0o700 {
			t.Errorf("%s: mode %04o, want 0700", d, m)
		}
	}
	if len(e.Clients) != 1 || e.Clients[0].Name != "root" {
		t.Fatalf("clients %+v, want the owner's key once", e.Clients)
	}
	pub, url, err := natsauth.ReadClientSeed(seed)
	if err != nil || url != "nats://127.0.0.1:4222" || pub != e.Clients[0].PublicKey {
		t.Fatalf("client seed: %s %s %v", pub, url, err)
	}
	users := e.Users("cfgsnap", "")
	if len(users) != 2 || users[0].Permissions.Publish.Allow[0] != "cfgsnap.>" {
		t.Fatalf("users: %+v", users)
	}

	// A restart on another port keeps the keys and names the new URL.
	svcBefore, _ := os.ReadFile(e.ServiceSeed)
	e2, err := natsauth.Prepare(data, seed, "nats://127.0.0.1:4333", "root")
	if err != nil {
		t.Fatal(err)
	}
	svcAfter, _ := os.ReadFile(e2.ServiceSeed)
	pub2, url2, err := natsauth.ReadClientSeed(seed)
	if err != nil || pub2 != pub || url2 != "nats://127.0.0.1:4333" || string(svcBefore) != string(svcAfter) || len(e2.Clients) != 1 {
		t.Fatalf("after a restart: %s %s %v, %d clients", pub2, url2, err, len(e2.Clients))
	}
	if m := mode(t, seed); m != 0o600 {
		t.Errorf("rewritten client seed: mode %04o", m)
	}
}

func TestReadableSeedsAndBadClientLinesAreRefused(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "client.nk")
	if _, err := natsauth.NewClientSeed(seed, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := natsauth.NewClientSeed(seed, "", ""); err == nil {
		t.Fatal("an existing seed was replaced")
	}
	if err := os.Chmod(seed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := natsauth.ReadClientSeed(seed); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable seed: %v", err)
	}
	clients := filepath.Join(dir, "clients")
	body := "# engineers\n\nUBADKEY alice\n" + strings.Repeat("U", 56) + " bob\n"
	if err := os.WriteFile(clients, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := natsauth.ReadClients(clients)
	if err == nil || !strings.Contains(err.Error(), clients+":3:") || !strings.Contains(err.Error(), clients+":4:") {
		t.Fatalf("bad keys: %v, want both lines named", err)
	}
	if err := natsauth.Allow(clients, "SUAXXXX", "eve"); err == nil {
		t.Fatal("a seed was accepted as a public key")
	}
	if err := os.WriteFile(clients, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(clients, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := natsauth.ReadClients(clients); err == nil {
		t.Fatal("a world-writable clients file was trusted")
	}
}
