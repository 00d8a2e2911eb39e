package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/cfgsnap/cfgsnap/backend/lock"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
)

// writeTLS writes a CA and one certificate for 127.0.0.1 signed by it,
// usable by servers, routes and clients, and returns the three paths.
func writeTLS(t *testing.T) (cert, key, ca string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cfgsnap test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("node.pem", "CERTIFICATE", der), write("node-key.pem", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER)
}

// exampleCluster starts three nodes with the TLS, users and permissions of
// examples/cluster (loopback ports instead of the example's hosts) and
// returns them with the CA file clients need. With plain, the users'
// bcrypt hashes are swapped for the demo passwords they hash (checked), so
// that connecting does not spend seconds in bcrypt under -race on a busy
// machine; the permissions are the example's either way.
func exampleCluster(t *testing.T, plain bool) (*natstest.Cluster, string) {
	t.Helper()
	cert, key, ca := writeTLS(t)
	t.Setenv("NATS_TLS_CERT", cert)
	t.Setenv("NATS_TLS_KEY", key)
	t.Setenv("NATS_TLS_CA", ca)
	t.Setenv("NATS_JS_KEY", rand.Text())
	var examples []*server.Options
	for i := 1; i <= 3; i++ {
		o, err := server.ProcessConfigFile(fmt.Sprintf("../../examples/cluster/node%d.conf", i))
		if err != nil {
			t.Fatalf("node%d.conf: %v", i, err)
		}
		if o.ServerName != fmt.Sprintf("nats%d", i) || !o.JetStream || o.JetStreamKey == "" || o.Cluster.Name != "cfgsnap" || len(o.Routes) != 3 ||
			o.TLSConfig == nil || o.Cluster.TLSConfig == nil || len(o.Users) != 5 {
			t.Fatalf("node%d.conf: name %q, jetstream %v, cluster %q, %d routes, tls %v, route tls %v, %d users",
				i, o.ServerName, o.JetStream, o.Cluster.Name, len(o.Routes), o.TLSConfig != nil, o.Cluster.TLSConfig != nil, len(o.Users))
		}
		if plain {
			o.Users = plainUsers(t, o.Users)
		}
		examples = append(examples, o)
	}
	tlsCluster, err := natstest.NewWith(3, t.TempDir(), func(i int, o *server.Options) {
		ex := examples[i]
		o.ServerName = ex.ServerName
		o.TLS, o.TLSConfig, o.TLSTimeout, o.TLSVerify = ex.TLS, ex.TLSConfig, ex.TLSTimeout, ex.TLSVerify
		o.Users = ex.Users
		o.Cluster.Name = ex.Cluster.Name
		o.Cluster.TLSConfig, o.Cluster.TLSTimeout = ex.Cluster.TLSConfig, ex.Cluster.TLSTimeout
		o.JetStreamKey, o.JetStreamCipher = ex.JetStreamKey, ex.JetStreamCipher
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tlsCluster.Shutdown)
	return tlsCluster, ca
}

var checkedHashes sync.Map // "hash|password" checked by plainUsers

// plainUsers returns users with each bcrypt hash replaced by the demo
// password it hashes ("<user>-demo-password", "service-demo-password").
func plainUsers(t *testing.T, users []*server.User) []*server.User {
	out := make([]*server.User, len(users))
	for i, u := range users {
		c := *u
		pw := strings.TrimPrefix(u.Username, "cfgsnap-") + "-demo-password"
		if _, ok := checkedHashes.Load(u.Password + "|" + pw); !ok {
			// bcrypt takes seconds under -race: check each hash once.
			if err := bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(pw)); err != nil {
				t.Errorf("user %s: the example's hash is not that of %q: %v", u.Username, pw, err)
			}
			checkedHashes.Store(u.Password+"|"+pw, true)
		}
		c.Password = pw
		out[i] = &c
	}
	return out
}

// TestClusterExample starts a three-node cluster from the configuration of
// examples/cluster (its TLS, users and permissions; loopback ports instead
// of the example's hosts) and checks what docs/deploy.md promises: the
// service stores snapshots and takes locks on R3 over TLS, a tenant can
// trigger its own devices but reaches neither another tenant's subjects nor
// JetStream (which holds every tenant's configurations), and a client
// without TLS is refused.
func TestClusterExample(t *testing.T) {
	tlsCluster, ca := exampleCluster(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	svc := tlsCluster.Connect(t, tlsCluster.URL(), nats.RootCAs(ca), nats.UserInfo("cfgsnap-service", "service-demo-password"))
	parts, err := Open(ctx, jetStream(t, svc), Options{Replicas: 3, Keys: testKeys()})
	if err != nil {
		t.Fatalf("the service cannot open its streams on the example cluster: %v", err)
	}
	lease, err := parts.Locker.Acquire(ctx, lock.Key("acme", "core-rtr-1"), lock.Info{Holder: "svc", JobID: "J1"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	if err := parts.Check(ctx); err != nil {
		t.Errorf("health check: %v", err)
	}
	// Something answering the acme trigger, as the service would.
	if _, err := svc.Subscribe("cfgsnap.backup.trigger.acme", func(m *nats.Msg) { _ = m.Respond([]byte(`{"status":"success"}`)) }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var violations []string
	acme := tlsCluster.Connect(t, tlsCluster.NodeURL(1), nats.RootCAs(ca), nats.UserInfo("acme", "acme-demo-password"),
		nats.CustomInboxPrefix("_INBOX_acme"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			violations = append(violations, err.Error())
			mu.Unlock()
		}))
	if _, err := acme.Request("cfgsnap.backup.trigger.acme", []byte(`{"device_id":"core-rtr-1"}`), 5*time.Second); err != nil {
		t.Errorf("acme cannot trigger its own device: %v", err)
	}
	if _, err := acme.Request("cfgsnap.backup.trigger.globex", []byte(`{"device_id":"x"}`), 500*time.Millisecond); err == nil {
		t.Error("acme triggered a globex device")
	}
	js, err := jetstream.New(acme)
	if err != nil {
		t.Fatal(err)
	}
	jctx, jcancel := context.WithTimeout(ctx, time.Second)
	defer jcancel()
	if _, err := js.AccountInfo(jctx); err == nil {
		t.Error("acme reached the JetStream API, and so every tenant's snapshots")
	}
	if _, err := acme.SubscribeSync("cfgsnap.history.>"); err != nil {
		t.Fatal(err)
	}
	if err := acme.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server's violation errors arrive asynchronously
	mu.Lock()
	got := strings.Join(violations, "\n")
	mu.Unlock()
	for _, want := range []string{"cfgsnap.backup.trigger.globex", "$JS.API", "cfgsnap.history.>"} {
		if !strings.Contains(got, want) {
			t.Errorf("no permissions violation for %s; the server said:\n%s", want, got)
		}
	}

	if nc, err := nats.Connect(tlsCluster.NodeURL(0), nats.UserInfo("acme", "acme-demo-password")); err == nil {
		nc.Close()
		t.Error("a client without TLS was let in")
	}
}
