package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
)

// TestServeJetStreamScheduleMetrics runs `cfgsnap serve --store jetstream
// --schedule` on its embedded NATS: the scheduler backs the fleet up on its
// own (trigger "scheduled"), history is read from JetStream over NATS, and
// /metrics and /healthz report it.
func TestServeJetStreamScheduleMetrics(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("globex", "edge-1", "6.49.10")})
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	url := "nats://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, _, serr := l.start(ctx, "serve", "--listen", addr, "--store", "jetstream", "--schedule", "2s",
		"--metrics-listen", metricsAddr)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, url, l.clientSeed())

	deadline := time.Now().Add(30 * time.Second)
	for {
		h := l.run("--nats", url, "history", "globex/edge-1", "--json")
		if h.code == 0 && strings.Contains(h.stdout, `"trigger":"scheduled"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled backup within 30s: %q %q\nserve: %s", h.stdout, h.stderr, serr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := l.run("--nats", url, "backup", "acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("manual backup on the JetStream store: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	// The SQLite store in the data dir was not used: history lives in JetStream.
	if d := l.run("--direct", "history", "acme/core-rtr-1", "--json"); strings.Contains(d.stdout, "sha256") {
		t.Errorf("the backup went to SQLite too: %s", d.stdout)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := get("/metrics")
	for _, want := range []string{`cfgsnap_backups_total{outcome="success",trigger="scheduled"}`,
		`cfgsnap_backups_total{outcome="success",trigger="manual"} 1`, "cfgsnap_queue_depth"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, m)
		}
	}
	if h := get("/healthz"); !strings.Contains(h, "jetstream: ok") || !strings.Contains(h, "nats: ok") {
		t.Errorf("/healthz: %s", h)
	}
}
