package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// TestShowRedactsByDefault: show masks secrets line for line; show
// --secrets prints exactly the text whose SHA-256 is the recorded hash.
func TestShowRedactsByDefault(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	reply, r := l.backupJSON("acme/core-rtr-1")
	if r.code != 0 {
		t.Fatalf("backup: %d %s", r.code, r.stderr)
	}
	plain := l.run("show", "--secrets", "acme/core-rtr-1")
	if plain.code != 0 || routeros.Hash([]byte(plain.stdout)) != reply.SHA256 {
		t.Fatalf("show --secrets: exit %d, hash %s, recorded %s", plain.code, routeros.Hash([]byte(plain.stdout)), reply.SHA256)
	}
	red := l.run("show", "acme/core-rtr-1@"+reply.SHA256[:7])
	if red.code != 0 || red.stdout != redact.Text(plain.stdout) {
		t.Fatalf("show: exit %d, not the redacted view", red.code)
	}
	if strings.Count(red.stdout, "\n") != strings.Count(plain.stdout, "\n") || !strings.Contains(red.stdout, "password="+redact.Mask) {
		t.Errorf("show: the redacted view lost lines or masks nothing:\n%s", red.stdout)
	}
	// The nightly script's upload URL and the PPP secrets carry the
	// secrets of the simulated 8 KB export.
	pw := regexp.MustCompile(`sftp://backup:([^@]+)@`).FindStringSubmatch(plain.stdout)
	ppp := regexp.MustCompile(`(?m)^add name=\S+ password=(\S+) `).FindStringSubmatch(plain.stdout)
	if pw == nil || ppp == nil {
		t.Fatal("the simulated export has no script URL password or PPP secret")
	}
	if strings.Contains(red.stdout, pw[1]) || strings.Contains(red.stdout, "password="+ppp[1]) || !strings.Contains(red.stdout, "sftp://backup:"+redact.Mask+"@") {
		t.Errorf("show prints a secret:\n%s", red.stdout)
	}
}

// recordSnapshot stores a snapshot for a device straight into the data
// dir, for histories a simulated device cannot produce (a change of one
// secret only).
func recordSnapshot(t *testing.T, dataDir, tenant, device string, content string) api.SnapshotRecord {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Record(context.Background(), api.SnapshotRecord{TenantID: tenant, DeviceID: device, Trigger: api.Trigger("manual"), RequestedBy: "test"}, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestDiffRedactedAndDevices covers diff: a secret-only change shows as a
// changed line, masked unless --secrets; a one-line insertion is one "+"
// line under its menu; FROM TO refs still work; two devices compare.
func TestDiffRedactedAndDevices(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("acme", "core-rtr-2", "7.16.2")})
	if _, r := l.backupJSON("acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	base := l.run("show", "--secrets", "acme/core-rtr-1").stdout
	m := regexp.MustCompile(`(?m)^(add name=\S+ )password=(\S+)( .*)$`).FindStringSubmatch(base)
	if m == nil {
		t.Fatal("the simulated export has no PPP secret")
	}
	oldLine := m[0]
	newLine := m[1] + "password=N3wS3cretXY" + m[3]
	changed := strings.Replace(base, oldLine, newLine, 1)
	first := recordSnapshot(t, l.dataDir, "acme", "core-rtr-2", base)
	second := recordSnapshot(t, l.dataDir, "acme", "core-rtr-2", changed)

	d := l.run("diff", "acme/core-rtr-2")
	if d.code != 0 {
		t.Fatalf("diff: exit %d %s", d.code, d.stderr)
	}
	wantOld := "-" + m[1] + "password=" + redact.MaskChanged + m[3] + "\n"
	wantNew := "+" + m[1] + "password=" + redact.MaskChanged + m[3] + "\n"
	if !strings.Contains(d.stdout, wantOld) || !strings.Contains(d.stdout, wantNew) || !strings.Contains(d.stdout, "@@ /ppp secret\n") {
		t.Errorf("secret-only change, want %q and %q under /ppp secret:\n%s", wantOld, wantNew, d.stdout)
	}
	if strings.Contains(d.stdout, m[2]) || strings.Contains(d.stdout, "N3wS3cretXY") || strings.Count(d.stdout, "\n-") != 1 || strings.Count(d.stdout, "\n+") != 2 {
		t.Errorf("secret-only change: a secret leaks or more than one line changed:\n%s", d.stdout)
	}
	s := l.run("diff", "--secrets", "acme/core-rtr-2", first.SHA256[:7], second.SHA256)
	if s.code != 0 || !strings.Contains(s.stdout, "-"+oldLine+"\n") || !strings.Contains(s.stdout, "+"+newLine+"\n") {
		t.Errorf("diff --secrets FROM TO: exit %d\n%s", s.code, s.stdout)
	}

	// One line inserted into a section: one "+" line, no "-" line.
	lines := strings.Split(changed, "\n")
	at := -1
	for i, ln := range lines {
		if strings.HasPrefix(ln, "/ip firewall address-list") {
			at = i + 2
			break
		}
	}
	if at < 0 {
		t.Fatal("the simulated export has no address list")
	}
	ins := "add address=203.0.113.7 comment=added-by-test list=blocked"
	third := strings.Join(append(append(append([]string{}, lines[:at]...), ins), lines[at:]...), "\n")
	recordSnapshot(t, l.dataDir, "acme", "core-rtr-2", third)
	one := l.run("diff", "acme/core-rtr-2", second.SHA256[:12])
	if one.code != 0 || strings.Count(one.stdout, "\n+") != 2 || strings.Count(one.stdout, "\n-") != 0 ||
		!strings.Contains(one.stdout, "\n+"+ins+"\n") || !regexp.MustCompile(`\n@@ -\d+,6 \+\d+,7 @@ /ip firewall address-list\n`).MatchString(one.stdout) {
		t.Errorf("one-line insertion:\n%s", one.stdout)
	}

	// Two devices: a router against its twin, with a ref on one side.
	two := l.run("diff", "acme/core-rtr-1", "acme/core-rtr-2@"+second.SHA256[:7])
	if two.code != 0 || !strings.HasPrefix(two.stdout, "--- acme/core-rtr-1@") || !strings.Contains(two.stdout, "\n+++ acme/core-rtr-2@"+second.SHA256[:12]) ||
		!strings.Contains(two.stdout, "+"+m[1]+"password="+redact.MaskChanged) {
		t.Errorf("diff of two devices: exit %d\n%s%s", two.code, two.stdout, two.stderr)
	}
	same := l.run("diff", "acme/core-rtr-1", "acme/core-rtr-2@"+first.SHA256[:7])
	if same.code != 0 || !strings.HasPrefix(same.stdout, "no difference: acme/core-rtr-1 and acme/core-rtr-2 are both") {
		t.Errorf("identical devices: exit %d %q", same.code, same.stdout)
	}
	for _, bad := range [][]string{
		{"diff", "acme/core-rtr-1@latest"},
		{"diff", "acme/core-rtr-1", "latest", "acme/core-rtr-2"},
		{"diff", "acme/core-rtr-1", "acme/core-rtr-2@zz"},
	} {
		if r := l.run(bad...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, r.code, exitUsage, r.stderr)
		}
	}
	if r := l.run("diff", "acme/core-rtr-1", "acme/nope"); r.code != exitUsage {
		t.Errorf("unknown second device: exit %d %s", r.code, r.stderr)
	}
}
