package search

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/textdiff"
)

func openStore(t testing.TB) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func record(t testing.TB, st store.Store, tenant, device, content string, at time.Time, mod ...func(*api.SnapshotRecord)) api.SnapshotRecord {
	t.Helper()
	r := api.SnapshotRecord{TenantID: tenant, DeviceID: device, Trigger: api.TriggerManual, RequestedBy: "test", CollectedAt: at}
	for _, m := range mod {
		m(&r)
	}
	rec, err := st.Record(context.Background(), r, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// export builds a small normalised export with a site-specific part, so
// devices share most lines but not all.
func export(site int, extra ...string) string {
	lines := []string{
		"# by RouterOS 7.16.2",
		"/interface bridge",
		"add admin-mac=48:A9:8A:00:00:01 auto-mac=no comment=defconf name=bridge",
		"/ip address",
		fmt.Sprintf("add address=10.%d.99.1/24 interface=vlan99-mgmt network=10.%d.99.0", site, site),
		"/ip firewall address-list",
		"add address=192.0.2.0/24 list=noc",
		fmt.Sprintf("add address=198.51.100.%d comment=abuse list=blocklist", site),
		"/ppp secret",
		fmt.Sprintf("add name=cust-%05d password=Pw%dSecretXY profile=pppoe-customers service=pppoe", site, site),
		"/snmp community",
		"add addresses=10.0.0.0/8 name=Commun1ty-" + fmt.Sprint(site),
		"/system identity",
		fmt.Sprintf("set name=Router-%d", site),
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

func search(t *testing.T, e *Engine, sc Scope, req api.SearchRequest) api.SearchReply {
	t.Helper()
	rep, err := e.Search(context.Background(), sc, req)
	if err != nil {
		t.Fatalf("search %+v: %v", req, err)
	}
	return rep
}

func TestSearchLinesMenusAndScope(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	record(t, st, "acme", "r1", export(1), now)
	record(t, st, "acme", "r2", export(2), now)
	record(t, st, "globex", "r1", export(3), now)
	e := New(st)

	rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `list=noc`})
	if len(rep.Matches) != 3 || rep.More || rep.Devices != 3 {
		t.Fatalf("list=noc: %+v", rep)
	}
	want := api.SearchMatch{TenantID: "acme", DeviceID: "r1", Line: 7, Menu: "/ip firewall address-list", Text: "add address=192.0.2.0/24 list=noc"}
	got := rep.Matches[0]
	got.SHA256 = ""
	if got != want {
		t.Errorf("first match %+v, want %+v", got, want)
	}
	var order []string
	for _, m := range rep.Matches {
		order = append(order, m.TenantID+"/"+m.DeviceID)
	}
	if !slices.Equal(order, []string{"acme/r1", "acme/r2", "globex/r1"}) {
		t.Errorf("order %v", order)
	}

	// Tenant scope, inventory filter and device glob.
	if rep := search(t, e, Scope{Tenant: "globex"}, api.SearchRequest{Pattern: `list=noc`}); len(rep.Matches) != 1 || rep.Matches[0].TenantID != "globex" {
		t.Errorf("globex scope: %+v", rep)
	}
	allow := func(tenant, device string) bool { return device != "r2" }
	if rep := search(t, e, Scope{Tenant: "acme", Allow: allow}, api.SearchRequest{Pattern: `list=noc`}); len(rep.Matches) != 1 || rep.Matches[0].DeviceID != "r1" {
		t.Errorf("allow filter: %+v", rep)
	}
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `list=noc`, Device: "r[2-9]"}); len(rep.Matches) != 1 || rep.Matches[0].DeviceID != "r2" {
		t.Errorf("device glob: %+v", rep)
	}

	// Max and more.
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `^add`, Max: 4}); len(rep.Matches) != 4 || !rep.More {
		t.Errorf("max 4: %d matches, more %v", len(rep.Matches), rep.More)
	}
	// Case folding only with IgnoreCase.
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `ROUTER-2`}); len(rep.Matches) != 0 {
		t.Errorf("case-sensitive ROUTER-2: %+v", rep.Matches)
	}
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `ROUTER-2`, IgnoreCase: true}); len(rep.Matches) != 1 || rep.Matches[0].Menu != "/system identity" || rep.Matches[0].Line != 14 {
		t.Errorf("-i ROUTER-2: %+v", rep.Matches)
	}
	// Bad input is a bad request, not a crash.
	for _, req := range []api.SearchRequest{{Pattern: ""}, {Pattern: "a("}, {Pattern: "x", Device: "["}, {Pattern: strings.Repeat("a", api.MaxPatternLen+1)}} {
		if _, err := e.Search(context.Background(), Scope{}, req); api.KindOf(err) != api.KindBadRequest {
			t.Errorf("%q/%q: %v", req.Pattern, req.Device, err)
		}
	}
}

// forHashes runs a test with the engine as it is and with one whose line
// hashes keep 2 bits only, so that most distinct lines share a hash with
// another (the index must tell them apart by their text).
func forHashes(t *testing.T, test func(*testing.T, func(store.Store) *Engine)) {
	t.Run("hash", func(t *testing.T) { test(t, New) })
	t.Run("collisions", func(t *testing.T) {
		test(t, func(st store.Store) *Engine {
			e := New(st)
			e.idx.mask = 3
			return e
		})
	})
}

// TestSearchSecrets: without Secrets a pattern is matched against the
// redacted lines (no oracle on secret values) and lines come back
// redacted; with Secrets both are the stored text. The SNMP community's
// name is a secret in its own menu only.
func TestSearchSecrets(t *testing.T) { forHashes(t, testSearchSecrets) }

func testSearchSecrets(t *testing.T, newEngine func(store.Store) *Engine) {
	st := openStore(t)
	record(t, st, "acme", "r1", export(1, "/ip pool", "add name=Commun1ty-1 ranges=10.1.0.10-10.1.0.99"), time.Now())
	e := newEngine(st)
	for _, p := range []string{`Pw1Secret`, `password=P`, `password=\w+XY`, `Commun1ty-1$`} {
		rep := search(t, e, Scope{}, api.SearchRequest{Pattern: p})
		for _, m := range rep.Matches {
			if m.Menu == "/snmp community" || strings.Contains(m.Text, "Pw1Secret") {
				t.Errorf("%s without secrets matched a secret: %+v", p, m)
			}
		}
	}
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `Commun1ty-1`}); len(rep.Matches) != 1 || rep.Matches[0].Menu != "/ip pool" {
		t.Errorf("a pool named like the community is no secret: %+v", rep.Matches)
	}
	rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `password=`})
	if len(rep.Matches) != 1 || rep.Matches[0].Text != "add name=cust-00001 password="+redact.Mask+" profile=pppoe-customers service=pppoe" {
		t.Errorf("password= redacted: %+v", rep.Matches)
	}
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `name=<redacted>`}); len(rep.Matches) != 1 || rep.Matches[0].Menu != "/snmp community" {
		t.Errorf("the community masked in context: %+v", rep.Matches)
	}
	rep = search(t, e, Scope{}, api.SearchRequest{Pattern: `pw1secret`, IgnoreCase: true, Secrets: true})
	if len(rep.Matches) != 1 || !strings.Contains(rep.Matches[0].Text, "password=Pw1SecretXY") || rep.Matches[0].Line != 10 {
		t.Errorf("with secrets: %+v", rep.Matches)
	}
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `Commun1ty-1$`, Secrets: true}); len(rep.Matches) != 1 || rep.Matches[0].Menu != "/snmp community" {
		t.Errorf("community with secrets: %+v", rep.Matches)
	}
}

// TestSearchAgreesWithPlainRegexp checks the literal prefilter against
// matching every line with the regexp, on patterns with and without a
// usable literal, alternations, anchors and case folding (including the
// Kelvin sign that (?i)k matches).
func TestSearchAgreesWithPlainRegexp(t *testing.T) { forHashes(t, testSearchAgreesWithPlainRegexp) }

func testSearchAgreesWithPlainRegexp(t *testing.T, newEngine func(store.Store) *Engine) {
	st := openStore(t)
	contents := map[string]string{}
	for i := range 12 {
		c := export(i, fmt.Sprintf("/ip dns static\nadd address=10.%d.100.2 name=srv-%d.acme.lan ttl=1h", i, i))
		if i == 5 {
			c += "set comment=\"\u212aelvin \u00e9t\u00e9\"\n"
		}
		dev := fmt.Sprintf("r%02d", i)
		record(t, st, "acme", dev, c, time.Now())
		contents[dev] = c
	}
	e := newEngine(st)
	patterns := []string{`10\.3\.`, `(?i)ROUTER-1\d`, `bridge|noc`, `(?i)(KELVIN|pppoe)`, `^/ip`, `ttl=1h$`, `\d+\.\d+\.99\.1/`,
		`a.c`, `(?i)k`, `(?i)ÉTÉ`, `(?:srv-1)+\.acme`, `x{0}`, `cust-0000[1-3] `, `(?i)name=rout`, `[Bb]ridge`, `(?i)Admin-MAC=48`}
	for _, p := range patterns {
		for _, secrets := range []bool{false, true} {
			re := regexp.MustCompile(p)
			var want []string
			for _, dev := range []string{"r00", "r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11"} {
				lines := textdiff.SplitLines(contents[dev])
				if !secrets {
					lines = redact.Lines(lines)
				}
				for i, l := range lines {
					if re.MatchString(l) {
						want = append(want, fmt.Sprintf("%s:%d:%s", dev, i+1, l))
					}
				}
			}
			rep := search(t, e, Scope{}, api.SearchRequest{Pattern: p, Secrets: secrets, Max: api.MaxSearchMax})
			var got []string
			for _, m := range rep.Matches {
				got = append(got, fmt.Sprintf("%s:%d:%s", m.DeviceID, m.Line, m.Text))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s (secrets %v): got %d matches, want %d\n got %q\nwant %q", p, secrets, len(got), len(want), got, want)
			}
		}
	}
}

// TestSearchFollowsLatest: a new snapshot replaces its device's
// configuration in the index; the old one is dropped.
func TestSearchFollowsLatest(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", export(1), time.Now())
	e := New(st)
	if rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `203\.0\.113\.9`}); len(rep.Matches) != 0 {
		t.Fatalf("before: %+v", rep.Matches)
	}
	record(t, st, "acme", "r1", export(1, "/ip route", "add gateway=203.0.113.9"), time.Now())
	rep := search(t, e, Scope{}, api.SearchRequest{Pattern: `203\.0\.113\.9`})
	if len(rep.Matches) != 1 || rep.Matches[0].Menu != "/ip route" || rep.Matches[0].Line != 16 {
		t.Fatalf("after: %+v", rep.Matches)
	}
	if s := e.Stats(); s.Configs != 1 {
		t.Errorf("the index keeps %d configurations, want the latest only", s.Configs)
	}
}

func TestRebuildKeepsResults(t *testing.T) {
	st := openStore(t)
	e := New(st)
	for i := range 20 {
		record(t, st, "acme", "r1", export(i), time.Now())
		e.mu.Lock()
		e.idx = e.idx.rebuilt() // as sync does once most lines are dead
		e.mu.Unlock()
		rep := search(t, e, Scope{}, api.SearchRequest{Pattern: fmt.Sprintf(`Router-%d$`, i)})
		if len(rep.Matches) != 1 {
			t.Fatalf("round %d: %+v", i, rep.Matches)
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if n := len(e.idx.lines); n > 40 {
		t.Errorf("a rebuilt index keeps %d lines for one 14-line configuration", n)
	}
}

func TestChanges(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	base := export(1)
	record(t, st, "acme", "r1", base, now.Add(-3*time.Hour))
	changed := strings.Replace(base, "list=noc", "list=noc-v2", 1) + "/ip route\nadd gateway=203.0.113.1\n"
	record(t, st, "acme", "r1", changed, now.Add(-time.Hour), func(r *api.SnapshotRecord) {
		r.Reason, r.RequestedBy, r.Trigger = "CHG-42", "alice", api.TriggerManual
	})
	record(t, st, "acme", "r1", changed, now.Add(-30*time.Minute)) // unchanged: not listed
	record(t, st, "acme", "r2", export(2), now.Add(-10*time.Minute))
	record(t, st, "globex", "g1", export(3), now.Add(-5*time.Minute))
	record(t, st, "acme", "old", export(4), now.Add(-48*time.Hour))
	e := New(st)

	rep, err := e.Changes(context.Background(), Scope{Tenant: "acme"}, api.ChangesRequest{Since: now.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 2 || rep.More {
		t.Fatalf("changes: %+v", rep)
	}
	c0, c1 := rep.Changes[0], rep.Changes[1]
	if c0.DeviceID != "r2" || c0.Kind != api.ChangeNew || c0.Added != 0 {
		t.Errorf("newest: %+v", c0)
	}
	if c1.DeviceID != "r1" || c1.Kind != api.ChangeChanged || c1.Added != 3 || c1.Removed != 1 ||
		c1.Reason != "CHG-42" || c1.RequestedBy != "alice" || c1.Trigger != api.TriggerManual || c1.PreviousHash != routeros.Hash([]byte(base)) {
		t.Errorf("the change of r1: %+v", c1)
	}
	// Every tenant, a wider window, max.
	rep, err = e.Changes(context.Background(), Scope{}, api.ChangesRequest{Since: now.Add(-72 * time.Hour), Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 3 || !rep.More || rep.Changes[0].TenantID != "globex" {
		t.Errorf("all tenants, max 3: %+v", rep)
	}
	// The counts come from the cache the second time, and agree.
	again, err := e.Changes(context.Background(), Scope{Tenant: "acme"}, api.ChangesRequest{Since: now.Add(-2 * time.Hour)})
	if err != nil || again.Changes[1].Added != 3 || again.Changes[1].Removed != 1 {
		t.Errorf("cached counts: %+v %v", again, err)
	}
}
