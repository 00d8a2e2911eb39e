package main

import (
	"context"
	"errors"
	"github.com/cfgsnap/cfgsnap/backend/natsauth"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
)

// TestServeJetStreamHostKeysAndForget: `serve --store jetstream` records a
// device's host key in the cluster's bucket (not in its known_hosts), a
// rotated key fails the backup with host_key_mismatch, and
// `cfgsnap --nats URL hostkey forget` clears it in the bucket from any
// machine, so the next backup records the new key.
func TestServeJetStreamHostKeysAndForget(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	addr := freeAddr(t)
	url := "nats://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, _, serr := l.start(ctx, "serve", "--listen", addr, "--store", "jetstream")
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, url, l.clientSeed())

	if reply, r := l.backupJSON("--nats", url, "acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("first contact: exit %d %+v\nserve: %s", r.code, reply, serr.String())
	}
	if _, err := os.Stat(filepath.Join(l.dataDir, "known_hosts")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve --store jetstream wrote DATA_DIR/known_hosts (stat: %v)", err)
	}
	old := l.fleet.Devices()[0].HostKeyFingerprint
	if err := l.fleet.RotateHostKey("acme", "core-rtr-1"); err != nil {
		t.Fatal(err)
	}
	presented := l.fleet.Devices()[0].HostKeyFingerprint
	reply, r := l.backupJSON("--nats", url, "acme/core-rtr-1")
	if r.code != 1 || reply.ErrorKind != api.KindHostKeyMismatch {
		t.Fatalf("rotated key: exit %d %+v", r.code, reply)
	}
	for _, want := range []string{old, presented, "cfgsnap hostkey forget acme/core-rtr-1", "cfgsnap_hostkeys"} {
		if !strings.Contains(reply.Error, want) {
			t.Errorf("mismatch error does not name %q: %s", want, reply.Error)
		}
	}
	// From another machine: no inventory, no data dir of the service, but a
	// credential that may use JetStream (here the service's own seed; in a
	// cluster the operator's): client credentials do not reach the bucket.
	other := &lab{t: t, fleet: l.fleet, inv: filepath.Join(t.TempDir(), "none.yaml"), dataDir: filepath.Join(t.TempDir(), "data")}
	svcSeed := filepath.Join(natsauth.Dir(l.dataDir), natsauth.ServiceSeedName)
	f := other.run("--nats", url, "--nats-nkey", svcSeed, "hostkey", "forget", "acme/core-rtr-1")
	if f.code != 0 || !strings.Contains(f.stdout, "forgot the host key of acme/core-rtr-1") || !strings.Contains(f.stdout, old) {
		t.Fatalf("forget: exit %d %q %q", f.code, f.stdout, f.stderr)
	}
	// On the service's host its operator needs no flag: the service's seed
	// in the data dir is used.
	if f := l.run("--nats", url, "hostkey", "forget", "--store", "jetstream", "acme/core-rtr-1"); f.code != 0 || !strings.Contains(f.stdout, "no host key recorded") {
		t.Fatalf("second forget: exit %d %q %q", f.code, f.stdout, f.stderr)
	}
	if reply, r := l.backupJSON("--nats", url, "acme/core-rtr-1"); r.code != 0 || reply.Status != api.StatusSuccess {
		t.Fatalf("after forget: exit %d %+v", r.code, reply)
	}
	if f := l.run("hostkey", "forget", "--store", "jetstream", "acme/core-rtr-1"); f.code != exitUsage || !strings.Contains(f.stderr, "--nats") {
		t.Errorf("--store jetstream without NATS: exit %d %q", f.code, f.stderr)
	}
}

// TestRemoteForgetWithoutClusterBucket: a service on SQLite keeps host keys
// in its data dir, and remote-mode forget says where to run it.
func TestRemoteForgetWithoutClusterBucket(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	addr := freeAddr(t)
	url := "nats://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, _, _ := l.start(ctx, "serve", "--listen", addr)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, url, l.clientSeed())
	f := l.run("--nats", url, "hostkey", "forget", "acme/core-rtr-1")
	if f.code != exitUsage || !strings.Contains(f.stderr, "where `cfgsnap serve` runs") {
		t.Fatalf("exit %d %q %q", f.code, f.stdout, f.stderr)
	}
}
