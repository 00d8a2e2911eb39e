package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

func TestLimiterRefusesOverBudgetAndSaysWhen(t *testing.T) {
	l := New(3)
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if err := l.Allow("alice", "user alice"); err != nil {
			t.Fatalf("trigger %d refused: %v", i+1, err)
		}
	}
	err := l.Allow("alice", "user alice")
	if api.KindOf(err) != api.KindRateLimited {
		t.Fatalf("4th trigger: %v, want rate_limited", err)
	}
	if !strings.Contains(err.Error(), "retry in 20s") || !strings.Contains(err.Error(), "user alice") {
		t.Fatalf("message does not say who and when: %q", err)
	}
	// Another key has its own budget.
	if err := l.Allow("bob", "user bob"); err != nil {
		t.Fatalf("bob refused: %v", err)
	}
	// A refused request spent nothing: after 20s exactly one more is allowed.
	now = now.Add(20 * time.Second)
	if err := l.Allow("alice", "user alice"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if err := l.Allow("alice", "user alice"); api.KindOf(err) != api.KindRateLimited {
		t.Fatalf("second after the wait: %v", err)
	}
}

func TestNilLimiterAllows(t *testing.T) {
	l := New(0) // nil: no limit
	for range 100 {
		if err := l.Allow("x", "x"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLimiterForgetsIdleKeys(t *testing.T) {
	l := New(1)
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	_ = l.Allow("a", "a")
	now = now.Add(2 * idleForget)
	_ = l.Allow("b", "b")
	if _, ok := l.buckets["a"]; ok {
		t.Fatal("idle bucket kept")
	}
}
