// Package natstest starts a real NATS cluster inside a test: three (or more)
// nats-server instances on 127.0.0.1 with routes between them and clustered
// JetStream, each with its own store directory. Tests of the JetStream store,
// the KV lock and the scheduler run against it so that replication, leader
// elections and a node going away are the real thing, not a mock. Nodes can
// be stopped and started again on the same ports and store directories.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ClusterName is the name of the cluster the nodes form.
const ClusterName = "cfgsnap-test"

// startTimeout bounds how long Start waits for the nodes to listen and for
// JetStream to elect a meta leader known to every node.
const startTimeout = 30 * time.Second

// Cluster is a running set of nodes.
type Cluster struct {
	nodes  []*node
	modify func(i int, o *server.Options)
}

type node struct {
	name        string
	dir         string
	clientPort  int
	clusterPort int

	mu  sync.Mutex
	srv *server.Server // nil while stopped
}

// Start runs an n-node cluster (n >= 1; JetStream clustering needs 3 for R3)
// and stops it when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c, err := New(n, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// New runs an n-node cluster with its store directories under dir, for a
// TestMain that shares one cluster between a package's tests. The caller
// stops it with Shutdown.
func New(n int, dir string) (*Cluster, error) { return NewWith(n, dir, nil) }

// NewWith is New with modify applied to node i's options before it starts
// (and restarts): TLS, users and permissions from a configuration under
// test. Ports, routes and the store directory are the cluster's.
func NewWith(n int, dir string, modify func(i int, o *server.Options)) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("natstest: a cluster needs at least one node, not %d", n)
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{modify: modify}
	for i := range n {
		c.nodes = append(c.nodes, &node{
			name:        "n" + strconv.Itoa(i+1),
			dir:         filepath.Join(dir, "n"+strconv.Itoa(i+1)),
			clientPort:  ports[2*i],
			clusterPort: ports[2*i+1],
		})
	}
	for i := range c.nodes {
		if err := c.startNode(i); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if err := c.WaitReady(startTimeout); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// freePorts reserves n distinct loopback ports by listening on them at once
// and closing the listeners; the nodes bind them right after. Fixed ports
// let a stopped node come back where the others and the clients expect it.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natstest: reserve a port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) options(i int) *server.Options {
	nd := c.nodes[i]
	var routes []string
	for j, other := range c.nodes {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", other.clusterPort))
		}
	}
	o := &server.Options{
		ServerName: nd.name,
		Host:       "127.0.0.1",
		Port:       nd.clientPort,
		NoSigs:     true,
		NoLog:      true,
		JetStream:  true,
		StoreDir:   nd.dir,
		// Small limits: a test never needs more, and the defaults reserve a
		// share of the machine's memory and disk per node.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  1 << 30,
	}
	if len(c.nodes) > 1 {
		o.Cluster = server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: nd.clusterPort}
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	if c.modify != nil {
		c.modify(i, o)
	}
	return o
}

func (c *Cluster) startNode(i int) error {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.srv != nil {
		return nil
	}
	srv, err := server.NewServer(c.options(i))
	if err != nil {
		return fmt.Errorf("natstest: node %s: %w", nd.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		srv.Shutdown()
		return fmt.Errorf("natstest: node %s did not listen on port %d within %v", nd.name, nd.clientPort, startTimeout)
	}
	nd.srv = srv
	return nil
}

// WaitReady waits until every running node routes to every other running
// node and agrees on a JetStream meta leader, which sees them all online.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("natstest: cluster not ready after %v: %w", timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *Cluster) ready() error {
	running := c.running()
	if len(running) == 0 {
		return errors.New("no node is running")
	}
	leaders := 0
	for _, s := range running {
		if len(c.nodes) > 1 && s.NumRoutes() < len(running)-1 {
			return fmt.Errorf("node %s has %d routes, want %d", s.Name(), s.NumRoutes(), len(running)-1)
		}
		if !s.JetStreamEnabled() {
			return fmt.Errorf("node %s has no JetStream yet", s.Name())
		}
		if len(c.nodes) > 1 && !s.JetStreamIsCurrent() {
			return fmt.Errorf("node %s does not know the meta leader yet", s.Name())
		}
		if len(c.nodes) == 1 || s.JetStreamIsLeader() {
			leaders++
		}
		// A node that just came back is offline to the meta leader until
		// its first stats arrive; placing a stream on it fails until then.
		if len(c.nodes) > 1 && s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) < len(running) {
			return fmt.Errorf("the meta leader %s sees %d of %d nodes online", s.Name(), len(s.JetStreamClusterPeers()), len(running))
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d meta leaders", leaders)
	}
	return nil
}

func (c *Cluster) running() []*server.Server {
	var out []*server.Server
	for _, nd := range c.nodes {
		nd.mu.Lock()
		if nd.srv != nil {
			out = append(out, nd.srv)
		}
		nd.mu.Unlock()
	}
	return out
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// URL returns the client URLs of every node, comma separated, as
// nats.Connect takes them: a client fails over to the others when its node
// stops.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.nodes))
	for i := range c.nodes {
		urls[i] = c.NodeURL(i)
	}
	return strings.Join(urls, ",")
}

// NodeURL is the client URL of node i (from 0).
func (c *Cluster) NodeURL(i int) string {
	return (&url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.nodes[i].clientPort))}).String()
}

// Server returns node i's server, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.srv
}

// Connect opens a client connection to url (URL or NodeURL), closed when
// the test ends. It reconnects quickly and forever, so that a test which
// stops a node sees the failover of a production client, only faster.
func (c *Cluster) Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	base := []nats.Option{
		nats.Name(t.Name()),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.MaxReconnects(-1),
		nats.Timeout(2 * time.Second),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Stop shuts node i down and waits until it has stopped; its store
// directory stays for Restart.
func (c *Cluster) Stop(i int) {
	nd := c.nodes[i]
	nd.mu.Lock()
	srv := nd.srv
	nd.srv = nil
	nd.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a stopped node i again with its ports and store directory
// and waits until the cluster is whole again.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if err := c.startNode(i); err != nil {
		return err
	}
	timeout := startTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	return c.WaitReady(timeout)
}

// Shutdown stops every node; Start has it run when the test ends.
func (c *Cluster) Shutdown() {
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Go(func() { c.Stop(i) })
	}
	wg.Wait()
}

// LogBuffer is a log that a server or service writes while the test reads
// it: an io.Writer safe for concurrent use.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
