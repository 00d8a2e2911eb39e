package inventory

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestProxyAndLegacyKeysInherit(t *testing.T) {
	dir := t.TempDir()
	hopKey := writeSecret(t, filepath.Join(dir, "hop_key"), 0o600)
	src := `defaults:
  proxy_jump: ops@bastion1:2222,bastion2
  proxy_identity_file: hop_key
tenants:
  - id: t1
    defaults:
      ssh_legacy_algorithms: true
      username: backup
    devices:
      - {id: inherits, host: h}
      - {id: direct, host: h, proxy_jump: none, ssh_legacy_algorithms: false, port: 2200}
`
	inv, _, err := Parse(filepath.Join(dir, "inv.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := inv.Device("t1", "inherits")
	if d.ProxyJump != "ops@bastion1:2222,bastion2" || d.ProxyIdentityFile != hopKey || !d.LegacyAlgorithms {
		t.Errorf("inherits: %+v", d)
	}
	if d.UsernameIsDefault || !d.PortIsDefault {
		t.Errorf("inherits: username set by the tenant, port by nobody: %v %v", d.UsernameIsDefault, d.PortIsDefault)
	}
	d, _ = inv.Device("t1", "direct")
	if d.ProxyJump != "none" || d.LegacyAlgorithms || d.PortIsDefault {
		t.Errorf("direct: %+v", d)
	}
}

func TestProxyKeysRejects(t *testing.T) {
	dir := t.TempDir()
	loose := writeSecret(t, filepath.Join(dir, "loose_key"), 0o644)
	src := `defaults:
  proxy_jump: "user@host:99999"
tenants:
  - id: acme
    devices:
      - id: r1
        host: h
        proxy_jump: "a@b,c d"
        proxy_identity_file: ` + loose + `
        ssh_legacy_algorithms: maybe
`
	_, _, err := Parse(filepath.Join(dir, "inv.yaml"), []byte(src))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	want := map[string]bool{
		"2|bad port":               false,
		"8|hop 2":                  false,
		"9|chmod 600":              false,
		"10|must be true or false": false,
	}
	for _, p := range ve.Problems {
		for w := range want {
			line, frag, _ := strings.Cut(w, "|")
			if strconv.Itoa(p.Line) == line && strings.Contains(p.Msg, frag) {
				want[w] = true
			}
		}
	}
	for w, found := range want {
		if !found {
			t.Errorf("no problem %q in:\n%s", w, ve.Error())
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(ve.Problems), len(want), ve.Error())
	}
}
