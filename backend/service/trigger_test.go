package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// volatile are reply fields that differ on every run; the golden files hold
// a placeholder that says what kind of value was there.
var volatile = map[string]string{
	"job_id": "<ulid>", "snapshot_id": "<ulid>", "sha256_hash": "<sha256>", "previous_hash": "<sha256>",
	"collected_at": "<rfc3339>", "since": "<rfc3339>", "duration_ms": "<ms>", "size_bytes": "<bytes>",
}

// normalize replaces volatile values after checking their form, and
// returns indented JSON with sorted keys.
func normalize(t *testing.T, data []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("reply is not a JSON object: %v: %s", err, data)
	}
	var walk func(map[string]any)
	walk = func(m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(sub)
				continue
			}
			ph, ok := volatile[k]
			if !ok {
				continue
			}
			s, _ := v.(string)
			switch ph {
			case "<sha256>":
				if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
					t.Errorf("%s = %v: not a SHA-256", k, v)
				}
			case "<ulid>":
				if len(s) != 26 {
					t.Errorf("%s = %v: not a ULID", k, v)
				}
			case "<rfc3339>":
				if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
					t.Errorf("%s = %v: not RFC 3339", k, v)
				}
			default:
				if n, ok := v.(float64); !ok || n <= 0 {
					t.Errorf("%s = %v: not a positive number", k, v)
				}
			}
			m[k] = ph
		}
	}
	walk(m)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "compat", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("reply differs from %s:\n got: %s\nwant: %s", path, got, want)
	}
}

// TestCompatTriggerGolden sends the-other-dude's request to
// config.backup.trigger and checks each reply's exact shape (protocol.md
// §1 plus §3 fields), and that the service keeps serving after each.
func TestCompatTriggerGolden(t *testing.T) {
	h := newHarness(t, devices(1, slow("acme", "slow-1")))
	h.service(service.Config{Compat: true, Stack: h.stack(func(o *local.Options) { o.Holder = "ops@jump1" })})
	nc := h.conn()

	compat := func(body string) []*nats.Msg {
		return request(t, nc, &nats.Msg{Subject: api.CompatTriggerSubject, Data: []byte(body)}, anyMsg, 15*time.Second, 200*time.Millisecond)
	}
	alive := func() {
		t.Helper()
		if _, err := nc.Request(api.Subjects{}.Tenants(), []byte(`{}`), 5*time.Second); err != nil {
			t.Fatalf("the service stopped answering: %v", err)
		}
	}

	// Hold slow-1 with a cfgsnap trigger, so that the compat one is locked.
	hold := make(chan []*nats.Msg, 1)
	go func() {
		hdr := nats.Header{api.HeaderProgress: {api.HeaderProgressValue}}
		hold <- request(t, nc, &nats.Msg{Subject: "cfgsnap.backup.trigger.acme", Header: hdr,
			Data: []byte(`{"device_id":"slow-1"}`)}, isFinal, 20*time.Second, 0)
	}()
	waitStage(t, nc, "acme", "slow-1", api.StageExporting)

	cases := []struct{ name, body string }{
		{"success", `{"device_id": "core-rtr-1", "tenant_id": "acme"}`},
		{"locked", `{"device_id": "slow-1", "tenant_id": "acme"}`},
		{"bad_json", `{"device_id": "core-rtr-1", "tenant_id": }`},
		{"not_an_object", `["core-rtr-1", "acme"]`},
		{"missing_tenant", `{"device_id": "core-rtr-1"}`},
		{"bad_device_id", `{"device_id": "core.rtr.>", "tenant_id": "acme"}`},
		{"unknown_device", `{"device_id": "no-such-device", "tenant_id": "acme"}`},
		{"device_of_other_tenant", `{"device_id": "gx-edge-1", "tenant_id": "acme"}`},
		{"unknown_tenant", `{"device_id": "core-rtr-1", "tenant_id": "nobody"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs := compat(c.body)
			if len(msgs) != 1 {
				t.Fatalf("%d replies, want exactly 1", len(msgs))
			}
			if msgs[0].Header.Get(api.HeaderEvent) != "" {
				t.Errorf("the seed-compatible reply must not be marked as a stream event: %v", msgs[0].Header)
			}
			golden(t, c.name, normalize(t, msgs[0].Data))
			alive()
		})
	}
	// A device of another tenant and a device that does not exist must look
	// the same, apart from the ID itself.
	a := strings.ReplaceAll(string(readGolden(t, "device_of_other_tenant")), "gx-edge-1", "X")
	b := strings.ReplaceAll(string(readGolden(t, "unknown_device")), "no-such-device", "X")
	if a != b {
		t.Errorf("a device of another tenant is answered differently from an unknown one:\n%s\n%s", a, b)
	}
	if msgs := <-hold; len(msgs) == 0 || !isFinal(msgs[len(msgs)-1]) {
		t.Fatalf("the holding trigger got no final reply: %d messages", len(msgs))
	}
	// Still serving triggers after all of the above.
	msgs := compat(`{"device_id": "core-rtr-1", "tenant_id": "acme"}`)
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), `"status":"success"`) {
		t.Fatalf("after the bad requests: %d replies, %s", len(msgs), firstData(msgs))
	}
}

func readGolden(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "compat", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstData(msgs []*nats.Msg) string {
	if len(msgs) == 0 {
		return "(none)"
	}
	return string(msgs[0].Data)
}

// waitStage waits until a job on the device reports stage.
func waitStage(t *testing.T, nc *nats.Conn, tenant, device string, stage api.Stage) {
	t.Helper()
	ch := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(api.Subjects{}.Progress(tenant, device), ch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			var ev api.ProgressEvent
			if json.Unmarshal(m.Data, &ev) == nil && ev.Stage == stage {
				return
			}
		case <-timeout:
			t.Fatalf("%s/%s never reached stage %s", tenant, device, stage)
		}
	}
}

// waitHeld waits until some job holds the device's lock.
func waitHeld(t *testing.T, h *harness, key string) {
	t.Helper()
	st := h.stack()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := st.Locker.Holder(context.Background(), key); err == nil && info != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s was never locked", key)
}

func TestCompatSubjectCanBeSwitchedOff(t *testing.T) {
	h := newHarness(t, devices(1))
	h.service(service.Config{Compat: false})
	nc := h.conn()
	_, err := nc.Request(api.CompatTriggerSubject, []byte(`{"device_id":"core-rtr-1","tenant_id":"acme"}`), 2*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("config.backup.trigger with --compat-subject=false: %v, want no responders", err)
	}
	// The tenant-scoped subject still works.
	r := h.remote(client.RemoteOptions{})
	rep, err := r.Backup(context.Background(), "acme", "core-rtr-1", client.BackupOptions{}, nil)
	if err != nil || rep.Status != api.StatusSuccess {
		t.Fatalf("cfgsnap trigger: %+v, %v", rep, err)
	}
}

// TestTenantComesFromSubject: the payload cannot widen the subject's
// tenant, and IDs are checked before they are used in a subject.
func TestTenantComesFromSubject(t *testing.T) {
	h := newHarness(t, devices(1))
	h.service(service.Config{})
	nc := h.conn()
	ctx := context.Background()
	trigger := func(subject, body string) api.TriggerReply {
		t.Helper()
		msgs := request(t, nc, &nats.Msg{Subject: subject, Data: []byte(body)}, anyMsg, 10*time.Second, 100*time.Millisecond)
		if len(msgs) != 1 {
			t.Fatalf("%s %s: %d replies", subject, body, len(msgs))
		}
		var rep api.TriggerReply
		if err := json.Unmarshal(msgs[0].Data, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	for _, c := range []struct {
		subject, body string
		kind          api.ErrorKind
	}{
		{"cfgsnap.backup.trigger.acme", `{"device_id":"gx-edge-1"}`, api.KindNotFound},
		{"cfgsnap.backup.trigger.acme", `{"device_id":"core-rtr-1","tenant_id":"globex"}`, api.KindNotFound},
		{"cfgsnap.backup.trigger.globex", `{"device_id":"dev-1"}`, api.KindNotFound},
		{"cfgsnap.backup.trigger.ac%me", `{"device_id":"core-rtr-1"}`, api.KindBadRequest},
		{"cfgsnap.backup.trigger.acme", `{"device_id":"core-rtr-1*"}`, api.KindBadRequest},
		{"cfgsnap.backup.trigger.acme", `{"device_id":"` + strings.Repeat("a", 65) + `"}`, api.KindBadRequest},
		{"cfgsnap.backup.trigger.acme", ``, api.KindBadRequest},
	} {
		rep := trigger(c.subject, c.body)
		if rep.Status != api.StatusFailed || rep.ErrorKind != c.kind {
			t.Errorf("%s %s: %s/%s %q, want failed/%s", c.subject, c.body, rep.Status, rep.ErrorKind, rep.Error, c.kind)
		}
		if strings.Contains(rep.Error, "globex") && c.subject != "cfgsnap.backup.trigger.globex" {
			t.Errorf("%s %s: the error names the other tenant: %q", c.subject, c.body, rep.Error)
		}
	}
	// The same device ID in the subject's tenant is the one backed up.
	rep := trigger("cfgsnap.backup.trigger.globex", `{"device_id":"core-rtr-1"}`)
	if rep.Status != api.StatusSuccess || rep.TenantID != "globex" || rep.RouterOSVersion != "6.49.10" {
		t.Fatalf("globex/core-rtr-1: %+v", rep)
	}

	r := h.remote(client.RemoteOptions{})
	if _, _, err := r.History(ctx, "acme", "gx-edge-1", 10, ""); api.KindOf(err) != api.KindNotFound {
		t.Errorf("history of another tenant's device: %v, want not_found", err)
	}
	if _, _, err := r.Snapshot(ctx, "acme", "gx-edge-1", "latest"); api.KindOf(err) != api.KindNotFound {
		t.Errorf("snapshot of another tenant's device: %v, want not_found", err)
	}
	if _, err := r.Devices(ctx, "nobody"); api.KindOf(err) != api.KindNotFound {
		t.Errorf("devices of an unknown tenant: %v, want not_found", err)
	}
	if _, err := r.Backup(ctx, "acme", "a.b", client.BackupOptions{}, nil); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("a device ID with a dot: %v, want bad_request before anything is sent", err)
	}
}

// TestTwoInstancesOneReplyEach: with two services in the queue group, each
// trigger is answered exactly once (the original answered once per replica).
func TestTwoInstancesOneReplyEach(t *testing.T) {
	const n = 8
	h := newHarness(t, devices(n))
	h.service(service.Config{Compat: true, Stack: h.stack(func(o *local.Options) { o.Holder = "svc-a" })})
	h.service(service.Config{Compat: true, Stack: h.stack(func(o *local.Options) { o.Holder = "svc-b" })})
	nc := h.conn()

	// Both instances are registered with the services API.
	inbox := nc.NewInbox()
	pings, _ := nc.SubscribeSync(inbox)
	if err := nc.PublishRequest("$SRV.PING."+service.Name, inbox, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := pings.NextMsg(2 * time.Second); err != nil {
			t.Fatalf("ping answer %d of 2: %v", i+1, err)
		}
	}

	ids := []string{"core-rtr-1"}
	for i := 1; i < n; i++ {
		ids = append(ids, fmt.Sprintf("dev-%d", i))
	}
	var wg sync.WaitGroup
	replies := make([][]*nats.Msg, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = request(t, nc, &nats.Msg{Subject: api.CompatTriggerSubject,
				Data: []byte(`{"device_id":"` + id + `","tenant_id":"acme"}`)}, anyMsg, 20*time.Second, 500*time.Millisecond)
		}()
	}
	wg.Wait()
	for i, msgs := range replies {
		if len(msgs) != 1 {
			t.Errorf("acme/%s: %d replies, want exactly 1", ids[i], len(msgs))
			continue
		}
		if !strings.Contains(string(msgs[0].Data), `"status":"success"`) {
			t.Errorf("acme/%s: %s", ids[i], msgs[0].Data)
		}
	}
}

// TestConcurrentTriggersOneDevice: 50 triggers at once for one device give
// one success and 49 locked replies naming the running job.
func TestConcurrentTriggersOneDevice(t *testing.T) {
	h := newHarness(t, devices(1, slow("acme", "slow-1")))
	h.service(service.Config{Stack: h.stack(func(o *local.Options) { o.Holder = "ops@jump1" })})
	r := h.remote(client.RemoteOptions{})
	var wg sync.WaitGroup
	replies := make([]api.TriggerReply, 50)
	errs := make([]error, 50)
	start := make(chan struct{})
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			replies[i], errs[i] = r.Backup(context.Background(), "acme", "slow-1", client.BackupOptions{}, nil)
		}()
	}
	close(start)
	wg.Wait()
	var success []api.TriggerReply
	locked := 0
	for i, rep := range replies {
		if errs[i] != nil {
			t.Fatalf("trigger %d: %v", i, errs[i])
		}
		switch rep.Status {
		case api.StatusSuccess:
			success = append(success, rep)
		case api.StatusLocked:
			locked++
		default:
			t.Errorf("trigger %d: %s %s %s", i, rep.Status, rep.ErrorKind, rep.Error)
		}
	}
	if len(success) != 1 || locked != 49 {
		t.Fatalf("%d success, %d locked; want 1 and 49", len(success), locked)
	}
	for _, rep := range replies {
		if rep.Status != api.StatusLocked {
			continue
		}
		if rep.Message != api.MessageLocked || rep.Lock == nil || rep.Lock.Holder != "ops@jump1" ||
			rep.Lock.JobID != success[0].JobID || rep.Lock.Since.IsZero() || rep.Lock.Stage.Index() < 0 {
			t.Fatalf("locked reply does not say who holds the device: %+v lock %+v (running job %s)", rep, rep.Lock, success[0].JobID)
		}
	}
}

// TestProgressInOrderThenOneFinal checks the stream of protocol.md §4 on
// the requester's inbox, and the same events plus the final reply on the
// observers' subject, and snapshot.created.
func TestProgressInOrderThenOneFinal(t *testing.T) {
	h := newHarness(t, devices(1))
	h.service(service.Config{})
	nc := h.conn()
	observed := make(chan *nats.Msg, 256)
	if _, err := nc.ChanSubscribe("cfgsnap.backup.progress.acme.core-rtr-1", observed); err != nil {
		t.Fatal(err)
	}
	created := make(chan *nats.Msg, 4)
	if _, err := nc.ChanSubscribe("cfgsnap.snapshot.created.acme.*", created); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	hdr := nats.Header{api.HeaderProgress: {api.HeaderProgressValue}}
	msgs := request(t, nc, &nats.Msg{Subject: "cfgsnap.backup.trigger.acme", Header: hdr,
		Data: []byte(`{"device_id":"core-rtr-1","requested_by":"ops@jump1","reason":"CHG-1"}`)}, isFinal, 15*time.Second, 300*time.Millisecond)
	final := checkStream(t, "requester", msgs)
	if final.Status != api.StatusSuccess || !final.IsChanged() {
		t.Fatalf("final reply: %+v", final)
	}

	var obs []*nats.Msg
	for len(obs) == 0 || !isFinal(obs[len(obs)-1]) {
		select {
		case m := <-observed:
			obs = append(obs, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("observers got %d messages and no final", len(obs))
		}
	}
	if f := checkStream(t, "observer", obs); f.JobID != final.JobID || f.SHA256 != final.SHA256 {
		t.Errorf("observers' final %+v differs from the requester's %+v", f, final)
	}
	select {
	case m := <-created:
		var rec api.SnapshotRecord
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			t.Fatal(err)
		}
		if m.Subject != "cfgsnap.snapshot.created.acme.core-rtr-1" || rec.SnapshotID != final.SnapshotID ||
			rec.RequestedBy != "ops@jump1" || rec.Reason != "CHG-1" {
			t.Errorf("snapshot.created: %s %+v", m.Subject, rec)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no snapshot.created event")
	}
}

// checkStream checks stages in order, every stage present, exactly one
// final reply and nothing after it; it returns the final reply.
func checkStream(t *testing.T, who string, msgs []*nats.Msg) api.TriggerReply {
	t.Helper()
	last := -1
	seen := map[api.Stage]bool{}
	var final *api.TriggerReply
	for i, m := range msgs {
		switch m.Header.Get(api.HeaderEvent) {
		case api.EventProgress:
			if final != nil {
				t.Fatalf("%s: progress after the final reply (message %d)", who, i)
			}
			var ev api.ProgressEvent
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Stage.Index() < last {
				t.Fatalf("%s: stage %s after %s", who, ev.Stage, api.Stages[last])
			}
			last = ev.Stage.Index()
			seen[ev.Stage] = true
		case api.EventFinal:
			if final != nil {
				t.Fatalf("%s: a second final reply", who)
			}
			final = new(api.TriggerReply)
			if err := json.Unmarshal(m.Data, final); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: message %d without %s header: %s", who, i, api.HeaderEvent, m.Data)
		}
	}
	if final == nil {
		t.Fatalf("%s: no final reply in %d messages", who, len(msgs))
	}
	for _, s := range api.Stages {
		if !seen[s] && final.Status == api.StatusSuccess {
			t.Errorf("%s: stage %s never reported", who, s)
		}
	}
	return *final
}

// TestHeartbeatKeepsAHangingJobAlive: a device that hangs after login sends
// nothing, but the service's heartbeats keep a client with a short stall
// timeout waiting for the job's own timeout verdict.
func TestHeartbeatKeepsAHangingJobAlive(t *testing.T) {
	h := newHarness(t, devices(1, devicesim.Spec{Tenant: "acme", ID: "hang-1", Fault: devicesim.FaultHangAfterAuth}))
	h.service(service.Config{Heartbeat: 100 * time.Millisecond,
		Stack: h.stack(func(o *local.Options) { o.Timeout = 2 * time.Second })})
	r := h.remote(client.RemoteOptions{StallTimeout: 800 * time.Millisecond})
	var events []api.ProgressEvent
	rep, err := r.Backup(context.Background(), "acme", "hang-1", client.BackupOptions{}, func(ev api.ProgressEvent) {
		events = append(events, ev)
	})
	if err != nil {
		t.Fatalf("the client gave up although heartbeats came: %v", err)
	}
	if rep.Status != api.StatusFailed || rep.ErrorKind != api.KindTimeout {
		t.Fatalf("reply: %s/%s %s, want failed/timeout", rep.Status, rep.ErrorKind, rep.Error)
	}
	var maxGap time.Duration
	for i := 1; i < len(events); i++ {
		maxGap = max(maxGap, events[i].At.Sub(events[i-1].At))
	}
	if len(events) < 8 || maxGap > 500*time.Millisecond {
		t.Fatalf("%d events, largest gap %s: want a heartbeat every 100ms", len(events), maxGap)
	}
}

// TestFullQueue: with one worker and a queue of one, a third trigger is
// refused at once, while the queued one reports its queued stage.
func TestFullQueue(t *testing.T) {
	h := newHarness(t, devices(1, slow("acme", "slow-1"), slow("acme", "slow-2"), slow("acme", "slow-3")))
	h.service(service.Config{Workers: 1, QueueDepth: 1})
	r := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	type result struct {
		rep    api.TriggerReply
		stages []api.Stage
	}
	run := func(id string) chan result {
		ch := make(chan result, 1)
		go func() {
			var res result
			res.rep, _ = r.Backup(ctx, "acme", id, client.BackupOptions{}, func(ev api.ProgressEvent) {
				res.stages = append(res.stages, ev.Stage)
			})
			ch <- res
		}()
		return ch
	}
	first := run("slow-1")
	waitHeld(t, h, "acme/slow-1")
	time.Sleep(200 * time.Millisecond) // the worker has taken slow-1 off the queue
	second := run("slow-2")
	waitHeld(t, h, "acme/slow-2")
	start := time.Now()
	third := <-run("slow-3")
	if third.rep.Status != api.StatusFailed || !strings.Contains(third.rep.Error, "busy") || time.Since(start) > 2*time.Second {
		t.Fatalf("third trigger with a full queue: %+v after %s, want an immediate busy failure", third.rep, time.Since(start))
	}
	for name, ch := range map[string]chan result{"first": first, "second": second} {
		res := <-ch
		if res.rep.Status != api.StatusSuccess {
			t.Errorf("%s: %+v", name, res.rep)
		}
		if len(res.stages) == 0 || res.stages[0] != api.StageQueued {
			t.Errorf("%s: stages %v, want queued first", name, res.stages)
		}
	}
	// The refusal did not leave slow-3 locked.
	if info, err := h.stack().Locker.Holder(ctx, "acme/slow-3"); err != nil || info != nil {
		t.Fatalf("slow-3 after the refusal: held by %+v %v", info, err)
	}
}

// TestServiceSurvivesGarbage sends random bytes and odd JSON to every
// subject; the service answers each that has a reply subject and keeps
// working.
func TestServiceSurvivesGarbage(t *testing.T) {
	h := newHarness(t, devices(1))
	h.service(service.Config{Compat: true})
	nc := h.conn()
	subjects := []string{api.CompatTriggerSubject, "cfgsnap.backup.trigger.acme", "cfgsnap.inventory.tenants",
		"cfgsnap.inventory.devices.acme", "cfgsnap.snapshot.list.acme", "cfgsnap.snapshot.get.acme",
		"cfgsnap.backup.trigger.-", "cfgsnap.snapshot.get.ACME_but_longer_than_sixty_four_characters_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
	seeds := []string{`{}`, `null`, `[]`, `"x"`, `{"device_id":null}`, `{"device_id":1}`, `{"device_id":"core-rtr-1","limit":-1}`,
		`{"device_id":"core-rtr-1","before":"zzz"}`, `{"device_id":"core-rtr-1","sha256_hash":"abc"}`,
		`{"device_id":"core-rtr-1","sha256_hash":"../../etc"}`, "\xff\xfe", `{"device_id":"core-rtr-1","tenant_id":"acme","reason":"` + strings.Repeat("x", 5000) + `"}`}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		seeds = append(seeds, string(b))
	}
	for _, subj := range subjects {
		for _, body := range seeds {
			m, err := nc.Request(subj, []byte(body), 5*time.Second)
			if err != nil {
				t.Fatalf("%s %q: %v", subj, body, err)
			}
			if !json.Valid(m.Data) {
				t.Fatalf("%s %q: reply is not JSON: %q", subj, body, m.Data)
			}
		}
	}
	stats, err := nc.Request("$SRV.STATS."+service.Name, nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st micro.Stats
	if err := json.Unmarshal(stats.Data, &st); err != nil {
		t.Fatal(err)
	}
	errorsSeen := 0
	for _, e := range st.Endpoints {
		errorsSeen += e.NumErrors
	}
	if errorsSeen == 0 {
		t.Errorf("refused requests are not counted in the service stats: %s", stats.Data)
	}
	r := h.remote(client.RemoteOptions{})
	if rep, err := r.Backup(context.Background(), "acme", "core-rtr-1", client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
		t.Fatalf("after the garbage: %+v %v", rep, err)
	}
}
