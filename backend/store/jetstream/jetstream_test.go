package jetstream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

// cluster is the three-node cluster every test of the package shares; each
// test uses a prefix of its own, hence streams and buckets of its own.
var cluster *natstest.Cluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cfgsnap-jsstore-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testKeys = store.NewKeys(filepath.Join(dir, "content.key"))
	clusterDir = dir
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

// testKeys seal the content of every store of the package's tests, as the
// workers of one cluster share one key file.
var testKeys *store.Keys

// clusterDir holds the nodes' store dirs, scanned for secrets at rest.
var clusterDir string

var prefixes atomic.Int64

func newPrefix() string { return "t" + strconv.FormatInt(prefixes.Add(1), 10) }

// open returns a store with R3 stream and buckets under prefix, connected
// to node (0-2).
func open(t testing.TB, node int, prefix string, opts Options) *Store {
	t.Helper()
	js, err := jetstream.New(cluster.Connect(t, cluster.NodeURL(node)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.Prefix, opts.Replicas = prefix, 3
	if opts.Keys == nil {
		opts.Keys = testKeys
	}
	s, err := Open(ctx, js, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func contents(t testing.TB, s *Store) int {
	t.Helper()
	infos, err := s.obs.List(context.Background())
	if err != nil {
		t.Fatalf("list contents: %v", err)
	}
	return len(infos)
}

// TestContract runs the store contract on R3 streams and buckets; the
// concurrent writers are workers connected to different nodes.
func TestContract(t *testing.T) {
	var next atomic.Int64
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store { return open(t, 0, newPrefix(), Options{}) },
		Shared: func(t *testing.T, s store.Store) store.Store {
			return open(t, int(next.Add(1))%cluster.Size(), s.(*Store).prefix, Options{})
		},
		Contents: func(t *testing.T, s store.Store) int { return contents(t, s.(*Store)) },
		Reopen: func(t *testing.T, s store.Store, keys *store.Keys) store.Store {
			return open(t, 1, s.(*Store).prefix, Options{Keys: keys})
		},
		KeyFile:  func(t *testing.T, s store.Store) string { return s.(*Store).keys.Path() },
		DataDirs: func(t *testing.T, s store.Store) []string { return streamDirs(t, s.(*Store).prefix) },
		Raw: func(t *testing.T, s store.Store, sum string) []byte {
			data, err := s.(*Store).obs.GetBytes(context.Background(), sum)
			if err != nil {
				t.Fatalf("raw content %s: %v", sum, err)
			}
			return data
		},
		PutLegacy: func(t *testing.T, s store.Store, sum string, content []byte) {
			// As cfgsnap stored content before sealing: in clear, named
			// by its hash (the bucket compresses it with S2).
			if _, err := s.(*Store).obs.PutBytes(context.Background(), sum, content); err != nil {
				t.Fatalf("store legacy content: %v", err)
			}
		},
	})
}

// streamDirs are the store dirs, on every node, of the streams and buckets
// of the store with prefix.
func streamDirs(t *testing.T, prefix string) []string {
	t.Helper()
	hist, content, errs := Names(prefix)
	var out []string
	for _, name := range []string{hist, "OBJ_" + content, "KV_" + errs} {
		m, err := filepath.Glob(filepath.Join(clusterDir, "*", "jetstream", "*", "streams", name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatalf("no stream dirs of %s under %s", prefix, clusterDir)
	}
	return out
}

func TestNames(t *testing.T) {
	st, c, e := Names("")
	if st != "CFGSNAP_HISTORY" || c != "cfgsnap_content" || e != "cfgsnap_errors" {
		t.Errorf("Names(\"\") = %s %s %s", st, c, e)
	}
	if st, _, _ := Names("acme.cfgsnap"); st != "ACME_CFGSNAP_HISTORY" {
		t.Errorf("Names(acme.cfgsnap) = %s", st)
	}
	js, err := jetstream.New(cluster.Connect(t, cluster.URL()))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a b", "cfgsnap.*", "cfgsnap.>", ".cfgsnap", "cfgsnap..x"} {
		if _, err := Open(context.Background(), js, Options{Prefix: p}); api.KindOf(err) != api.KindBadRequest {
			t.Errorf("Open with prefix %q: %v, want bad_request", p, err)
		}
	}
}

// The history subject of a device is <prefix>.history.<tenant>.<device>,
// so that NATS permissions and `nats stream view --subject` can pick a
// tenant or a device.
func TestHistorySubjects(t *testing.T) {
	prefix := newPrefix()
	s := open(t, 1, prefix, Options{})
	rec := storetest.Record(t, s, "acme", "core-rtr-1", "/system identity\nset name=core\n")
	m, err := s.hist.GetLastMsgForSubject(context.Background(), prefix+".history.acme.core-rtr-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unmarshalRecord(m.Data); err != nil || got.SnapshotID != rec.SnapshotID || !strings.Contains(string(m.Data), `"i":"`+rec.SnapshotID+`"`) {
		t.Errorf("history message %s is not the record %s", m.Data, rec.SnapshotID)
	}
	if info, err := s.hist.Info(context.Background()); err != nil || info.Config.Replicas != 3 || info.Config.Name != strings.ToUpper(prefix)+"_HISTORY" {
		t.Errorf("stream %+v, %v; want R3 named %s_HISTORY", info.Config, err, strings.ToUpper(prefix))
	}
}

// HistoryPerDevice keeps that many records per device, whatever the other
// devices do.
func TestHistoryPerDevice(t *testing.T) {
	s := open(t, 0, newPrefix(), Options{HistoryPerDevice: 3})
	var want []string
	for i := range 5 {
		want = append(want, storetest.Record(t, s, "acme", "busy", fmt.Sprintf("config %d", i)).SnapshotID)
	}
	quiet := storetest.Record(t, s, "acme", "quiet", "only config")
	recs, more, err := s.History(context.Background(), "acme", "busy", 10, "")
	if err != nil || more || len(recs) != 3 || recs[0].SnapshotID != want[4] || recs[2].SnapshotID != want[2] {
		t.Errorf("history of the busy device: %d records, more=%v, %v; want its newest 3", len(recs), more, err)
	}
	if recs, _, _ := s.History(context.Background(), "acme", "quiet", 10, ""); len(recs) != 1 || recs[0] != quiet {
		t.Errorf("history of the quiet device: %v; want its one record", recs)
	}
}

// An object whose bytes do not hash to its name is reported, not served.
func TestContentDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	s := open(t, 0, newPrefix(), Options{})
	rec := storetest.Record(t, s, "acme", "r1", "/system identity\nset name=r1\n")
	if _, err := s.obs.PutBytes(ctx, rec.SHA256, []byte("/system identity\nset name=r2\n")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Content(ctx, rec.SHA256)
	if err == nil || api.KindOf(err) != api.KindStorage || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("swapped object: err = %v, want a storage error saying corrupt", err)
	}
	// The next backup of that configuration repairs the object.
	storetest.Record(t, s, "acme", "r1", "/system identity\nset name=r1\n")
	if got, err := s.Content(ctx, rec.SHA256); err != nil || store.Sum(got) != rec.SHA256 {
		t.Errorf("after the next backup: %q, %v; want the content back", got, err)
	}
}

// A record is visible only once its content is: a reader that finds the
// record can always read its content, even while writers are busy.
func TestNoRecordWithoutContent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prefix := newPrefix()
	w, r := open(t, 0, prefix, Options{}), open(t, 1, prefix, Options{})
	done := make(chan struct{})
	var writeErr error
	go func() {
		defer close(done)
		for i := range 30 {
			content := storetest.ExportText(200<<10 + i) // two chunks: written in several messages
			if _, err := w.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "r1"}, content); err != nil {
				writeErr = err
				return
			}
		}
	}()
	reads := 0
	for {
		select {
		case <-done:
			if writeErr != nil {
				t.Fatal(writeErr)
			}
			if reads == 0 {
				t.Error("the reader never saw a record while the writer ran")
			}
			return
		default:
		}
		l, err := r.Latest(ctx, "acme", "r1")
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			continue
		}
		if _, err := r.Content(ctx, l.SHA256); err != nil {
			t.Fatalf("record %s is visible but its content is not: %v", l.SnapshotID, err)
		}
		reads++
	}
}

// TestNodeStopsDuringRecords stops one of three nodes while workers on
// every node record snapshots: every Record succeeds (after a leader
// election and a client failover), and afterwards every device's history
// holds each recorded snapshot exactly once, in one consistent chain.
func TestNodeStopsDuringRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prefix := newPrefix()
	const workers, devices, perWorker = 6, 12, 25
	var (
		mu       sync.Mutex
		recorded = map[string]api.SnapshotRecord{}
		errs     []error
		count    atomic.Int64
	)
	stores := make([]*Store, workers)
	for w := range workers {
		stores[w] = open(t, w%3, prefix, Options{})
	}
	var wg sync.WaitGroup
	for w, s := range stores {
		wg.Go(func() {
			for i := range perWorker {
				device := fmt.Sprintf("r%d", (w*perWorker+i)%devices)
				content := fmt.Sprintf("/system identity\nset name=%s\n# %d\n", device, i%3)
				rec, err := s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: device,
					RequestedBy: "w" + strconv.Itoa(w)}, []byte(content))
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("worker %d record %d: %w", w, i, err))
				} else {
					recorded[rec.SnapshotID] = rec
				}
				mu.Unlock()
				count.Add(1)
				time.Sleep(40 * time.Millisecond)
			}
		})
	}
	for count.Load() < workers*perWorker/4 {
		time.Sleep(10 * time.Millisecond)
	}
	// Stop the node leading the history stream, the worst case.
	stopped := 0
	streamName, _, _ := Names(prefix)
	for i := range cluster.Size() {
		if srv := cluster.Server(i); srv != nil && srv.JetStreamIsStreamLeader("$G", streamName) {
			stopped = i
		}
	}
	cluster.Stop(stopped)
	atStop := count.Load()
	wg.Wait()
	t.Logf("node n%d (stream leader) stopped after %d of %d records", stopped+1, atStop, workers*perWorker)
	for _, err := range errs {
		t.Error(err)
	}

	// Read back through a survivor before the node returns.
	reader := open(t, (stopped+1)%3, prefix, Options{})
	seen := map[string]int{}
	total := 0
	for d := range devices {
		device := fmt.Sprintf("r%d", d)
		recs, more, err := reader.History(ctx, "acme", device, store.MaxHistoryLimit, "")
		if err != nil || more {
			t.Fatalf("history of %s: more=%v %v", device, more, err)
		}
		slices.Reverse(recs)
		for i, r := range recs {
			seen[r.SnapshotID]++
			total++
			prev := ""
			if i > 0 {
				prev = recs[i-1].SHA256
			}
			if r.PreviousHash != prev || r.Changed != (r.SHA256 != prev) {
				t.Errorf("%s record %d: previous=%.8s changed=%v after a record with hash %.8s", device, i, r.PreviousHash, r.Changed, prev)
			}
			if _, err := reader.Content(ctx, r.SHA256); err != nil {
				t.Errorf("%s record %d: content: %v", device, i, err)
			}
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("snapshot %s stored %d times", id, n)
		}
		if _, ok := recorded[id]; !ok {
			t.Errorf("snapshot %s is in the history but no Record returned it", id)
		}
	}
	for id := range recorded {
		if seen[id] == 0 {
			t.Errorf("snapshot %s was recorded but is not in the history", id)
		}
	}
	if total != workers*perWorker || len(errs) > 0 {
		t.Errorf("%d records in the history, %d failed; want all %d", total, len(errs), workers*perWorker)
	}
	if n := contents(t, reader); n != devices*3 {
		t.Errorf("%d contents, want %d (3 configs per device, each once)", n, devices*3)
	}
	if err := cluster.Restart(ctx, stopped); err != nil {
		t.Fatal(err)
	}
}
