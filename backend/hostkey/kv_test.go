package hostkey_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/collect"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/hostkey"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

// singleNode starts a one-node NATS with JetStream and returns a connection.
func singleNode(t *testing.T) *nats.Conn {
	t.Helper()
	ns, err := natsserver.Start(context.Background(), natsserver.Options{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func openKV(t *testing.T, nc *nats.Conn, replicas int) *hostkey.KV {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := hostkey.OpenKV(ctx, js, hostkey.KVOptions{Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// fleet runs simulated devices acme/r1 and acme/r2 on loopback.
func fleet(t *testing.T) *devicesim.Fleet {
	t.Helper()
	f, err := devicesim.Start(context.Background(), devicesim.Config{}, []devicesim.Spec{
		{Tenant: "acme", ID: "r1", SizeBytes: 2048}, {Tenant: "acme", ID: "r2", SizeBytes: 2048}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// worker is one `cfgsnap serve` worker's SSH side: its own data dir and
// known_hosts file, the cluster's host key store.
type worker struct {
	name    string
	dialer  *collect.Dialer
	learned atomic.Int32
}

func newWorker(t *testing.T, name string, store hostkey.Store) *worker {
	w := &worker{name: name}
	w.dialer = &collect.Dialer{
		HostKeys: &collect.HostKeys{
			File:   filepath.Join(t.TempDir(), "data", "known_hosts"),
			Shared: store, Worker: name,
			OnLearn: func(string, string, string) { w.learned.Add(1) },
		},
		DialTimeout: 5 * time.Second, HandshakeTimeout: 20 * time.Second,
	}
	return w
}

// target is how the backup pipeline names a device: label tenant/device,
// the address the inventory gives.
func target(t *testing.T, f *devicesim.Fleet, label, tenant, id string) collect.Target {
	t.Helper()
	host, port, ok := f.Addr(tenant, id)
	if !ok {
		t.Fatalf("no device %s/%s", tenant, id)
	}
	return collect.Target{Label: label, Host: host, Port: port,
		Auth: collect.Auth{Username: f.Username(), Password: f.Password()}}
}

// backup dials and runs the identity command, like the first step of a backup.
func (w *worker) backup(tg collect.Target) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := w.dialer.Dial(ctx, tg)
	if err != nil {
		return err
	}
	defer c.Close()
	var out strings.Builder
	return c.Run(ctx, "/system identity print", collect.Limits{}, &out)
}

func wantKind(t *testing.T, err error, kind api.ErrorKind, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", kind)
	}
	if got := api.KindOf(err); got != kind {
		t.Fatalf("kind %s, want %s: %v", got, kind, err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

func fingerprint(t *testing.T, f *devicesim.Fleet, tenant, id string) string {
	t.Helper()
	for _, d := range f.Devices() {
		if d.Tenant == tenant && d.ID == id {
			return d.HostKeyFingerprint
		}
	}
	t.Fatalf("no device %s/%s", tenant, id)
	return ""
}

func recorded(t *testing.T, s hostkey.Store, tenant, device string) *hostkey.Entry {
	t.Helper()
	e, err := s.Get(context.Background(), tenant, device)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestWorkersShareOneViewOfHostKeys: on a three-node cluster with R3, two
// workers on different nodes with separate data dirs. Worker A trusts the
// device on first use; worker B then checks the same key and records
// nothing. After the device's key changes both refuse it, naming both
// fingerprints and the forget command; after a forget the next backup
// records the new key for both.
func TestWorkersShareOneViewOfHostKeys(t *testing.T) {
	c := natstest.Start(t, 3)
	storeA := openKV(t, c.Connect(t, c.NodeURL(0)), 3)
	storeB := openKV(t, c.Connect(t, c.NodeURL(1)), 3)
	f := fleet(t)
	a, b := newWorker(t, "svc@worker-a", storeA), newWorker(t, "svc@worker-b", storeB)
	tg := target(t, f, "acme/r1", "acme", "r1")
	first := fingerprint(t, f, "acme", "r1")

	if err := a.backup(tg); err != nil {
		t.Fatalf("worker A, first contact: %v", err)
	}
	if err := b.backup(tg); err != nil {
		t.Fatalf("worker B after A recorded the key: %v", err)
	}
	if a.learned.Load() != 1 || b.learned.Load() != 0 {
		t.Fatalf("learned: A %d, B %d; want the first use once, by A", a.learned.Load(), b.learned.Load())
	}
	e := recorded(t, storeB, "acme", "r1")
	if e == nil || e.Fingerprint() != first || e.By != "svc@worker-a" || e.Addr != tg.Host+":"+strconv.Itoa(tg.Port) {
		t.Fatalf("recorded %+v, want %s by worker A at %s:%d", e, first, tg.Host, tg.Port)
	}
	for _, w := range []*worker{a, b} {
		if _, err := os.Stat(w.dialer.HostKeys.File); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s wrote its local known_hosts with a shared store (stat: %v)", w.name, err)
		}
	}

	if err := f.RotateHostKey("acme", "r1"); err != nil {
		t.Fatal(err)
	}
	rotated := fingerprint(t, f, "acme", "r1")
	for _, w := range []*worker{a, b} {
		wantKind(t, w.backup(tg), api.KindHostKeyMismatch, first, rotated,
			"cfgsnap hostkey forget acme/r1", "intercepting", "cfgsnap_hostkeys", "by svc@worker-a")
	}
	if e := recorded(t, storeA, "acme", "r1"); e == nil || e.Fingerprint() != first {
		t.Fatalf("a refused key changed the record: %+v", e)
	}

	n, where, err := b.dialer.HostKeys.ForgetDevice(context.Background(), "acme", "r1", tg.Host, tg.Port)
	if err != nil || n != 1 || !strings.Contains(where, "cfgsnap_hostkeys") {
		t.Fatalf("ForgetDevice = %d, %q, %v", n, where, err)
	}
	if n, _, err := b.dialer.HostKeys.ForgetDevice(context.Background(), "acme", "r1", tg.Host, tg.Port); err != nil || n != 0 {
		t.Fatalf("second ForgetDevice = %d, %v; want nothing left to forget", n, err)
	}
	if err := b.backup(tg); err != nil {
		t.Fatalf("worker B after forget: %v", err)
	}
	if err := a.backup(tg); err != nil {
		t.Fatalf("worker A after B recorded the new key: %v", err)
	}
	if e := recorded(t, storeA, "acme", "r1"); e == nil || e.Fingerprint() != rotated || e.By != "svc@worker-b" {
		t.Fatalf("after forget recorded %+v, want %s by worker B", e, rotated)
	}
	js, err := jetstream.New(c.Connect(t, c.NodeURL(2)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "KV_"+storeA.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("bucket has %d replicas, want the store's 3", r)
	}
}

// TestImpostorCannotFoolAFreshWorker: a man in the middle who reaches only
// worker B (a new worker, empty data dir) and presents his own key for the
// device is refused, because worker A recorded the real key for the whole
// cluster.
func TestImpostorCannotFoolAFreshWorker(t *testing.T) {
	store := openKV(t, singleNode(t), 1)
	f := fleet(t)
	a, b := newWorker(t, "svc@worker-a", store), newWorker(t, "svc@worker-b", store)
	if err := a.backup(target(t, f, "acme/r1", "acme", "r1")); err != nil {
		t.Fatal(err)
	}
	// B's route to acme/r1 leads to another SSH server with its own key.
	mitm := target(t, f, "acme/r1", "acme", "r2")
	wantKind(t, b.backup(mitm), api.KindHostKeyMismatch,
		fingerprint(t, f, "acme", "r1"), fingerprint(t, f, "acme", "r2"), "cfgsnap hostkey forget acme/r1")
	if e := recorded(t, store, "acme", "r1"); e == nil || e.Fingerprint() != fingerprint(t, f, "acme", "r1") {
		t.Fatalf("record after the impostor: %+v", e)
	}
}

// TestRacingFirstContactsRecordOneKey: eight workers meet acme/r1 for the
// first time at once, half of them through an impostor with another key.
// Exactly one key is recorded; every worker that saw it succeeds, every one
// that saw the other fails with host_key_mismatch, and one first use is
// reported.
func TestRacingFirstContactsRecordOneKey(t *testing.T) {
	nc := singleNode(t)
	f := fleet(t)
	real, fake := target(t, f, "acme/r1", "acme", "r1"), target(t, f, "acme/r1", "acme", "r2")
	for round := range 3 {
		var workers []*worker
		for i := range 8 {
			workers = append(workers, newWorker(t, "w"+strconv.Itoa(i), openKV(t, nc, 1)))
		}
		errs := make([]error, len(workers))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, w := range workers {
			wg.Go(func() {
				<-start
				tg := real
				if i%2 == 1 {
					tg = fake
				}
				errs[i] = w.backup(tg)
			})
		}
		close(start)
		wg.Wait()
		store := workers[0].dialer.HostKeys.Shared
		e := recorded(t, store, "acme", "r1")
		if e == nil {
			t.Fatalf("round %d: nothing recorded", round)
		}
		winner := 0 // which half's key was recorded
		if e.Fingerprint() == fingerprint(t, f, "acme", "r2") {
			winner = 1
		}
		var learned int32
		for i, w := range workers {
			learned += w.learned.Load()
			if i%2 == winner {
				if errs[i] != nil {
					t.Errorf("round %d: worker %d saw the recorded key and failed: %v", round, i, errs[i])
				}
			} else if api.KindOf(errs[i]) != api.KindHostKeyMismatch {
				t.Errorf("round %d: worker %d saw the other key: %v, want host_key_mismatch", round, i, errs[i])
			}
		}
		if learned != 1 {
			t.Errorf("round %d: %d first uses reported, want 1", round, learned)
		}
		if _, err := store.Forget(context.Background(), "acme", "r1"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUndecodableRecordStopsTheBackup: garbage (or another device's
// record) under a device's key is neither trusted nor replaced; the error
// says what to do, and forget clears it.
func TestUndecodableRecordStopsTheBackup(t *testing.T) {
	nc := singleNode(t)
	store := openKV(t, nc, 1)
	f := fleet(t)
	w := newWorker(t, "svc@w", store)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := js.KeyValue(context.Background(), store.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.backup(target(t, f, "acme/r2", "acme", "r2")); err != nil {
		t.Fatal(err)
	}
	r2, err := raw.Get(ctx, "acme.r2")
	if err != nil {
		t.Fatal(err)
	}
	tg := target(t, f, "acme/r1", "acme", "r1")
	for name, value := range map[string][]byte{"garbage": []byte("\x00garbage{"), "record of acme/r2": r2.Value()} {
		t.Run(name, func(t *testing.T) {
			rev, err := raw.Put(ctx, "acme.r1", value)
			if err != nil {
				t.Fatal(err)
			}
			wantKind(t, w.backup(tg), api.KindStorage, "not a valid record", "nothing was trusted",
				"cfgsnap hostkey forget acme/r1", "does not decode")
			if e, err := raw.Get(ctx, "acme.r1"); err != nil || e.Revision() != rev {
				t.Fatalf("the bad record was replaced: %v, %v", e, err)
			}
			if _, err := store.Get(ctx, "acme", "r1"); !errors.Is(err, hostkey.ErrUndecodable) {
				t.Fatalf("Get = %v, want ErrUndecodable", err)
			}
			gone, err := store.Forget(ctx, "acme", "r1")
			if err != nil || gone == nil {
				t.Fatalf("Forget = %+v, %v", gone, err)
			}
			if err := w.backup(tg); err != nil {
				t.Fatalf("after forget: %v", err)
			}
			if e := recorded(t, store, "acme", "r1"); e == nil || e.Fingerprint() != fingerprint(t, f, "acme", "r1") {
				t.Fatalf("after forget recorded %+v", e)
			}
			if _, err := store.Forget(ctx, "acme", "r1"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPinWinsOverTheSharedStore: a device pinned in the inventory is
// checked against the pin only; the store is neither read nor written.
func TestPinWinsOverTheSharedStore(t *testing.T) {
	store := openKV(t, singleNode(t), 1)
	f := fleet(t)
	w := newWorker(t, "svc@w", store)
	tg := target(t, f, "acme/r1", "acme", "r1")
	tg.HostKeyPin = fingerprint(t, f, "acme", "r2")
	wantKind(t, w.backup(tg), api.KindHostKeyMismatch, "pins host_key")
	tg.HostKeyPin = fingerprint(t, f, "acme", "r1")
	if err := w.backup(tg); err != nil {
		t.Fatal(err)
	}
	if e := recorded(t, store, "acme", "r1"); e != nil {
		t.Fatalf("a pinned device was recorded: %+v", e)
	}
}

// TestBindKV: tools find the bucket serve made, and say so when there is none.
func TestBindKV(t *testing.T) {
	nc := singleNode(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hostkey.BindKV(context.Background(), js, ""); !errors.Is(err, hostkey.ErrNoBucket) {
		t.Fatalf("BindKV without a bucket = %v", err)
	}
	store := openKV(t, nc, 1)
	k := sshtest.NewPublicKey(t)
	if _, created, err := store.Create(context.Background(), hostkey.Entry{Tenant: "acme", Device: "r1", Key: k}); err != nil || !created {
		t.Fatal(created, err)
	}
	bound, err := hostkey.BindKV(context.Background(), js, "")
	if err != nil {
		t.Fatal(err)
	}
	if e := recorded(t, bound, "acme", "r1"); e == nil || !hostkey.SameKey(e.Key, k) {
		t.Fatalf("bound store reads %+v", e)
	}
	if _, created, err := bound.Create(context.Background(), hostkey.Entry{Tenant: "acme", Device: "r1", Key: sshtest.NewPublicKey(t)}); err != nil || created {
		t.Fatalf("second Create = %v, %v; want the first key kept", created, err)
	}
}
