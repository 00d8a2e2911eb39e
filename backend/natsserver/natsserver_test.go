package natsserver_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/natsserver"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStartLogsToSlogWithJetStream(t *testing.T) {
	var logs syncBuf
	store := filepath.Join(t.TempDir(), "nats")
	ns, err := natsserver.Start(context.Background(), natsserver.Options{
		Listen: "127.0.0.1:0", StoreDir: store, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	if !strings.HasPrefix(ns.URL(), "nats://127.0.0.1:") || strings.HasSuffix(ns.URL(), ":4222") {
		t.Fatalf("URL %s: want a free loopback port", ns.URL())
	}
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Fatalf("JetStream is not enabled: %v", err)
	}
	if st, err := os.Stat(store); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("store dir: %v %v, want mode 0700", st.Mode(), err)
	}
	if !strings.Contains(logs.String(), "component=nats-server") || !strings.Contains(logs.String(), "Server is ready") {
		t.Fatalf("the server's log did not reach the logger:\n%s", logs.String())
	}
}

func TestStartRefusesBadListen(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:http", "127.0.0.1:70000"} {
		if ns, err := natsserver.Start(context.Background(), natsserver.Options{Listen: listen}); err == nil {
			ns.Shutdown()
			t.Errorf("--listen %s accepted", listen)
		}
	}
	// A port in use is reported, not fatal to the process.
	ns, err := natsserver.Start(context.Background(), natsserver.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	addr := strings.TrimPrefix(ns.URL(), "nats://")
	if ns2, err := natsserver.Start(context.Background(), natsserver.Options{Listen: addr}); err == nil {
		ns2.Shutdown()
		t.Fatalf("a second server on %s started", addr)
	}
}
