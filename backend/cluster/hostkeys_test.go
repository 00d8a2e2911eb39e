package cluster

import (
	"context"
	"testing"
	"time"
)

// TestHostKeysBucketFollowsTheStore: the host key bucket is named after the
// prefix like the other parts, has the store's replicas, and is part of the
// health check.
func TestHostKeysBucketFollowsTheStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := newPrefix()
	js := jetStream(t, cluster.Connect(t, cluster.URL()))
	parts, err := Open(ctx, js, Options{Prefix: prefix, Replicas: 3, Keys: testKeys()})
	if err != nil {
		t.Fatal(err)
	}
	_, content, _, _, _ := Names(prefix)
	if got, want := parts.HostKeys.Bucket(), HostKeysBucket(prefix); got != want || want != content[:len(content)-len("_content")]+"_hostkeys" {
		t.Fatalf("host key bucket %q, want %q beside %q", got, want, content)
	}
	if HostKeysBucket("") != "cfgsnap_hostkeys" {
		t.Errorf("default bucket %q", HostKeysBucket(""))
	}
	st, err := js.Stream(ctx, "KV_"+parts.HostKeys.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("host key bucket has %d replicas, want 3", r)
	}
	if err := parts.Check(ctx); err != nil {
		t.Errorf("health check: %v", err)
	}
	found := false
	for _, n := range parts.names {
		found = found || n == "KV_"+parts.HostKeys.Bucket()
	}
	if !found {
		t.Errorf("health check does not cover the host key bucket: %v", parts.names)
	}
}
