package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
)

func startNATS(t *testing.T, listen string) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.Start(context.Background(), natsserver.Options{Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func dial(t *testing.T, url string, opts client.RemoteOptions) *client.Remote {
	t.Helper()
	nc, err := client.DialNATS(context.Background(), url, client.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := client.NewRemote(nc, "", opts)
	t.Cleanup(func() { r.Close() })
	return r
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestDialUnreachable(t *testing.T) {
	url := fmt.Sprintf("nats://user:secret@127.0.0.1:%d", freePort(t))
	start := time.Now()
	_, err := client.DialNATS(context.Background(), url, client.NATSOptions{})
	if api.KindOf(err) != api.KindUnreachable {
		t.Fatalf("dial a closed port: %v (kind %s), want unreachable", err, api.KindOf(err))
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the URL's password: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s to say the server is not there", d)
	}
}

func TestNoServiceIsUnreachable(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	r := dial(t, ns.URL(), client.RemoteOptions{})
	ctx := context.Background()
	start := time.Now()
	rep, err := r.Backup(ctx, "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if api.KindOf(err) != api.KindUnreachable || rep.Status != api.StatusFailed || !strings.Contains(err.Error(), "no backup service") {
		t.Fatalf("backup with no service: %+v %v", rep, err)
	}
	if _, _, err := r.History(ctx, "acme", "core-rtr-1", 5, ""); api.KindOf(err) != api.KindUnreachable {
		t.Fatalf("history with no service: %v", err)
	}
	if _, err := r.Tenants(ctx); api.KindOf(err) != api.KindUnreachable {
		t.Fatalf("tenants with no service: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("no responders took %s to notice", d)
	}
	if r.ConnState() != client.ConnConnected || !strings.HasPrefix(r.Where(), "nats://127.0.0.1:") {
		t.Errorf("state %s at %s", r.ConnState(), r.Where())
	}
}

// TestNothingBufferedAcrossReconnect: a trigger attempted while the
// connection is down fails at once and is never delivered after the
// reconnect.
func TestNothingBufferedAcrossReconnect(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ns, err := natsserver.Start(context.Background(), natsserver.Options{Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	r := dial(t, ns.URL(), client.RemoteOptions{})
	ns.Shutdown()
	waitState(t, r, client.ConnReconnecting)

	start := time.Now()
	_, err = r.Backup(context.Background(), "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if api.KindOf(err) != api.KindUnreachable || time.Since(start) > 2*time.Second {
		t.Fatalf("backup while disconnected: %v after %s, want unreachable at once", err, time.Since(start))
	}

	ns2 := startNATS(t, listen)
	watcher, err := nats.Connect(ns2.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	got, err := watcher.SubscribeSync("cfgsnap.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	waitState(t, r, client.ConnConnected)
	if m, err := got.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("a trigger was delivered after the reconnect: %s %s", m.Subject, m.Data)
	}
}

func waitState(t *testing.T, r *client.Remote, want client.ConnState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.ConnState() != want {
		if time.Now().After(deadline) {
			t.Fatalf("connection state %s, want %s", r.ConnState(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeGet answers snapshot.get with a reply cut into chunks by send.
func fakeGet(t *testing.T, url string, send func(nc *nats.Conn, inbox string, body []byte)) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	content := strings.Repeat("/ip address add address=10.0.0.1/24 interface=ether1\n", 40000) // ~2 MB
	sum := sha256.Sum256([]byte(content))
	body, _ := json.Marshal(api.GetReply{SnapshotRecord: api.SnapshotRecord{SnapshotID: "01J0000000000000000000000A",
		TenantID: "acme", DeviceID: "r1", SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(content))}, Content: content})
	if _, err := nc.Subscribe("cfgsnap.snapshot.get.acme", func(m *nats.Msg) { send(nc, m.Reply, body) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func chunks(body []byte, size int) [][]byte {
	var out [][]byte
	for len(body) > size {
		out = append(out, body[:size])
		body = body[size:]
	}
	return append(out, body)
}

func publishChunks(nc *nats.Conn, inbox string, parts [][]byte, n int, whole []byte) {
	for i, p := range parts {
		_ = nc.PublishMsg(&nats.Msg{Subject: inbox, Data: p,
			Header: nats.Header{api.HeaderChunk: {fmt.Sprintf("%d/%d", i+1, n)}}})
	}
	sum := sha256.Sum256(whole)
	_ = nc.PublishMsg(&nats.Msg{Subject: inbox, Header: nats.Header{api.HeaderEvent: {api.EventFinal},
		api.HeaderChunks: {fmt.Sprint(n)}, api.HeaderSHA256: {hex.EncodeToString(sum[:])}}})
}

func TestChunkedReplies(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		send func(nc *nats.Conn, inbox string, body []byte)
		want string // "" = success
		max  int64  // RemoteOptions.MaxReplyBytes
	}{
		{"in order", func(nc *nats.Conn, inbox string, body []byte) {
			parts := chunks(body, 900<<10)
			publishChunks(nc, inbox, parts, len(parts), body)
		}, "", 0},
		{"out of order", func(nc *nats.Conn, inbox string, body []byte) {
			parts := chunks(body, 900<<10)
			parts[0], parts[1] = parts[1], parts[0]
			_ = nc.PublishMsg(&nats.Msg{Subject: inbox, Data: parts[0], Header: nats.Header{api.HeaderChunk: {"2/3"}}})
		}, "out of order", 0},
		{"a chunk missing", func(nc *nats.Conn, inbox string, body []byte) {
			parts := chunks(body, 900<<10)
			publishChunks(nc, inbox, parts[:len(parts)-1], len(parts), body)
		}, "chunks", 0},
		{"damaged", func(nc *nats.Conn, inbox string, body []byte) {
			parts := chunks(body, 900<<10)
			bad := append([]byte(nil), body...)
			bad[len(bad)/2] ^= 1
			publishChunks(nc, inbox, parts, len(parts), bad)
		}, "damaged", 0},
		// Bounded reassembly: a reply larger than the client's limit is
		// refused with a clear error as soon as it is known, not held.
		{"over the size limit", func(nc *nats.Conn, inbox string, body []byte) {
			parts := chunks(body, 900<<10)
			publishChunks(nc, inbox, parts, len(parts), body)
		}, "exceeds this client's limit of 1 MiB", 1 << 20},
		{"announced too many chunks", func(nc *nats.Conn, inbox string, body []byte) {
			parts := chunks(body, 900<<10)
			publishChunks(nc, inbox, parts, 100000, body)
		}, "more than 513 chunks", 0},
		{"tiny chunks", func(nc *nats.Conn, inbox string, body []byte) {
			// Honest-looking headers, but chunks far below max_payload: the
			// count cap (limit / half of max_payload) stops them.
			parts := chunks(body, 512)
			publishChunks(nc, inbox, parts, len(parts), body)
		}, "more than 5 chunks", 2 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := startNATS(t, "127.0.0.1:0")
			fakeGet(t, ns.URL(), c.send)
			r := dial(t, ns.URL(), client.RemoteOptions{MaxReplyBytes: c.max})
			rec, content, err := r.Snapshot(ctx, "acme", "r1", "latest")
			if c.want == "" {
				if err != nil || int64(len(content)) != rec.SizeBytes || rec.SnapshotID == "" {
					t.Fatalf("%v: %d bytes of %d", err, len(content), rec.SizeBytes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error about %q", err, c.want)
			}
		})
	}
}

// TestStallIsATimeout: a service that acknowledges a trigger and then goes
// silent is given up after the stall timeout, with a failed reply.
func TestStallIsATimeout(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Subscribe("cfgsnap.backup.trigger.acme", func(m *nats.Msg) {
		ev, _ := json.Marshal(api.ProgressEvent{JobID: "J1", TenantID: "acme", DeviceID: "r1", Stage: api.StageQueued})
		_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Data: ev, Header: nats.Header{api.HeaderEvent: {api.EventProgress}}})
	}); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	r := dial(t, ns.URL(), client.RemoteOptions{StallTimeout: 300 * time.Millisecond})
	var stages []api.Stage
	start := time.Now()
	rep, err := r.Backup(context.Background(), "acme", "r1", client.BackupOptions{}, func(ev api.ProgressEvent) { stages = append(stages, ev.Stage) })
	if api.KindOf(err) != api.KindTimeout || rep.Status != api.StatusFailed || rep.ErrorKind != api.KindTimeout || rep.JobID != "J1" {
		t.Fatalf("%+v %v", rep, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %s with a 300ms stall timeout", d)
	}
	if len(stages) != 1 || stages[0] != api.StageQueued {
		t.Errorf("progress seen: %v", stages)
	}
}

func TestWatchDevice(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	r := dial(t, ns.URL(), client.RemoteOptions{})
	updates := make(chan client.Update, 8)
	stop, err := r.WatchDevice(context.Background(), "acme", "r1", func(u client.Update) { updates <- u })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ev, _ := json.Marshal(api.ProgressEvent{JobID: "J1", Stage: api.StageExporting})
	fin, _ := json.Marshal(api.TriggerReply{Status: api.StatusSuccess, JobID: "J1"})
	_ = nc.PublishMsg(&nats.Msg{Subject: "cfgsnap.backup.progress.acme.r1", Data: ev, Header: nats.Header{api.HeaderEvent: {api.EventProgress}}})
	_ = nc.PublishMsg(&nats.Msg{Subject: "cfgsnap.backup.progress.acme.r1", Data: fin, Header: nats.Header{api.HeaderEvent: {api.EventFinal}}})
	_ = nc.PublishMsg(&nats.Msg{Subject: "cfgsnap.backup.progress.acme.r2", Data: ev, Header: nats.Header{api.HeaderEvent: {api.EventProgress}}})
	u := <-updates
	if u.Progress == nil || u.Progress.Stage != api.StageExporting {
		t.Fatalf("first update: %+v", u)
	}
	u = <-updates
	if u.Final == nil || u.Final.Status != api.StatusSuccess {
		t.Fatalf("second update: %+v", u)
	}
	select {
	case u := <-updates:
		t.Fatalf("an update of another device: %+v", u)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := r.WatchDevice(context.Background(), "acme", "r.*", func(client.Update) {}); api.KindOf(err) != api.KindBadRequest {
		t.Fatalf("watch with a wildcard ID: %v", err)
	}
}

// TestSearchWaitsPastRequestTimeout: a search may take the service seconds
// (its first one reads every latest configuration), far past the
// per-message RequestTimeout; the client waits for it, and for changes.
func TestSearchWaitsPastRequestTimeout(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const slow = 800 * time.Millisecond
	for subj, rep := range map[string]any{
		"cfgsnap.search.acme":  api.SearchReply{Matches: []api.SearchMatch{{TenantID: "acme", DeviceID: "r1", Line: 3, Text: "set name=r1"}}, Devices: 1},
		"cfgsnap.changes.acme": api.ChangesReply{Changes: []api.Change{{TenantID: "acme", DeviceID: "r1", Kind: api.ChangeNew}}},
	} {
		data, _ := json.Marshal(rep)
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) {
			time.Sleep(slow)
			_ = m.Respond(data)
		}); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	r := dial(t, ns.URL(), client.RemoteOptions{RequestTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	start := time.Now()
	rep, err := r.Search(ctx, api.SearchRequest{Pattern: "name", TenantID: "acme"})
	if err != nil || len(rep.Matches) != 1 || rep.Matches[0].Text != "set name=r1" || rep.Devices != 1 {
		t.Fatalf("slow search: %+v %v", rep, err)
	}
	if d := time.Since(start); d < slow {
		t.Errorf("answered after %s, before the responder did", d)
	}
	ch, err := r.Changes(ctx, api.ChangesRequest{Since: time.Now().Add(-time.Hour), TenantID: "acme"})
	if err != nil || len(ch.Changes) != 1 || ch.Changes[0].DeviceID != "r1" {
		t.Fatalf("slow changes: %+v %v", ch, err)
	}
}
