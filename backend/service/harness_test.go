package service_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// childEnv, when set, makes this test binary run a service instead of the
// tests: "NATS_URL|DATA_DIR|INVENTORY". The worker-killed test starts it and
// SIGKILLs it mid-job.
const childEnv = "CFGSNAP_SERVICE_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild serves until killed, after printing "ready" on stdout.
func runChild(spec string) int {
	parts := strings.Split(spec, "|")
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "bad", childEnv, spec)
		return 2
	}
	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{DataDir: parts[1], InventoryPath: parts[2],
		Timeout: 30 * time.Second, LockTTL: childLockTTL, Holder: "child@test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	nc, err := nats.Connect(parts[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	svc := service.New(service.Config{Conn: nc, Stack: st, Workers: 2, Heartbeat: 100 * time.Millisecond})
	if err := svc.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

const childLockTTL = 2 * time.Second

// harness is one embedded NATS server and one simulated fleet with its
// inventory; services and clients are added per test.
type harness struct {
	t       testing.TB
	ns      *natsserver.Server
	fleet   *devicesim.Fleet
	invPath string
	dataDir string
}

func newHarness(t testing.TB, specs []devicesim.Spec) *harness {
	return newHarnessWith(t, specs, natsserver.Options{Listen: "127.0.0.1:0"})
}

func newHarnessWith(t testing.TB, specs []devicesim.Spec, nopts natsserver.Options) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	ns, err := natsserver.Start(ctx, nopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	fleet, err := devicesim.Start(context.Background(), devicesim.Config{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	h := &harness{t: t, ns: ns, fleet: fleet, invPath: filepath.Join(dir, "inventory.yaml"), dataDir: filepath.Join(dir, "data")}
	if err := fleet.WriteInventory(h.invPath); err != nil {
		t.Fatal(err)
	}
	return h
}

// devices are healthy small devices: acme/core-rtr-1, acme/dev-1..n-1 and
// globex/core-rtr-1 (the same ID in another tenant).
func devices(n int, extra ...devicesim.Spec) []devicesim.Spec {
	specs := []devicesim.Spec{
		{Tenant: "acme", ID: "core-rtr-1", SizeBytes: 4 << 10},
		{Tenant: "globex", ID: "core-rtr-1", SizeBytes: 4 << 10, Version: "6.49.10"},
		{Tenant: "globex", ID: "gx-edge-1", SizeBytes: 4 << 10},
	}
	for i := 1; i < n; i++ {
		specs = append(specs, devicesim.Spec{Tenant: "acme", ID: fmt.Sprintf("dev-%d", i), SizeBytes: 3 << 10})
	}
	return append(specs, extra...)
}

// slow trickles a 20 KB export at 10 KB/s: about two seconds of exporting.
func slow(tenant, id string) devicesim.Spec {
	return devicesim.Spec{Tenant: tenant, ID: id, SizeBytes: 20 << 10,
		Fault: devicesim.FaultSlowOutput, BytesPerSecond: 10 << 10}
}

func (h *harness) stack(mod ...func(*local.Options)) *local.Stack {
	h.t.Helper()
	o := local.Options{DataDir: h.dataDir, InventoryPath: h.invPath, Timeout: 15 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	st, err := local.Open(context.Background(), o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

func (h *harness) conn(opts ...nats.Option) *nats.Conn {
	h.t.Helper()
	// bcrypt checks of the example configs' passwords take long on a busy
	// machine under -race: more than the default 2 s connect timeout.
	nc, err := nats.Connect(h.ns.URL(), append([]nats.Option{nats.Timeout(15 * time.Second)}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	return nc
}

// service starts a service with cfg; Conn and Stack are filled in when nil.
// It is shut down at the end of the test.
func (h *harness) service(cfg service.Config) *service.Service {
	h.t.Helper()
	if cfg.Conn == nil {
		cfg.Conn = h.conn()
	}
	if cfg.Stack == nil {
		cfg.Stack = h.stack()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(h.t)
	}
	svc := service.New(cfg)
	if err := svc.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			h.t.Errorf("shutdown: %v", err)
		}
	})
	return svc
}

func (h *harness) remote(opts client.RemoteOptions, nopts ...nats.Option) *client.Remote {
	h.t.Helper()
	nc, err := nats.Connect(h.ns.URL(), nopts...)
	if err != nil {
		h.t.Fatal(err)
	}
	r := client.NewRemote(nc, "", opts)
	h.t.Cleanup(func() { r.Close() })
	return r
}

// testLogger sends the service's log to the test's log, shown on failure.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// request publishes msg with a fresh inbox on nc and collects what arrives
// on it: until a message for which last is true and then settle more (to
// catch a reply too many), or until wait has passed.
func request(t *testing.T, nc *nats.Conn, msg *nats.Msg, last func(*nats.Msg) bool, wait, settle time.Duration) []*nats.Msg {
	t.Helper()
	msg.Reply = nc.NewInbox()
	ch := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(msg.Reply, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	var out []*nats.Msg
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case m := <-ch:
			out = append(out, m)
			if last(m) {
				deadline.Reset(settle)
			}
		case <-deadline.C:
			return out
		}
	}
}

func anyMsg(*nats.Msg) bool { return true }

func isFinal(m *nats.Msg) bool { return m.Header.Get(api.HeaderEvent) == api.EventFinal }

// drain reads r until EOF, for a child's stderr.
func drain(r io.Reader, into *strings.Builder, mu *sync.Mutex) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		mu.Lock()
		into.WriteString(sc.Text() + "\n")
		mu.Unlock()
	}
}
