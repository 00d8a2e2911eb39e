package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"acme": true, "core-rtr-1": true, "A_b-9": true,
		"550e8400-e29b-41d4-a716-446655440000": true,
		"":                                     false, "a.b": false, "a*": false, "a>": false, "a b": false, "ü": false,
		string(make([]byte, 65)): false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 1000 {
		ids = append(ids, newIDAt(base.Add(time.Duration(i/10)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("IDs created in order do not sort in order")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if len(id) != 26 || seen[id] {
			t.Fatalf("bad or duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestSeedCompatibleReplyShape(t *testing.T) {
	cases := []struct {
		reply TriggerReply
		want  string
	}{
		{TriggerReply{Status: StatusSuccess, SHA256: "ab", Message: MessageCollected},
			`{"status":"success","sha256_hash":"ab","message":"Config snapshot collected"}`},
		{TriggerReply{Status: StatusLocked, Message: MessageLocked},
			`{"status":"locked","message":"backup already in progress"}`},
		{TriggerReply{Status: StatusFailed, Error: "boom"}, `{"status":"failed","error":"boom"}`},
	}
	for _, c := range cases {
		b, _ := json.Marshal(c.reply)
		if string(b) != c.want {
			t.Errorf("got %s, want %s", b, c.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	err := fmt.Errorf("job: %w", Errorf(KindTimeout, "export took too long"))
	if KindOf(err) != KindTimeout {
		t.Fatalf("KindOf = %s", KindOf(err))
	}
	if KindOf(errors.New("x")) != KindInternal {
		t.Fatal("unclassified error is not internal")
	}
}

func TestNextID(t *testing.T) {
	z := func(n int) string { return strings.Repeat("0", n) }
	for in, want := range map[string]string{
		"01JDQ" + z(21):                   "01JDQ" + z(20) + "1",
		"01JDQ" + z(20) + "Z":             "01JDQ" + z(19) + "10",
		"01JDQ" + strings.Repeat("Z", 21): "01JDR" + z(21),
	} {
		got, ok := NextID(in)
		if !ok || got != want || got <= in {
			t.Errorf("NextID(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
	if _, ok := NextID("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"); ok {
		t.Error("NextID of the largest ULID succeeded")
	}
	if _, ok := NextID("not-an-id"); ok {
		t.Error("NextID of garbage succeeded")
	}
}

// IDs made from many goroutines at once are unique and parse as ULIDs; IDs
// made before the ULID library (a hand-rolled generator of the same format)
// are still accepted, so stored history keeps paging.
func TestNewIDConcurrentAndOldIDsValid(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				id := NewID()
				if !IsID(id) {
					t.Errorf("NewID made %q, which IsID refuses", id)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, old := range []string{"01KB6Y0M0G7N3ZQ4D2XW8S9TAB", "01JDW8J7Q10000000000000000"} {
		if !IsID(old) {
			t.Errorf("an ID of the earlier generator %q is refused", old)
		}
	}
	for _, bad := range []string{"01kb6y0m0g7n3zq4d2xw8s9tab", "81KB6Y0M0G7N3ZQ4D2XW8S9TAB", "01KB6Y0M0G7N3ZQ4D2XW8S9TAI", "01KB6Y0M0G"} {
		if IsID(bad) {
			t.Errorf("IsID(%q) = true", bad)
		}
	}
	// The clock stepping back does not make an ID that sorts before the last.
	later := newIDAt(time.Now().Add(time.Hour))
	if earlier := newIDAt(time.Now()); earlier <= later {
		t.Errorf("after a clock step back: %s sorts before %s", earlier, later)
	}
}
