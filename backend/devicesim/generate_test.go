package devicesim

import (
	"bytes"
	"testing"
	"time"
)

func TestGenerateIsDeterministicAndDrifts(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := Spec{Tenant: "acme", ID: "r1", SizeBytes: 20 << 10}
	a, err := Generate(s, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(s, 0, now)
	c, _ := Generate(s, 1, now)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) || len(a) < 15<<10 {
		t.Fatalf("len %d, same gen equal %v, next gen differs %v", len(a), bytes.Equal(a, b), !bytes.Equal(a, c))
	}
}
