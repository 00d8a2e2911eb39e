package jskv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/natstest"
)

// A key's life as Last sees it on a real server: none before the first
// write, the value and its revision after, a marker after a delete and a
// purge; and Conflict tells a lost revision check from other errors.
func TestLastFollowsAKeyAndConflictTellsALostRace(t *testing.T) {
	c := natstest.Start(t, 1)
	js, err := jetstream.New(c.Connect(t, c.NodeURL(0)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := Open(ctx, js, jetstream.KeyValueConfig{Bucket: "jskv_test", History: 1})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if st, err := kv.Status(ctx); err != nil || st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 1 {
		t.Fatalf("replicas 0 should open an R1 bucket: %v", err)
	}

	if e, err := Last(ctx, js, "jskv_test", "acme.r1"); err != nil || e != nil {
		t.Fatalf("never written: %+v, %v; want nil, nil", e, err)
	}
	rev, err := kv.Create(ctx, "acme.r1", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Last(ctx, js, "jskv_test", "acme.r1")
	if err != nil || e == nil || e.Seq != rev || string(e.Data) != "one" || e.Deleted {
		t.Fatalf("after create: %+v, %v; want revision %d, \"one\"", e, err, rev)
	}

	_, err = kv.Create(ctx, "acme.r1", []byte("two"))
	if !Conflict(err) {
		t.Fatalf("second create: %v, want a conflict", err)
	}
	_, err = kv.Update(ctx, "acme.r1", []byte("two"), rev+100)
	if !Conflict(err) {
		t.Fatalf("update at a wrong revision: %v, want a conflict", err)
	}
	if Conflict(nil) || Conflict(errors.New("connection closed")) {
		t.Fatal("nil or an unrelated error counted as a conflict")
	}

	if err := kv.Delete(ctx, "acme.r1"); err != nil {
		t.Fatal(err)
	}
	if e, err := Last(ctx, js, "jskv_test", "acme.r1"); err != nil || e == nil || !e.Deleted || e.Seq <= rev {
		t.Fatalf("after delete: %+v, %v; want a later delete marker", e, err)
	}
	if err := kv.Purge(ctx, "acme.r1"); err != nil {
		t.Fatal(err)
	}
	if e, err := Last(ctx, js, "jskv_test", "acme.r1"); err != nil || e == nil || !e.Deleted {
		t.Fatalf("after purge: %+v, %v; want a purge marker", e, err)
	}

	var apiErr *jetstream.APIError
	if _, err := Last(ctx, js, "no_such_bucket", "acme.r1"); !errors.As(err, &apiErr) {
		t.Fatalf("missing bucket: %v, want the API's error", err)
	}
}

func TestParseHeader(t *testing.T) {
	h, err := parseHeader([]byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n"))
	if err != nil || h.Get("KV-Operation") != "DEL" {
		t.Fatalf("delete marker headers: %v, %v", h, err)
	}
	if h, err := parseHeader(nil); err != nil || len(h) != 0 {
		t.Fatalf("no headers: %v, %v", h, err)
	}
	if _, err := parseHeader([]byte("HTTP/1.1 200 OK\r\n\r\n")); err == nil {
		t.Fatal("headers without NATS/1.0 were accepted")
	}
}
