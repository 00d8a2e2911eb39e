package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
)

// TestPinPruneHistory: backup --pin pins, pin/unpin by ref, history marks
// pins, prune refuses an empty policy, removes what the policy does not
// keep and never a pinned or the newest snapshot.
func TestPinPruneHistory(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	pinned, r := l.backupJSON("acme/core-rtr-1", "--pin", "--reason", "before CHG-1")
	if r.code != 0 || pinned.Status != api.StatusSuccess {
		t.Fatalf("backup --pin: exit %d %+v %s", r.code, pinned, r.stderr)
	}
	// Four more snapshots of other contents, recorded straight in the store.
	var recs []api.SnapshotRecord
	for _, c := range []string{"a", "b", "c", "d"} {
		recs = append(recs, recordSnapshot(t, l.dataDir, "acme", "core-rtr-1", "/system identity\nset name="+c+"\n"))
	}
	if r := l.run("pin", "acme/core-rtr-1@"+recs[1].SHA256[:10], "--note", "audit"); r.code != 0 || !strings.Contains(r.stdout, "pinned") {
		t.Fatalf("pin: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	h := l.run("history", "acme/core-rtr-1")
	if !strings.Contains(h.stdout, "PIN") || !strings.Contains(h.stdout, "* audit") || !strings.Contains(h.stdout, "* before CHG-1") {
		t.Fatalf("history does not mark pins:\n%s", h.stdout)
	}
	if r := l.run("prune"); r.code != 2 {
		t.Fatalf("prune without policy: exit %d, want 2", r.code)
	}
	if r := l.run("prune", "--keep-last", "1", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "acme/core-rtr-1: kept 3, would remove 2") {
		t.Fatalf("dry run: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := l.run("unpin", "acme/core-rtr-1@"+recs[1].SHA256[:10]); r.code != 0 {
		t.Fatalf("unpin: exit %d %s", r.code, r.stderr)
	}
	pr := l.run("prune", "--keep-last", "1", "--json")
	if pr.code != 0 {
		t.Fatalf("prune: exit %d %s", pr.code, pr.stderr)
	}
	actions := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(pr.stdout), "\n") {
		var pl pruneLine
		if err := json.Unmarshal([]byte(line), &pl); err != nil {
			t.Fatalf("prune --json line %q: %v", line, err)
		}
		actions[pl.SHA256] = pl.Action + ":" + strings.Join(pl.Reasons, ",")
	}
	want := map[string]string{pinned.SHA256: "keep:pinned", recs[0].SHA256: "remove:", recs[1].SHA256: "remove:",
		recs[2].SHA256: "remove:", recs[3].SHA256: "keep:newest,last"}
	for sum, a := range want {
		if actions[sum] != a {
			t.Errorf("%s: %q, want %q (all: %v)", sum[:8], actions[sum], a, actions)
		}
	}
	if n := contentRows(t, l.dataDir); n != 2 {
		t.Errorf("content rows after prune = %d, want 2", n)
	}
	var left []api.SnapshotRecord
	for _, line := range strings.Split(strings.TrimSpace(l.run("history", "acme/core-rtr-1", "--json").stdout), "\n") {
		var rec api.SnapshotRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		left = append(left, rec)
	}
	if len(left) != 2 || !left[1].Pinned || left[1].PinNote != "before CHG-1" {
		t.Fatalf("history after prune: %+v", left)
	}
	if r := l.run("show", "acme/core-rtr-1@"+pinned.SHA256[:10]); r.code != 0 {
		t.Fatalf("show pinned after prune: exit %d %s", r.code, r.stderr)
	}
	if r := l.run("serve", "--retention", "daily=7"); r.code != 2 {
		t.Fatalf("serve --retention without --schedule: exit %d, want 2", r.code)
	}
}

// TestPinAndShowBySnapshotID: a configuration rolled back shares its hash
// with the one before the change; a snapshot ID names the older one itself,
// for pin and show alike, where the hash names the newest.
func TestPinAndShowBySnapshotID(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	before := recordSnapshot(t, l.dataDir, "acme", "core-rtr-1", "/system identity\nset name=a\n")
	recordSnapshot(t, l.dataDir, "acme", "core-rtr-1", "/system identity\nset name=b\n")
	after := recordSnapshot(t, l.dataDir, "acme", "core-rtr-1", "/system identity\nset name=a\n")
	if r := l.run("pin", "acme/core-rtr-1@"+before.SnapshotID, "--note", "pre-change"); r.code != 0 {
		t.Fatalf("pin by ID: exit %d %s", r.code, r.stderr)
	}
	var recs []api.SnapshotRecord
	h := l.run("history", "acme/core-rtr-1", "--json")
	for _, line := range strings.Split(strings.TrimSpace(h.stdout), "\n") {
		var r api.SnapshotRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("history --json line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		if want := r.SnapshotID == before.SnapshotID; r.Pinned != want {
			t.Errorf("%s (%s) pinned %v, want %v", r.SnapshotID, r.SHA256[:8], r.Pinned, want)
		}
	}
	if after.SHA256 != before.SHA256 {
		t.Fatal("test setup: the rollback has another hash")
	}
	if r := l.run("show", "acme/core-rtr-1@"+before.SnapshotID); r.code != 0 || !strings.Contains(r.stdout, "set name=a") {
		t.Fatalf("show by ID: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := l.run("show", "acme/core-rtr-1@01ARZ3NDEKTSV4RRFFQ69G5FAV"); r.code == 0 || !strings.Contains(r.stderr, "01ARZ3NDEKTSV4RRFFQ69G5FAV") {
		t.Fatalf("show of an unknown ID: exit %d %s", r.code, r.stderr)
	}
}
