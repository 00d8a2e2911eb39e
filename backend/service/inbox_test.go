package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
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
	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/metrics"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// trustedServiceConf has the tenants of examples/nats-tenants.conf, but a
// service user allowed to publish anywhere, as the example had it before
// issue 11: what stops the attacks below is then the service alone.
const trustedServiceConf = `listen: 127.0.0.1:4222
authorization {
  users: [
    {user: cfgsnap-service, password: service-demo-password}
    {user: admin, password: admin-demo-password}
    {user: acme, password: acme-demo-password, permissions: {
      publish: {allow: ["cfgsnap.backup.trigger.acme", "cfgsnap.inventory.devices.acme", "cfgsnap.snapshot.list.acme", "cfgsnap.snapshot.get.acme"]}
      subscribe: {allow: ["_INBOX_acme.>", "cfgsnap.backup.progress.acme.>", "cfgsnap.snapshot.created.acme.>"]}}}
    {user: globex, password: globex-demo-password, permissions: {
      publish: {allow: ["cfgsnap.backup.trigger.globex", "cfgsnap.inventory.devices.globex", "cfgsnap.snapshot.list.globex", "cfgsnap.snapshot.get.globex"]}
      subscribe: {allow: ["_INBOX_globex.>", "cfgsnap.backup.progress.globex.>", "cfgsnap.snapshot.created.globex.>"]}}}
  ]
}
`

// TestRepliesOnlyToInboxes replays issue 11's attack: acme sends requests
// on its own subjects with reply subjects in globex's space, on the
// service's subjects, the JetStream API and KV buckets. The service must
// publish nothing outside inboxes, do nothing for a refused trigger, count
// each refusal and log each requester once; under the shipped example
// configuration and under one that trusts the service with everything.
func TestRepliesOnlyToInboxes(t *testing.T) {
	trusted := filepath.Join(t.TempDir(), "trusted.conf")
	if err := os.WriteFile(trusted, []byte(trustedServiceConf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, conf := range []struct{ name, path string }{{"service trusted", trusted}, {"shipped example", plainPasswords(t, tenantsConf)}} {
		t.Run(conf.name, func(t *testing.T) { replayReplyAttacks(t, conf.path) })
	}
}

func replayReplyAttacks(t *testing.T, conf string) {
	ctx := context.Background()
	h := newHarnessWith(t, devices(1), natsserver.Options{Listen: "127.0.0.1:0", ConfigFile: conf})
	logs := &natstest.LogBuffer{}
	m := metrics.New()
	st := h.stack()
	h.service(service.Config{Conn: h.conn(nats.UserInfo("cfgsnap-service", "service-demo-password")), Stack: st,
		Metrics: m, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		TenantInboxPrefixes: map[string][]string{"acme": {"_INBOX_acme"}, "globex": {"_INBOX_globex."}}})
	dial := func(user string) *client.Remote {
		// With the trailing dot, as serve's --inbox-prefix spells it.
		nc, err := client.DialNATS(ctx, h.ns.URL(), client.NATSOptions{User: user, Password: user + "-demo-password", InboxPrefix: "_INBOX_" + user + "."})
		if err != nil {
			t.Fatal(err)
		}
		r := client.NewRemote(nc, "", client.RemoteOptions{})
		t.Cleanup(func() { r.Close() })
		return r
	}
	acme, globex := dial("acme"), dial("globex")
	for _, b := range []struct {
		r      *client.Remote
		tenant string
	}{{acme, "acme"}, {globex, "globex"}} {
		if rep, err := b.r.Backup(ctx, b.tenant, "core-rtr-1", client.BackupOptions{}, nil); err != nil || rep.Status != api.StatusSuccess {
			t.Fatalf("%s backs up its own device: %+v %v", b.tenant, rep, err)
		}
	}
	globexBefore, _, err := st.Store.History(ctx, "globex", "core-rtr-1", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	acmeBefore, _, _ := st.Store.History(ctx, "acme", "core-rtr-1", 100, "")

	// A privileged observer sees everything published from now on.
	admin := h.conn(nats.UserInfo("admin", "admin-demo-password"))
	var mu sync.Mutex
	var seen []*nats.Msg
	if _, err := admin.Subscribe(">", func(m *nats.Msg) { mu.Lock(); seen = append(seen, m); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}

	raw := h.conn(nats.UserInfo("acme", "acme-demo-password"), nats.CustomInboxPrefix("_INBOX_acme"))
	targets := map[string]string{ // reply subject → the reason it is refused
		"_INBOX_globex.steal":                        "tenant_inbox",
		"_INBOX.someone":                             "tenant_inbox", // acme's replies go to _INBOX_acme only
		"cfgsnap.backup.progress.globex.core-rtr-1":  "not_inbox",
		"cfgsnap.snapshot.created.globex.core-rtr-1": "not_inbox",
		"cfgsnap.backup.trigger.globex":              "not_inbox",
		"cfgsnap.history.globex.core-rtr-1":          "not_inbox",
		"$KV.cfgsnap_locks.globex.core-rtr-1":        "not_inbox",
		"$JS.API.STREAM.DELETE.CFGSNAP_HISTORY":      "not_inbox",
		"_INBOX_acme":                                "tenant_inbox", // a bare prefix is nobody's inbox
	}
	requests := []struct{ subject, body string }{
		{"cfgsnap.snapshot.get.acme", `{"device_id":"core-rtr-1","sha256_hash":"latest"}`},
		{"cfgsnap.snapshot.list.acme", `{"device_id":"core-rtr-1"}`},
		{"cfgsnap.inventory.devices.acme", `{}`},
		{"cfgsnap.backup.trigger.acme", `{"device_id":"core-rtr-1"}`},
	}
	want := map[string]int{}
	sent := map[string]bool{}
	for reply, reason := range targets {
		for _, rq := range requests {
			for range 2 { // the same requester twice: one log line
				msg := &nats.Msg{Subject: rq.subject, Reply: reply, Data: []byte(rq.body), Header: nats.Header{}}
				if strings.Contains(rq.subject, "trigger") {
					msg.Header.Set(api.HeaderProgress, api.HeaderProgressValue)
				}
				if err := raw.PublishMsg(msg); err != nil {
					t.Fatal(err)
				}
				want[reason]++
				sent[rq.subject] = true
			}
		}
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	// acme still works for itself, with an answer on its own inbox.
	if _, _, err := acme.History(ctx, "acme", "core-rtr-1", 5, ""); err != nil {
		t.Fatalf("acme reads its own history after the attacks: %v", err)
	}
	time.Sleep(time.Second) // a backup started by a refused trigger would be under way

	mu.Lock()
	for _, m := range seen {
		if sent[m.Subject] && targets[m.Reply] != "" || m.Subject == "cfgsnap.snapshot.list.acme" || strings.HasPrefix(m.Subject, "_INBOX_acme.") {
			continue // the attacker's own requests, and acme's honest query and its answer
		}
		t.Errorf("published outside the requester's inbox: %s (reply %q): %.120s", m.Subject, m.Reply, m.Data)
	}
	mu.Unlock()

	globexAfter, _, err := st.Store.History(ctx, "globex", "core-rtr-1", 100, "")
	if err != nil || len(globexAfter) != len(globexBefore) || globexAfter[0].SnapshotID != globexBefore[0].SnapshotID {
		t.Errorf("globex's history changed: %d → %d records, %v", len(globexBefore), len(globexAfter), err)
	}
	if acmeAfter, _, _ := st.Store.History(ctx, "acme", "core-rtr-1", 100, ""); len(acmeAfter) != len(acmeBefore) {
		t.Errorf("a trigger with a refused reply subject ran a backup: %d → %d records", len(acmeBefore), len(acmeAfter))
	}
	for _, k := range []string{lock.Key("globex", "core-rtr-1"), lock.Key("acme", "core-rtr-1")} {
		if hld, err := st.Locker.Holder(ctx, k); err != nil || hld != nil {
			t.Errorf("lock %s after the attacks: %+v %v", k, hld, err)
		}
	}

	var prom bytes.Buffer
	if err := m.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	for reason, n := range want {
		line := fmt.Sprintf("cfgsnap_replies_refused_total{reason=%q} %d\n", reason, n)
		if !strings.Contains(prom.String(), line) {
			t.Errorf("metrics lack %q:\n%s", line, grepLines(prom.String(), "refused"))
		}
	}
	// One line per requester, however many requests it sent: two of each
	// here, and the same reply subject never twice.
	lines := grepLines(logs.String(), "request dropped")
	if len(lines) == 0 {
		t.Fatal("no refusal was logged")
	}
	for reply := range targets {
		if n := strings.Count(lines, "reply="+reply+" "); n > 1 {
			t.Errorf("reply subject %s logged %d times:\n%s", reply, n, lines)
		}
	}
	if n := strings.Count(lines, "\n"); n > len(targets) {
		t.Errorf("%d refusal lines for %d requesters:\n%s", n, len(targets), lines)
	}
}

func grepLines(s, word string) string {
	var out strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out.WriteString(l + "\n")
		}
	}
	return out.String()
}

// TestOverLongIDGetsAnErrorReply: an ID too long to echo whole in an error
// within max_payload is cut, so the requester reads an error instead of
// waiting for a timeout.
func TestOverLongIDGetsAnErrorReply(t *testing.T) {
	h := newHarness(t, devices(1))
	h.service(service.Config{Compat: true})
	nc := h.conn()
	// 400 000 quotes: 800 KB of JSON, quoted by %q to 800 KB and escaped
	// again by JSON to 1.6 MB, past the default 1 MiB max_payload.
	id := strings.Repeat(`\"`, 400_000)
	for _, c := range []struct{ subject, body string }{
		{"cfgsnap.snapshot.get.acme", `{"device_id":"` + id + `","sha256_hash":"latest"}`},
		{"cfgsnap.snapshot.list.acme", `{"device_id":"` + id + `"}`},
		{"cfgsnap.backup.trigger.acme", `{"device_id":"` + id + `"}`},
		{api.CompatTriggerSubject, `{"tenant_id":"acme","device_id":"` + id + `"}`},
	} {
		if int64(len(c.body)) > nc.MaxPayload() {
			t.Fatalf("request of %d bytes does not fit max_payload %d", len(c.body), nc.MaxPayload())
		}
		start := time.Now()
		m, err := nc.Request(c.subject, []byte(c.body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v after %s, want an error reply", c.subject, err, time.Since(start))
		}
		var rep struct {
			Error     string        `json:"error"`
			ErrorKind api.ErrorKind `json:"error_kind"`
		}
		if err := json.Unmarshal(m.Data, &rep); err != nil || rep.ErrorKind != api.KindBadRequest ||
			!strings.Contains(rep.Error, "invalid device ID") || !strings.Contains(rep.Error, "more bytes cut") {
			t.Errorf("%s: %.300s (%v)", c.subject, m.Data, err)
		}
		if len(m.Data) > 16<<10 {
			t.Errorf("%s: error reply of %d bytes", c.subject, len(m.Data))
		}
	}
}

func TestParseInboxPrefixes(t *testing.T) {
	all, by, err := service.ParseInboxPrefixes([]string{"_INBOX_ops", "acme=_INBOX_acme", "globex=_INBOX_globex.,globex=_INBOX_gx", "[initech=_INBOX_initech]"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(all) != "[_INBOX_ops.]" || fmt.Sprint(by["acme"]) != "[_INBOX_acme.]" ||
		fmt.Sprint(by["globex"]) != "[_INBOX_globex. _INBOX_gx.]" || fmt.Sprint(by["initech"]) != "[_INBOX_initech.]" {
		t.Errorf("got %v %v", all, by)
	}
	for _, bad := range []string{"_INBOX.*", "acme=_INBOX_acme.>", "bad tenant!=_INBOX_x", "=_INBOX_x", "acme=", "$JS.API", "cfgsnap.backup", "a..b"} {
		if _, _, err := service.ParseInboxPrefixes([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
