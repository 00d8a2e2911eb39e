package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/redact"
)

// TestSearchAndChangesCLI runs search and changes in direct mode and
// against `cfgsnap serve` (remote mode, the default nkey credentials) on
// the same data: grep-style lines with menus, --json, exit 1 for no match
// and 2 for a bad pattern, secrets masked and not matched unless
// --secrets, changes newest first with counts, trigger and reason.
func TestSearchAndChangesCLI(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("acme", "core-rtr-2", "7.16.2"), spec("globex", "edge-1", "6.49.10")})
	if r := l.run("backup", "--all", "--reason", "CHG-9"); r.code != 0 {
		t.Fatalf("backup: %d %s%s", r.code, r.stdout, r.stderr)
	}
	if err := l.fleet.Drift("acme", "core-rtr-2"); err != nil {
		t.Fatal(err)
	}
	if r := l.run("backup", "acme/core-rtr-2", "--reason", "CHG-10"); r.code != 0 {
		t.Fatalf("backup: %d %s", r.code, r.stderr)
	}
	addr := freeAddr(t)
	url := "nats://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve, _, _ := l.start(ctx, "serve", "--listen", addr)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, url, l.clientSeed())

	plain := l.run("show", "--secrets", "acme/core-rtr-1").stdout
	secret := regexp.MustCompile(`(?m)^add name=\S+ password=(\S+) `).FindStringSubmatch(plain)
	if secret == nil {
		t.Fatal("no PPP secret in the simulated export")
	}
	identity := regexp.MustCompile(`^acme/core-rtr-1:(\d+): /system identity: set name=core-rtr-1$`)

	for mode, pre := range map[string][]string{"direct": {"--direct"}, "remote": {"--nats", url}} {
		run := func(args ...string) result { return l.run(append(append([]string{}, pre...), args...)...) }
		r := run("search", "^set name=core-rtr")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 2 || !identity.MatchString(lines[0]) || !strings.HasPrefix(lines[1], "acme/core-rtr-2:") {
			t.Fatalf("%s: search: exit %d\n%s%s", mode, r.code, r.stdout, r.stderr)
		}
		// The line number is the one show prints.
		n := identity.FindStringSubmatch(lines[0])[1]
		shown := strings.Split(plain, "\n")
		if i := atoi(n); i < 1 || shown[i-1] != "set name=core-rtr-1" {
			t.Errorf("%s: line %s is not the identity in show", mode, n)
		}
		if r := run("search", "-i", "SET NAME=EDGE", "--tenant", "globex", "--json"); r.code != 0 {
			t.Errorf("%s: -i --json: exit %d %s", mode, r.code, r.stderr)
		} else {
			var m api.SearchMatch
			if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &m); err != nil || m.TenantID != "globex" || m.DeviceID != "edge-1" || m.Menu != "/system identity" || m.Line < 1 || len(m.SHA256) != 64 {
				t.Errorf("%s: json match %q: %+v %v", mode, r.stdout, m, err)
			}
		}
		if r := run("search", "no-such-thing-anywhere"); r.code != 1 || r.stdout != "" {
			t.Errorf("%s: no match: exit %d %q", mode, r.code, r.stdout)
		}
		if r := run("search", "a("); r.code != 2 || !strings.Contains(r.stderr, "invalid pattern") {
			t.Errorf("%s: bad pattern: exit %d %s", mode, r.code, r.stderr)
		}
		if r := run("search", "--device", "core-*", "--max", "2", "^add"); r.code != 0 || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stderr, "more than 2 matches") {
			t.Errorf("%s: --max 2: exit %d\n%s%s", mode, r.code, r.stdout, r.stderr)
		}
		if r := run("search", secret[1]); r.code != 1 {
			t.Errorf("%s: a secret's value matched without --secrets: %s", mode, r.stdout)
		}
		if r := run("search", "password="); r.code != 0 || strings.Contains(r.stdout, secret[1]) || !strings.Contains(r.stdout, "password="+redact.Mask) {
			t.Errorf("%s: password= not masked: %s", mode, r.stdout)
		}
		if r := run("search", "--secrets", secret[1]); r.code != 0 || !strings.Contains(r.stdout, "password="+secret[1]) {
			t.Errorf("%s: --secrets: exit %d %s", mode, r.code, r.stdout)
		}

		r = run("changes", "--since", "1h")
		rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(rows) != 5 || !strings.HasPrefix(rows[0], "COLLECTED") {
			t.Fatalf("%s: changes: exit %d\n%s%s", mode, r.code, r.stdout, r.stderr)
		}
		if !regexp.MustCompile(`acme/core-rtr-2\s+\+\d+ -\d+\s+[0-9a-f]{12}\s+manual\s+\S+\s+CHG-10$`).MatchString(rows[1]) {
			t.Errorf("%s: the newest change: %q", mode, rows[1])
		}
		if strings.Count(r.stdout, "new device") != 3 {
			t.Errorf("%s: first snapshots are new devices:\n%s", mode, r.stdout)
		}
		r = run("changes", "--tenant", "globex", "--json", "--since", "2d")
		var c api.Change
		if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &c); r.code != 0 || err != nil || c.DeviceID != "edge-1" || c.Kind != api.ChangeNew || c.Reason != "CHG-9" {
			t.Errorf("%s: changes --json: %q %v", mode, r.stdout, err)
		}
		if r := run("changes", "--since", "soon"); r.code != 2 {
			t.Errorf("%s: bad --since: exit %d", mode, r.code)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
