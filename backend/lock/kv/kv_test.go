package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/lock/locktest"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
)

// cluster is the three-node cluster every test of the package shares; each
// test uses buckets of its own.
var cluster *natstest.Cluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cfgsnap-kv-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
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

// expirySlack is how late the cluster may delete an expired key: the
// server sweeps expired messages at most every 250 ms, and on a replicated
// stream the deletion is proposed by the leader and applied by a quorum.
const expirySlack = 1500 * time.Millisecond

var buckets atomic.Int64

// newBucket names a bucket no other test uses.
func newBucket() string { return "locks_" + strconv.FormatInt(buckets.Add(1), 10) }

func jetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(cluster.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// open returns a locker on an R3 bucket, connected to node (0-2).
func open(t testing.TB, node int, bucket string) *Locker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := New(ctx, jetStream(t, cluster.NodeURL(node)), Options{Bucket: bucket, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestContract runs the locker contract on an R3 bucket; the race's
// contenders are workers connected to different nodes.
func TestContract(t *testing.T) {
	var next atomic.Int64
	locktest.Run(t, locktest.Backend{
		Open: func(t *testing.T) lock.Locker { return open(t, 0, newBucket()) },
		Shared: func(t *testing.T, l lock.Locker) lock.Locker {
			return open(t, int(next.Add(1))%cluster.Size(), l.(*Locker).bucket)
		},
		MinTTL:      time.Second,
		ExpirySlack: expirySlack,
	})
}

// lastMsg returns the raw message holding key k of l's bucket, headers and
// all, or nil when the key has no message left.
func lastMsg(t *testing.T, l *Locker, k string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := l.js.Stream(context.Background(), "KV_"+l.bucket)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), "$KV."+l.bucket+"."+k)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTTLExpiresWithoutRenewal: a holder that dies leaves nothing behind;
// the server removes its key with no client doing anything.
func TestTTLExpiresWithoutRenewal(t *testing.T) {
	l := open(t, 0, newBucket())
	lease, err := l.Acquire(context.Background(), "acme/r1", lock.Info{Holder: "w1", JobID: "J1"}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got := lease.Info().Expires.Sub(lease.Info().Since); got != 2*time.Second {
		t.Errorf("a 1.5s lease lasts %v; want it rounded up to the server's whole seconds, 2s", got)
	}
	m := lastMsg(t, l, "acme.r1")
	if m == nil || m.Header.Get(jetstream.MsgTTLHeader) != "2s" {
		t.Fatalf("created key carries TTL header %q, want 2s", m.Header.Get(jetstream.MsgTTLHeader))
	}
	deadline := lease.Info().Expires.Add(expirySlack)
	for {
		m := lastMsg(t, l, "acme.r1")
		if m == nil || m.Header.Get("Nats-Marker-Reason") != "" {
			break // the server removed the lease and left (at most) its marker
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease still stored %v after its expiry", time.Since(lease.Info().Expires))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRenewalKeepsTTL is the kv.Update trap: a renewal must write the key
// with its TTL again, or the lease outlives its holder forever. The lease is
// renewed well past its first TTL, then its holder "dies": it must expire.
// The control half shows that kv.Update would have failed this test.
func TestRenewalKeepsTTL(t *testing.T) {
	ctx := context.Background()
	l := open(t, 1, newBucket())
	held, err := l.Acquire(ctx, "acme/r1", lock.Info{Holder: "w1", JobID: "J1"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 { // 2.4 s of renewals of a 1 s lease
		time.Sleep(300 * time.Millisecond)
		if err := held.Renew(ctx, api.StageExporting, time.Second); err != nil {
			t.Fatalf("renewal %d: %v", i, err)
		}
		if m := lastMsg(t, l, "acme.r1"); m == nil || m.Header.Get(jetstream.MsgTTLHeader) != "1s" {
			t.Fatalf("after renewal %d the key's TTL header is %v, want 1s", i, m)
		}
	}
	if h, err := l.Holder(ctx, "acme/r1"); err != nil || h == nil || h.JobID != "J1" || h.Stage != api.StageExporting {
		t.Fatalf("renewed lease: Holder = %+v, %v", h, err)
	}
	waitGone(t, l, "acme/r1", held.Info().Expires)

	// Control: the same lease renewed with kv.Update loses its TTL.
	// A longer TTL than above, so that a busy machine cannot let the key
	// expire before kv.Update writes it.
	trap, err := l.Acquire(ctx, "acme/r2", lock.Info{Holder: "w1", JobID: "J2"}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.kv.Update(ctx, "acme.r2", encode("acme/r2", trap.Info()), trap.(*lease).rev); err != nil {
		t.Fatal(err)
	}
	if m := lastMsg(t, l, "acme.r2"); m == nil || m.Header.Get(jetstream.MsgTTLHeader) != "" {
		t.Fatalf("kv.Update kept a TTL header: this test could not tell the trap from the fix")
	}
	time.Sleep(time.Until(trap.Info().Expires.Add(expirySlack)))
	if h, _ := l.Holder(ctx, "acme/r2"); h == nil {
		t.Fatal("a key written by kv.Update expired: this test could not tell the trap from the fix")
	}
}

// waitGone waits for the lease on k to disappear once expired.
func waitGone(t *testing.T, l *Locker, k string, expires time.Time) {
	t.Helper()
	deadline := expires.Add(expirySlack)
	for {
		h, err := l.Holder(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease on %s still held %v after its expiry", k, time.Since(expires).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLostCreateRaceOnR3 has workers on all three nodes create the same key
// at once, many times: on a replicated bucket the loser's error may be
// "key exists" (10071) or the replicated variant (10164); both must come
// back as a HeldError naming the winner, never as a storage failure.
func TestLostCreateRaceOnR3(t *testing.T) {
	bucket := newBucket()
	lockers := []*Locker{open(t, 0, bucket), open(t, 1, bucket), open(t, 2, bucket)}
	ctx := context.Background()
	for round := range 15 {
		k := fmt.Sprintf("acme/r%d", round)
		var wg sync.WaitGroup
		errs := make([]error, len(lockers))
		leases := make([]lock.Lease, len(lockers))
		start := make(chan struct{})
		for i, l := range lockers {
			wg.Go(func() {
				<-start
				leases[i], errs[i] = l.Acquire(ctx, k, lock.Info{Holder: "w" + strconv.Itoa(i), JobID: "J" + strconv.Itoa(i)}, 5*time.Second)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("%s: workers %d and %d both won", k, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("%s: nobody won: %v", k, errs)
		}
		for i, err := range errs {
			if i != winner {
				locktest.HeldBy(t, err, "J"+strconv.Itoa(winner))
			}
		}
		if err := leases[winner].Release(ctx); err != nil {
			t.Errorf("%s: release: %v", k, err)
		}
	}
}

// TestNodeStopsWhileLocking stops one of three nodes while workers acquire,
// renew and release leases on an R3 bucket through every node: every call
// ends in a lease, a HeldError or a clean release, no lease is lost while
// kept, and no key is ever held by two jobs.
func TestNodeStopsWhileLocking(t *testing.T) {
	bucket := newBucket()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const workers = 6
	var (
		mu       sync.Mutex
		failures []error
		acquired atomic.Int64
		refused  atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	// holders tracks who believes it holds each key, to catch double holds.
	holders := map[string]string{}
	stopAt := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		l := open(t, w%3, bucket)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := fmt.Sprintf("acme/r%d", i%5)
				job := fmt.Sprintf("w%d-%d", w, i)
				lease, err := l.Acquire(ctx, k, lock.Info{Holder: "w" + strconv.Itoa(w), JobID: job}, 3*time.Second)
				var held *lock.HeldError
				switch {
				case errors.As(err, &held):
					refused.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				case err != nil:
					fail(fmt.Errorf("worker %d acquire %s: %w", w, k, err))
					return
				}
				acquired.Add(1)
				mu.Lock()
				if other, ok := holders[k]; ok {
					failures = append(failures, fmt.Errorf("%s held by %s and %s at once", k, other, job))
				}
				holders[k] = job
				mu.Unlock()
				stop, lost := lock.Keep(ctx, lease, 3*time.Second, nil)
				time.Sleep(1200 * time.Millisecond) // longer than a renewal interval
				stop()
				select {
				case err := <-lost:
					fail(fmt.Errorf("worker %d lost %s while keeping it: %w", w, k, err))
				default:
				}
				mu.Lock()
				delete(holders, k)
				mu.Unlock()
				if err := lease.Release(ctx); err != nil {
					fail(fmt.Errorf("worker %d release %s: %w", w, k, err))
				}
			}
		})
	}
	go func() {
		time.Sleep(1500 * time.Millisecond)
		close(stopAt)
	}()
	<-stopAt
	before := acquired.Load()
	cluster.Stop(2)
	time.Sleep(5 * time.Second)
	during := acquired.Load() - before
	close(done)
	wg.Wait()
	if err := cluster.Restart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, err := range failures {
		t.Error(err)
	}
	if during < 5 {
		t.Errorf("only %d leases were acquired in the 5 s after a node stopped; locking stalled", during)
	}
	t.Logf("leases acquired: %d (%d after the node stopped), refused: %d", acquired.Load(), during, refused.Load())
	l := open(t, 0, bucket)
	if h, err := l.Holders(ctx); err != nil || len(h) != 0 {
		t.Errorf("after every worker released: Holders = %v, %v", h, err)
	}
}

// A value that is not a lease of its key (garbage, another reply planted
// through a service that answered onto $KV, the lease of another device)
// is treated as expired: nobody holds the device, and the next job takes
// the key over with a lease that expires. Each is reported once.
func TestForeignValueIsExpired(t *testing.T) {
	ctx := context.Background()
	l := open(t, 0, newBucket())
	logs := &strings.Builder{}
	var mu sync.Mutex
	l.SetLogger(slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil)))
	other, err := l.Acquire(ctx, "globex/r9", lock.Info{Holder: "w", JobID: "J0"}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)
	foreignLease := lastMsg(t, l, "globex.r9").Data
	for i, v := range [][]byte{
		[]byte("not json"),
		[]byte(`{"snapshots":[],"more":false}`),
		[]byte(`{"status":"locked","job_id":"X","holder":"attacker"}`),
		foreignLease,
	} {
		key := fmt.Sprintf("acme/r%d", i)
		k := strings.Replace(key, "/", ".", 1)
		if _, err := l.kv.Put(ctx, k, v); err != nil { // no TTL: it would never expire by itself
			t.Fatal(err)
		}
		if h, err := l.Holder(ctx, key); err != nil || h != nil {
			t.Errorf("%s: holder of %q: %+v %v; want none", key, v, h, err)
		}
		if hs, err := l.Holders(ctx); err != nil || len(hs) != 1 {
			t.Errorf("%s: holders %v %v; want only globex/r9", key, hs, err)
		}
		ls, err := l.Acquire(ctx, key, lock.Info{Holder: "w", JobID: "J1"}, time.Second)
		if err != nil {
			t.Fatalf("%s: acquire over %q: %v", key, v, err)
		}
		if h, err := l.Holder(ctx, key); err != nil || h == nil || h.JobID != "J1" {
			t.Errorf("%s: holder after the take-over: %+v %v", key, h, err)
		}
		if m := lastMsg(t, l, k); m == nil || m.Header.Get("Nats-TTL") == "" {
			t.Errorf("%s: the lease that took over has no TTL", key)
		}
		if err := ls.Renew(ctx, api.StageExporting, time.Second); err != nil {
			t.Errorf("%s: renew: %v", key, err)
		}
		if err := ls.Release(ctx); err != nil {
			t.Errorf("%s: release: %v", key, err)
		}
	}
	if got := l.Skipped(); got != 4 {
		t.Errorf("skipped %d values, want 4", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "not a lease"); n != 4 {
		t.Errorf("%d log lines for 4 foreign values:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// FuzzDecode: whatever a lock's value holds, decoding never panics, and
// what it accepts is a lease of that key with a job.
func FuzzDecode(f *testing.F) {
	f.Add("acme/r1", encode("acme/r1", lock.Info{Holder: "h", JobID: "J"}))
	f.Add("acme/r1", encode("globex/r1", lock.Info{Holder: "h", JobID: "J"}))
	f.Add("acme/r1", []byte(`{"key":"acme/r1"}`))
	f.Add("acme/r1", []byte(`{"key":"acme/r1","job_id":"J","since_ms":-9223372036854775808,"expires_ms":9223372036854775807}`))
	f.Add("", []byte(`null`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		i, err := decode(key, data)
		if err != nil {
			return
		}
		var v value
		if json.Unmarshal(data, &v) != nil || v.Key != key || i.JobID == "" {
			t.Errorf("accepted %q for %q: %+v", data, key, i)
		}
	})
}

// TestRenewAfterALostAnswer: a renewal that landed while its caller gave
// up waiting (a stream leader being elected) leaves the key a revision
// ahead of the lease. The next renewal finds its own job there and renews
// on top, instead of declaring the lease lost and killing the backup.
func TestRenewAfterALostAnswer(t *testing.T) {
	ctx := context.Background()
	l := open(t, 2, newBucket())
	held, err := l.Acquire(ctx, "acme/r1", lock.Info{Holder: "w1", JobID: "J1"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	landed := held.Info()
	landed.Stage = api.StageConnecting
	if _, err := l.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + l.bucket + ".acme.r1", Data: encode("acme/r1", landed)},
		jetstream.WithExpectLastSequencePerSubject(held.(*lease).rev), jetstream.WithMsgTTL(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := held.Renew(ctx, api.StageExporting, 5*time.Second); err != nil {
		t.Fatalf("renewal after an earlier one landed unanswered: %v", err)
	}
	if h, err := l.Holder(ctx, "acme/r1"); err != nil || h == nil || h.Stage != api.StageExporting {
		t.Errorf("holder after the renewal: %+v %v", h, err)
	}
	if err := held.Release(ctx); err != nil {
		t.Errorf("release: %v", err)
	}
	// Another job's lease is still a loss.
	other, err := l.Acquire(ctx, "acme/r2", lock.Info{Holder: "w1", JobID: "J2"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	thief := other.Info()
	thief.JobID = "J3"
	if _, err := l.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + l.bucket + ".acme.r2", Data: encode("acme/r2", thief)},
		jetstream.WithExpectLastSequencePerSubject(other.(*lease).rev), jetstream.WithMsgTTL(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := other.Renew(ctx, api.StageExporting, 5*time.Second); !errors.Is(err, lock.ErrLost) {
		t.Errorf("renewal of a lease another job holds: %v, want ErrLost", err)
	}
}

func TestRoundTTL(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		time.Nanosecond: time.Second, 30 * time.Millisecond: time.Second, time.Second: time.Second,
		time.Second + 1: 2 * time.Second, 30 * time.Second: 30 * time.Second,
	} {
		if got := roundTTL(in); got != want {
			t.Errorf("roundTTL(%v) = %v, want %v", in, got, want)
		}
	}
}
