package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/backup"
	"github.com/cfgsnap/cfgsnap/backend/collect"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"github.com/cfgsnap/cfgsnap/backend/service"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// workerEnv, when set, makes this test binary run one worker (a backup
// service on the cluster) instead of the tests; it holds a workerSpec as
// JSON. The worker-killed test starts two and SIGKILLs one mid-backup.
const workerEnv = "CFGSNAP_CLUSTER_WORKER"

type workerSpec struct {
	URL       string        `json:"url"`
	Inventory string        `json:"inventory"`
	DataDir   string        `json:"data_dir"`
	Name      string        `json:"name"`
	Prefix    string        `json:"prefix"`
	LockTTL   time.Duration `json:"lock_ttl"`
	KeyFile   string        `json:"key_file"` // the content key all workers share
}

// testKeyFile is the content key the package's stores share, as the
// workers of one cluster share one --content-key-file.
var testKeyFile string

func testKeys() *store.Keys { return store.NewKeys(testKeyFile) }

// cluster is the three-node cluster the package's tests share.
var cluster *natstest.Cluster

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(runWorker(spec))
	}
	dir, err := os.MkdirTemp("", "cfgsnap-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testKeyFile = filepath.Join(dir, "content.key")
	cluster, err = natstest.New(3, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runWorker serves until killed, after printing "ready" on stdout.
func runWorker(specJSON string) int {
	var spec workerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "bad", workerEnv, err)
		return 2
	}
	nc, err := nats.Connect(spec.URL, nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1), nats.DontRandomize())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := startService(context.Background(), nc, spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// startService runs a backup service on nc whose pipeline keeps snapshots
// and locks on the cluster, as `cfgsnap serve --store jetstream` does. The
// local stack still brings the inventory; its store, lock and host keys are
// swapped for the cluster's, since local.Options cannot take them yet. (The service's query endpoints still read the local store: the tests
// read history from the cluster directly.)
func startService(ctx context.Context, nc *nats.Conn, spec workerSpec) (*service.Service, error) {
	return startServiceWith(ctx, nc, spec, nil)
}

// startServiceWith is startService with mod applied to the service's
// configuration; with a mod, the query endpoints read the cluster's store
// too, as `cfgsnap serve --store jetstream` does.
func startServiceWith(ctx context.Context, nc *nats.Conn, spec workerSpec, mod func(*service.Config)) (*service.Service, error) {
	if spec.KeyFile == "" {
		spec.KeyFile = testKeyFile
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	parts, err := Open(ctx, js, Options{Prefix: spec.Prefix, Replicas: 3, Keys: store.NewKeys(spec.KeyFile)})
	if err != nil {
		return nil, err
	}
	stack, err := local.Open(ctx, local.Options{DataDir: spec.DataDir, InventoryPath: spec.Inventory,
		Timeout: 30 * time.Second, LockTTL: spec.LockTTL, Holder: spec.Name, ContentKeyFile: spec.KeyFile})
	if err != nil {
		return nil, err
	}
	stack.Locker = parts.Locker
	stack.HostKeys.Shared, stack.HostKeys.Worker = parts.HostKeys, spec.Name
	stack.Pipeline = backup.New(backup.Config{
		Inventory: func() backup.Inventory { return stack.Inventory() },
		Store:     parts.Store, Locker: parts.Locker,
		Dialer: &collect.Dialer{HostKeys: stack.HostKeys},
		Holder: spec.Name, PID: os.Getpid(),
		Timeout: 30 * time.Second, LockTTL: spec.LockTTL,
	})
	cfg := service.Config{Conn: nc, Stack: stack, Prefix: spec.Prefix, Workers: 4, Heartbeat: 200 * time.Millisecond}
	if mod != nil {
		stack.Store = parts.Store
		mod(&cfg)
	}
	svc := service.New(cfg)
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// workerProc is a worker running in a child process.
type workerProc struct {
	name string
	cmd  *exec.Cmd
}

// startWorkerProc starts a worker process and waits until it serves.
func startWorkerProc(t *testing.T, spec workerSpec) *workerProc {
	t.Helper()
	if spec.KeyFile == "" {
		spec.KeyFile = testKeyFile
	}
	data, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+string(data))
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("worker %s exited before serving:\n%s", spec.Name, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("worker %s did not start serving within 30s:\n%s", spec.Name, stderr.String())
	}
	return &workerProc{name: spec.Name, cmd: cmd}
}

// lockedBuffer is a child's stderr, written by exec's copier while the test
// may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var prefixes atomic.Int64

func newPrefix() string { return "c" + strconv.FormatInt(prefixes.Add(1), 10) }

// startFleet serves specs over SSH and writes their inventory.
func startFleet(t testing.TB, specs []devicesim.Spec) (*devicesim.Fleet, string) {
	t.Helper()
	f, err := devicesim.Start(context.Background(), devicesim.Config{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := f.WriteInventory(path); err != nil {
		t.Fatal(err)
	}
	return f, path
}

// smallFleet is n healthy devices with 3 KB configurations over three
// tenants and both RouterOS majors.
func smallFleet(n int) []devicesim.Spec {
	specs := make([]devicesim.Spec, n)
	versions := []string{"6.49.13", "7.12.1", "7.16.2"}
	for i := range specs {
		specs[i] = devicesim.Spec{Tenant: []string{"acme", "globex", "initech"}[i%3], ID: fmt.Sprintf("rtr-%d", i),
			Version: versions[i%len(versions)], SizeBytes: 3 << 10}
	}
	return specs
}

func jetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
