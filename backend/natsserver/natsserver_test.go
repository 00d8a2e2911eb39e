package natsserver_test

import (
	"context"
	"errors"
	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/natsauth"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
)

func TestStartLogsToSlogWithJetStream(t *testing.T) {
	var logs natstest.LogBuffer
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

// authServer starts a server with the credentials natsauth prepares in a
// fresh data dir.
func authServer(t *testing.T) (*natsserver.Server, *natsauth.Embedded) {
	t.Helper()
	dir := t.TempDir()
	auth, err := natsauth.Prepare(filepath.Join(dir, "data"), natsauth.ClientSeedPath(filepath.Join(dir, "config")), "", "tester")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsserver.Start(context.Background(), natsserver.Options{Listen: "127.0.0.1:0",
		StoreDir: filepath.Join(dir, "nats"), NKeys: auth.Users("cfgsnap", "")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return ns, auth
}

// connectAs connects with an nkey seed file and collects the permission
// errors the server sends back asynchronously.
func connectAs(t *testing.T, url, seed string, more ...nats.Option) (*nats.Conn, <-chan error) {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	nc, err := nats.Connect(url, append([]nats.Option{opt, nats.PermissionErrOnSubscribe(true)}, more...)...)
	if err != nil {
		t.Fatalf("connect with %s: %v", seed, err)
	}
	t.Cleanup(nc.Close)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	return nc, errs
}

// connectClient connects as a client does (backend/client): replies come
// to the client's own inbox, api.NKeyInbox of its public key.
func connectClient(t *testing.T, url, seed string) (*nats.Conn, <-chan error) {
	t.Helper()
	return connectAs(t, url, seed, nats.CustomInboxPrefix(api.NKeyInbox(mustPub(t, seed))))
}

// denied reports whether publishing subject is refused by the server.
func denied(t *testing.T, nc *nats.Conn, errs <-chan error, subject string) bool {
	t.Helper()
	if err := nc.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("publish %s: unexpected error %v", subject, err)
		}
		return true
	case <-time.After(300 * time.Millisecond):
		return false
	}
}

func TestAuthRefusesStrangersAndLimitsEachCredential(t *testing.T) {
	ns, auth := authServer(t)
	url := ns.URL()
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("a connection without credentials was let in")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("without credentials: %v, want an authorization violation", err)
	}
	stranger := filepath.Join(t.TempDir(), "stranger.nk")
	if _, err := natsauth.NewClientSeed(stranger, "", ""); err != nil {
		t.Fatal(err)
	}
	strangerOpt, err := nats.NkeyOptionFromSeed(stranger)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(url, strangerOpt); err == nil {
		nc.Close()
		t.Fatal("a key not in the clients file was let in")
	}

	svc, svcErrs := connectAs(t, url, auth.ServiceSeed)
	cli, cliErrs := connectClient(t, url, auth.ClientSeed)

	// The service answers a client's request on a service subject.
	if _, err := svc.Subscribe("cfgsnap.snapshot.get.*", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, err := cli.Request("cfgsnap.snapshot.get.acme", []byte("{}"), 2*time.Second); err != nil || string(r.Data) != "ok" {
		t.Fatalf("client request: %v %v", r, err)
	}
	js, err := jetstream.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Fatalf("the service cannot use JetStream: %v", err)
	}
	if denied(t, svc, svcErrs, "_INBOX.abc") || denied(t, svc, svcErrs, "cfgsnap.backup.progress.acme.r1") {
		t.Error("the service may not reply to an inbox or publish progress")
	}
	if !denied(t, svc, svcErrs, "other.subject") {
		t.Error("the service may publish outside its subjects, JetStream and inboxes")
	}

	// The client may not impersonate the service or reach JetStream.
	for _, subj := range []string{"cfgsnap.snapshot.created.acme.core-rtr-1", "cfgsnap.backup.progress.acme.x",
		"_INBOX.someone", "$JS.API.INFO", "$KV.cfgsnap-locks.acme", "cfgsnap.history.acme.x"} {
		if !denied(t, cli, cliErrs, subj) {
			t.Errorf("the client may publish %s", subj)
		}
	}
	if _, err := cli.SubscribeSync("cfgsnap.snapshot.get.*"); err == nil {
		if err = cli.Flush(); err == nil {
			select {
			case err = <-cliErrs:
			case <-time.After(300 * time.Millisecond):
			}
		}
		if err == nil {
			t.Error("the client may subscribe to the service's request subjects")
		}
	}
	jcli, err := jetstream.New(cli)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := jcli.AccountInfo(ctx); err == nil {
		t.Error("the client can use JetStream")
	}

	// A key the operator adds is let in after SetNKeys.
	if err := natsauth.Allow(auth.ClientsFile, mustPub(t, stranger), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := auth.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetNKeys(auth.Users("cfgsnap", "")); err != nil {
		t.Fatal(err)
	}
	alice, aliceErrs := connectClient(t, url, stranger)
	if r, err := alice.Request("cfgsnap.snapshot.get.acme", []byte("{}"), 2*time.Second); err != nil || string(r.Data) != "ok" {
		t.Fatalf("the added key cannot use the service: %v %v", r, err)
	}
	// One engineer's client cannot read the replies sent to another's:
	// neither all inboxes nor the other's own inbox.
	for _, subj := range []string{"_INBOX.>", api.NKeyInbox(mustPub(t, auth.ClientSeed)) + ".>"} {
		if _, err := alice.Subscribe(subj, func(*nats.Msg) {}); err == nil {
			if err = alice.Flush(); err == nil {
				select {
				case err = <-aliceErrs:
				case <-time.After(300 * time.Millisecond):
				}
			}
			if err == nil {
				t.Errorf("a client may subscribe to %s", subj)
			}
		}
	}
}

func mustPub(t *testing.T, seed string) string {
	t.Helper()
	pub, _, err := natsauth.ReadClientSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
