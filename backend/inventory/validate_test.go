package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// validKey is a well-formed SHA256 host key fingerprint (43 base64 chars).
const validKey = "SHA256:Hq3wN0tR3aLkEyBuTwElLf0rMeD4nD0nLyT3sTsAAAA"

// parseErr parses src as "inv.yaml" and returns the problems, failing the
// test when the inventory was accepted.
func parseErr(t *testing.T, src string) *ValidationError {
	t.Helper()
	inv, _, err := Parse("inv.yaml", []byte(src))
	if err == nil {
		t.Fatalf("inventory accepted (%d tenants), want a validation error:\n%s", len(inv.Tenants), src)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T (%v), want *ValidationError", err, err)
	}
	return ve
}

// wantLines checks that for each fragment some line of the error starts
// with "inv.yaml:LINE: " and contains the rest.
func wantLines(t *testing.T, ve *ValidationError, want []string) {
	t.Helper()
	lines := strings.Split(ve.Error(), "\n")
	for _, w := range want {
		prefix, frag, _ := strings.Cut(w, "|")
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, "inv.yaml:"+prefix+": ") && strings.Contains(l, frag) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line %q containing %q in:\n%s", "inv.yaml:"+prefix, frag, ve.Error())
		}
	}
	if len(lines) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(lines), len(want), ve.Error())
	}
}

// dev wraps device lines (already indented by 6) in a one-tenant
// inventory; the first device line is line 4.
func dev(lines string) string {
	return "tenants:\n  - id: acme\n    devices:\n" + lines
}

// writeSecret writes a credential file with mode (0600 unless given),
// creating its directories, and returns its path.
func writeSecret(t testing.TB, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not-a-real-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by the umask
		t.Fatal(err)
	}
	return path
}

// fakeHome points HOME at a temp dir holding ~/.ssh/id_ed25519 (0600), the
// identity file the example inventories name.
func fakeHome(t testing.TB) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	writeSecret(t, filepath.Join(home, ".ssh", "id_ed25519"), 0o600)
	return home
}

func TestParseRejects(t *testing.T) {
	files := t.TempDir()
	okPW := writeSecret(t, filepath.Join(files, "ok.pw"), 0o600)
	worldPW := writeSecret(t, filepath.Join(files, "world.pw"), 0o644)
	groupKey := writeSecret(t, filepath.Join(files, "group.key"), 0o640)
	otherKey := writeSecret(t, filepath.Join(files, "other.key"), 0o604)
	groupWritable := writeSecret(t, filepath.Join(files, "gw.pw"), 0o620)
	missing := filepath.Join(files, "missing.key")
	fifo := filepath.Join(files, "fifo.pw")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		src  string
		want []string // "LINE|fragment"
	}{
		{"syntax error", "tenants:\n  - id: acme\n    devices: [\n", []string{"3|YAML syntax error: did not find expected node content"}},
		{"mapping in scalar", "tenants:\n  - id: acme: x\n", []string{"2|YAML syntax error: mapping values are not allowed"}},
		{"tab indentation", "tenants:\n\t- id: acme\n", []string{"2|indent with spaces, not tabs"}},
		{"control character", "tenants:\n  - id: acme\x01\n", []string{"2|remove the control character"}},
		{"empty file", "", []string{"1|inventory is empty"}},
		{"only comments", "# nothing yet\n", []string{"1|inventory is empty"}},
		{"null document", "~\n", []string{"1|inventory is empty"}},
		{"root is a list", "- id: acme\n", []string{`1|must be a mapping with "tenants:"`}},
		{"no tenants key", "defaults:\n  port: 22\n", []string{"1|no tenants"}},
		{"empty tenants", "tenants: []\n", []string{"1|no tenants"}},
		{"null tenants", "tenants:\n", []string{"1|no tenants"}},
		{"tenants is a mapping", "tenants:\n  acme: {}\n", []string{`1|"tenants" must be a list of tenants`}},
		{"second document", dev("      - {id: r1, host: h}\n---\ntenants: []\n"), []string{"6|second YAML document"}},
		{"unknown key suggestion", dev("      - id: r1\n        hots: 192.0.2.1\n"),
			[]string{`5|unknown key "hots" in device "acme/r1": did you mean "host"?`, `4|device "acme/r1" has no host`}},
		{"unknown key case and dash", dev("      - id: r1\n        host: h\n        Password-Env: X\n"),
			[]string{`6|unknown key "Password-Env" in device "acme/r1": did you mean "password_env"?`}},
		{"unknown key lists known keys", dev("      - id: r1\n        host: h\n        model: CCR\n"),
			[]string{`6|unknown key "model" in device "acme/r1": known keys are id, name, host`}},
		{"unknown top key", "tenant:\n  - id: acme\n", []string{`1|did you mean "tenants"?`, "1|no tenants"}},
		{"devices at top level", "devices:\n  - id: r1\ntenants:\n  - id: acme\n",
			[]string{`1|"devices" must be inside a tenant`}},
		{"host in defaults", "defaults:\n  host: h\n" + dev("      - {id: r1, host: h}\n"),
			[]string{`2|"host" cannot be a default (in defaults): set it on each device`}},
		{"username on tenant", "tenants:\n  - id: acme\n    username: backup\n    devices:\n      - {id: r1, host: h}\n",
			[]string{`3|"username" is a device setting, not a tenant's (in tenant "acme")`}},
		{"defaults on device", dev("      - id: r1\n        host: h\n        defaults: {port: 22}\n"),
			[]string{`6|a device has no "defaults:"`}},
		{"duplicate tenant", "tenants:\n  - id: acme\n    devices: [{id: r1, host: h}]\n  - id: acme\n    devices: [{id: r2, host: h}]\n",
			[]string{`4|duplicate tenant ID "acme" (first at line 2)`}},
		{"duplicate device", dev("      - {id: r1, host: h}\n      - id: r2\n        host: h\n      - id: r1\n        host: h\n"),
			[]string{`7|duplicate device ID "r1" in tenant "acme" (first at line 4)`}},
		{"bad tenant ID", "tenants:\n  - id: acme corp!\n    devices: [{id: r1, host: h}]\n",
			[]string{`2|invalid tenant ID "acme corp!": contains ' ', '!': use 1-64 letters, digits, '_' or '-'`}},
		{"ID too long", dev("      - {id: " + strings.Repeat("a", 65) + ", host: h}\n"),
			[]string{"4|65 characters long"}},
		{"ID with a slash", dev("      - {id: pop1/r1, host: h}\n"), []string{`4|contains '/'`}},
		{"tenant without id", "tenants:\n  - name: ACME\n    devices: [{id: r1, host: h}]\n", []string{`2|tenant has no id`}},
		{"device without id", dev("      - host: h\n"), []string{`4|device of tenant "acme" has no id`}},
		{"missing host", dev("      - id: r1\n        port: 22\n"), []string{`4|device "acme/r1" has no host: add "host:`}},
		{"null host", dev("      - id: r1\n        host:\n"), []string{`4|has no host`}},
		{"port zero", dev("      - {id: r1, host: h, port: 0}\n"), []string{`4|device "acme/r1": bad port "0": use a number from 1 to 65535`}},
		{"port too big", dev("      - {id: r1, host: h, port: 65536}\n"), []string{`4|bad port "65536"`}},
		{"port not a number", dev("      - id: r1\n        host: h\n        port: ssh\n"), []string{`6|bad port "ssh"`}},
		{"port fraction", dev("      - {id: r1, host: h, port: 22.5}\n"), []string{`4|bad port "22.5"`}},
		{"port in defaults", "defaults:\n  port: -1\n" + dev("      - {id: r1, host: h}\n"), []string{`2|defaults: bad port "-1"`}},
		{"bad secrets", dev("      - {id: r1, host: h, secrets: yes}\n"), []string{`4|bad secrets value "yes": use "show"`}},
		{"host key not a fingerprint", dev("      - {id: r1, host: h, host_key: ssh-ed25519 AAAAC3Nz}\n"),
			[]string{`4|host_key must be a SHA256 fingerprint`}},
		{"host key MD5", dev("      - {id: r1, host: h, host_key: \"MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48\"}\n"),
			[]string{`4|MD5 fingerprints are not supported`}},
		{"host key truncated", dev("      - {id: r1, host: h, host_key: \"SHA256:Hq3wN0tR3a\"}\n"),
			[]string{`4|43 base64 characters`}},
		{"host is a list", dev("      - id: r1\n        host: [a, b]\n"), []string{`5|device "acme/r1": "host" must be text, not a list`}},
		{"tags is text", dev("      - id: r1\n        host: h\n        tags: core\n"),
			[]string{`6|tags must be a list, e.g. tags: [core, pop1], not text`}},
		{"tag is a mapping", dev("      - id: r1\n        host: h\n        tags:\n          - core\n          - {pop: 1}\n"),
			[]string{`8|each tag must be text, not a mapping`}},
		{"empty tag", dev("      - id: r1\n        host: h\n        tags: [core, \"\"]\n"), []string{`6|empty tag`}},
		{"devices is a mapping", "tenants:\n  - id: acme\n    devices:\n      r1: {host: h}\n",
			[]string{`3|tenant "acme": "devices" must be a list of devices`}},
		{"device is text", dev("      - r1\n"), []string{`4|each device must be a mapping`}},
		{"tenant is text", "tenants:\n  - acme\n", []string{`2|each tenant must be a mapping`}},
		{"defaults is a list", "defaults:\n  - port: 22\n" + dev("      - {id: r1, host: h}\n"),
			[]string{`1|defaults must be a mapping of settings`}},
		{"duplicate key", dev("      - id: r1\n        host: a\n        host: b\n"), []string{`6|duplicate key "host" (first at line 5)`}},
		{"password_env with $", dev("      - {id: r1, host: h, password_env: $ACME_PW}\n"),
			[]string{`4|without $: write password_env: ACME_PW`}},
		{"two password sources", dev("      - id: r1\n        host: h\n        password_env: PW\n        password_file: " + okPW + "\n"),
			[]string{`4|device "acme/r1" sets password_env and password_file: keep one`}},
		{"merge key", "defaults: &d\n  port: 22\n" + dev("      - id: r1\n        host: h\n        <<: *d\n"),
			[]string{`8|merge keys (<<) are not supported`}},
		{"host with port", dev("      - {id: r1, host: \"192.0.2.1:2222\"}\n"),
			[]string{`4|contains a port: write "host: 192.0.2.1" and "port: 2222"`}},
		{"host with user", dev("      - {id: r1, host: admin@192.0.2.1}\n"), []string{`4|contains a user`}},
		{"host URL", dev("      - {id: r1, host: \"ssh://192.0.2.1\"}\n"), []string{`4|is a URL`}},
		{"host with space", dev("      - {id: r1, host: \"core rtr\"}\n"), []string{`4|contains ' '`}},
		{"tilde user path", dev("      - {id: r1, host: h, identity_file: ~bob/.ssh/id}\n"), []string{`4|~user paths are not supported`}},
		{"identity file missing", dev("      - id: r1\n        host: h\n        identity_file: " + missing + "\n"),
			[]string{`6|device "acme/r1": identity_file ` + missing + ` does not exist: check the path`}},
		{"relative password file missing", dev("      - {id: r1, host: h, password_file: no-such.pw}\n"),
			[]string{`4|password_file ` + filepath.Join(mustAbs(t, "."), "no-such.pw") + ` does not exist`}},
		{"identity file is a directory", "defaults:\n  identity_file: " + files + "\n" + dev("      - {id: r1, host: h}\n"),
			[]string{`2|defaults: identity_file ` + files + ` is a directory, not a file`}},
		{"password file is a FIFO", dev("      - {id: r1, host: h, password_file: " + fifo + "}\n"),
			[]string{`4|password_file ` + fifo + ` is not a regular file`}},
		{"password file world-readable", dev("      - {id: r1, host: h, password_file: " + worldPW + "}\n"),
			[]string{`4|password_file ` + worldPW + ` is open to group or others (mode 0644) and holds a credential: run chmod 600 ` + worldPW}},
		{"identity file group-readable", "tenants:\n  - id: acme\n    defaults:\n      identity_file: " + groupKey + "\n    devices: [{id: r1, host: h}]\n",
			[]string{`4|the defaults of tenant "acme": identity_file ` + groupKey + ` is open to group or others (mode 0640)`}},
		{"identity file other-readable", dev("      - {id: r1, host: h, identity_file: " + otherKey + "}\n"),
			[]string{`4|(mode 0604)`}},
		{"password file group-writable", dev("      - {id: r1, host: h, password_file: " + groupWritable + "}\n"),
			[]string{`4|(mode 0620)`}},
		{"use_agent not a boolean", dev("      - {id: r1, host: h, use_agent: yes please}\n"),
			[]string{`4|device "acme/r1": use_agent must be true or false, not "yes please"`}},
		{"use_agent is a list", "defaults:\n  use_agent: [true]\n" + dev("      - {id: r1, host: h}\n"),
			[]string{`2|defaults: use_agent must be true or false, not "a list"`}},
		{"use_agent on tenant", "tenants:\n  - id: acme\n    use_agent: true\n    devices: [{id: r1, host: h}]\n",
			[]string{`3|"use_agent" is a device setting, not a tenant's (in tenant "acme")`}},
		{"use_agent typo", dev("      - {id: r1, host: h, use_agnet: true}\n"),
			[]string{`4|unknown key "use_agnet" in device "acme/r1": did you mean "use_agent"?`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantLines(t, parseErr(t, c.src), c.want)
		})
	}
}

// A user's password pasted into password_env must not be echoed back to
// the terminal.
func TestPasswordEnvNotEchoed(t *testing.T) {
	ve := parseErr(t, dev("      - {id: r1, host: h, password_env: \"hunter2 S3cret!\"}\n"))
	if strings.Contains(ve.Error(), "hunter2") {
		t.Fatalf("error echoes the value: %s", ve)
	}
	wantLines(t, ve, []string{"4|password_env must name an environment variable"})
}

func TestFiveMistakes(t *testing.T) {
	src := `defaults:
  username: backup
tenants:
  - id: acme
    devices:
      - id: core-1
        host: 192.0.2.1
      - id: core-1
        host: 192.0.2.2
      - id: edge#2
        host: 192.0.2.3
      - id: edge-3
        port: 22
      - id: edge-4
        host: 192.0.2.4
        usernme: backup
      - id: edge-5
        host: 192.0.2.5
        port: 222222
`
	ve := parseErr(t, src)
	wantLines(t, ve, []string{
		`8|duplicate device ID "core-1" in tenant "acme" (first at line 6)`,
		`10|invalid device ID "edge#2": contains '#'`,
		`12|device "acme/edge-3" has no host`,
		`16|unknown key "usernme" in device "acme/edge-4": did you mean "username"?`,
		`19|device "acme/edge-5": bad port "222222"`,
	})
	// In line order, one per line, exactly as the CLI prints them.
	want := `inv.yaml:8: duplicate device ID "core-1" in tenant "acme" (first at line 6): device IDs must be unique within a tenant
inv.yaml:10: invalid device ID "edge#2": contains '#': use 1-64 letters, digits, '_' or '-'
inv.yaml:12: device "acme/edge-3" has no host: add "host: <address or DNS name>"
inv.yaml:16: unknown key "usernme" in device "acme/edge-4": did you mean "username"?
inv.yaml:19: device "acme/edge-5": bad port "222222": use a number from 1 to 65535`
	if ve.Error() != want {
		t.Errorf("error text:\n%s\nwant:\n%s", ve, want)
	}
}

func TestParseExample(t *testing.T) {
	home := fakeHome(t)
	src := `defaults:
  username: backup
  port: 22
  identity_file: ~/.ssh/id_ed25519
  secrets: show
tenants:
  - id: acme
    name: ACME Networks
    defaults:
      password_env: ACME_BACKUP_PASSWORD
    devices:
      - id: core-rtr-1
        name: Core router 1
        host: 192.0.2.1
        port: 22
        host_key: ` + validKey + `
        tags: [core, pop1]
      - id: edge_2
        host: "[2001:db8::2]"
        port: "2222"
        secrets: hide
  - id: globex
    devices:
      - {id: core-rtr-1, host: rtr1.globex.example.}
`
	inv, warnings, err := Parse("/etc/cfgsnap/inventory.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if inv.Path != "/etc/cfgsnap/inventory.yaml" || len(inv.Tenants) != 2 {
		t.Fatalf("path %q, %d tenants", inv.Path, len(inv.Tenants))
	}
	acme := inv.Tenants[0]
	if acme.ID != "acme" || acme.Name != "ACME Networks" || acme.Line != 7 || len(acme.Devices) != 2 {
		t.Fatalf("tenant acme: %+v", acme)
	}
	d := acme.Devices[0]
	want := Device{ID: "core-rtr-1", TenantID: "acme", Name: "Core router 1", Host: "192.0.2.1", Port: 22,
		Username: "backup", Secrets: "show", HostKey: validKey, Line: 12,
		Credentials: Credentials{PasswordEnv: "ACME_BACKUP_PASSWORD", IdentityFile: filepath.Join(home, ".ssh/id_ed25519")}}
	if d.ID != want.ID || d.TenantID != want.TenantID || d.Name != want.Name || d.Host != want.Host ||
		d.Port != want.Port || d.Username != want.Username || d.Secrets != want.Secrets || d.HostKey != want.HostKey ||
		d.Line != want.Line || d.Credentials != want.Credentials || strings.Join(d.Tags, ",") != "core,pop1" {
		t.Errorf("device:\n got %+v\nwant %+v", d, want)
	}
	e := acme.Devices[1]
	if e.Name != "edge_2" || e.Host != "2001:db8::2" || e.Port != 2222 || e.Secrets != "hide" || e.Line != 18 || e.Tags != nil {
		t.Errorf("edge_2: %+v", e)
	}
	g := inv.Tenants[1]
	if g.Name != "globex" || g.Devices[0].Username != "backup" || g.Devices[0].Credentials.PasswordEnv != "" {
		t.Errorf("globex takes acme's defaults or misses the file's: %+v", g)
	}
}

func TestPackageDefaults(t *testing.T) {
	inv, _, err := Parse("inv.yaml", []byte(dev("      - {id: r1, host: 192.0.2.1}\n")))
	if err != nil {
		t.Fatal(err)
	}
	d := inv.Tenants[0].Devices[0]
	if d.Username != "admin" || d.Port != 22 || d.Secrets != "show" || d.Name != "r1" || d.Credentials != (Credentials{}) {
		t.Errorf("defaults: %+v", d)
	}
	if inv.Tenants[0].Name != "acme" {
		t.Errorf("tenant name %q, want the ID", inv.Tenants[0].Name)
	}
}

func TestDefaultsPrecedence(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"file.key", "tenant.pw", "dev.key"} {
		writeSecret(t, filepath.Join(dir, f), 0o600)
	}
	src := `defaults:
  username: file-user
  port: 2201
  secrets: hide
  identity_file: file.key
  password_env: FILE_PW
tenants:
  - id: t1
    defaults:
      username: tenant-user
      port: 2202
      password_file: tenant.pw
    devices:
      - id: plain
        host: h
      - id: own
        host: h
        username: dev-user
        port: 2203
        secrets: show
        identity_file: dev.key
        password: inline-pw
  - id: t2
    devices:
      - {id: plain, host: h}
`
	inv, _, err := Parse(filepath.Join(dir, "inv.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		tenant, device string
		user           string
		port           int
		secrets        string
		creds          Credentials
	}{
		{"t1", "plain", "tenant-user", 2202, "hide",
			Credentials{PasswordFile: filepath.Join(dir, "tenant.pw"), IdentityFile: filepath.Join(dir, "file.key")}},
		// The device's inline password replaces the tenant's password_file
		// and the file's password_env: one password source per device.
		{"t1", "own", "dev-user", 2203, "show",
			Credentials{Password: "inline-pw", IdentityFile: filepath.Join(dir, "dev.key")}},
		{"t2", "plain", "file-user", 2201, "hide",
			Credentials{PasswordEnv: "FILE_PW", IdentityFile: filepath.Join(dir, "file.key")}},
	}
	for _, c := range cases {
		d, ok := inv.Device(c.tenant, c.device)
		if !ok {
			t.Fatalf("%s/%s not found", c.tenant, c.device)
		}
		if d.Username != c.user || d.Port != c.port || d.Secrets != c.secrets || d.Credentials != c.creds {
			t.Errorf("%s/%s: user %q port %d secrets %q creds %#v\nwant user %q port %d secrets %q creds %s",
				c.tenant, c.device, d.Username, d.Port, d.Secrets, d.Credentials, c.user, c.port, c.secrets, c.creds)
			t.Errorf("raw: %q %q %q %q", d.Credentials.PasswordEnv, d.Credentials.PasswordFile, d.Credentials.IdentityFile, d.Credentials.Password)
		}
	}
}

func TestPathExpansion(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := t.TempDir()
	cases := []struct{ in, want string }{
		{"~", home},
		{"~/.ssh/id_ed25519", filepath.Join(home, ".ssh/id_ed25519")},
		{"keys/acme", filepath.Join(dir, "keys/acme")},
		{"../shared/acme.pw", filepath.Join(filepath.Dir(dir), "shared/acme.pw")},
		{"/etc/cfgsnap//acme.pw", "/etc/cfgsnap/acme.pw"},
	}
	for _, c := range cases {
		got, err := expandPath(c.in, dir)
		if err != nil || got != c.want {
			t.Errorf("expandPath(%q) = %q, %v, want %q", c.in, got, err, c.want)
		}
	}
	// Through Parse, with the files in place: both keys take the expansion.
	for _, c := range cases[1:4] {
		if err := os.RemoveAll(c.want); err != nil {
			t.Fatal(err)
		}
		writeSecret(t, c.want, 0o600)
		src := dev("      - {id: r1, host: h, identity_file: \"" + c.in + "\", password_file: \"" + c.in + "\"}\n")
		inv, _, err := Parse(filepath.Join(dir, "inv.yaml"), []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		cr := inv.Tenants[0].Devices[0].Credentials
		if cr.IdentityFile != c.want || cr.PasswordFile != c.want {
			t.Errorf("%s: identity %q, password file %q, want %q", c.in, cr.IdentityFile, cr.PasswordFile, c.want)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestUseAgentInherits: use_agent is off by default and inherits like the
// other login settings, most specific level first, false included.
func TestUseAgentInherits(t *testing.T) {
	src := `defaults:
  use_agent: true
tenants:
  - id: t1
    defaults:
      use_agent: false
    devices:
      - {id: tenant-off, host: h}
      - {id: device-on, host: h, use_agent: true}
  - id: t2
    devices:
      - {id: file-on, host: h}
      - {id: device-off, host: h, use_agent: false}
      - {id: null-inherits, host: h, use_agent: ~}
`
	inv, _, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"t1/tenant-off": false, "t1/device-on": true, "t2/file-on": true, "t2/device-off": false, "t2/null-inherits": true} {
		tn, dv, _ := strings.Cut(id, "/")
		d, ok := inv.Device(tn, dv)
		if !ok || d.Credentials.UseAgent != want {
			t.Errorf("%s: use_agent %v (found %v), want %v", id, d != nil && d.Credentials.UseAgent, ok, want)
		}
	}
	inv, _, err = Parse("inv.yaml", []byte(dev("      - {id: r1, host: h}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Tenants[0].Devices[0].Credentials.UseAgent {
		t.Error("use_agent is on without being asked for")
	}
}

func TestNormalizedValues(t *testing.T) {
	padded := validKey + "="
	inv, _, err := Parse("inv.yaml", []byte(dev("      - {id: r1, host: \"[::1]\", host_key: \""+padded+"\"}\n      - {id: r2, host: \"fe80::1%eth0\"}\n")))
	if err != nil {
		t.Fatal(err)
	}
	d := inv.Tenants[0].Devices
	if d[0].Host != "::1" || d[0].HostKey != validKey || d[1].Host != "fe80::1%eth0" {
		t.Errorf("host %q key %q host %q", d[0].Host, d[0].HostKey, d[1].Host)
	}
}

func TestSameDeviceIDInTwoTenants(t *testing.T) {
	src := "tenants:\n  - id: a\n    devices: [{id: r1, host: h1}]\n  - id: b\n    devices: [{id: r1, host: h2}]\n"
	inv, _, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := inv.Device("a", "r1")
	b, _ := inv.Device("b", "r1")
	if a.Host != "h1" || b.Host != "h2" {
		t.Errorf("a/r1 %q b/r1 %q", a.Host, b.Host)
	}
}

func TestAliasesOfValuesWork(t *testing.T) {
	src := "tenants:\n  - id: a\n    devices:\n      - {id: r1, host: &h 192.0.2.1, tags: &t [core]}\n      - {id: r2, host: *h, tags: *t}\n"
	inv, _, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := inv.Device("a", "r2")
	if r2.Host != "192.0.2.1" || len(r2.Tags) != 1 || r2.Tags[0] != "core" {
		t.Errorf("r2: %+v", r2)
	}
}

// Aliases let a small file name the same tenant thousands of times, each
// with thousands of devices; the walk must stop instead of expanding them.
func TestAliasBombRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &t\n  id: a\n  devices:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "    - {id: r%d, host: h}\n", i)
	}
	b.WriteString("tenants:\n")
	for range 2000 {
		b.WriteString("  - *t\n")
	}
	start := time.Now()
	ve := parseErr(t, b.String())
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
	if !strings.Contains(ve.Error(), "through YAML aliases") {
		t.Errorf("no alias problem in:\n%.500s", ve)
	}
	if n := len(ve.Problems); n > 10000 {
		t.Errorf("%d problems: the walk went on expanding", n)
	}
}

func TestLookups(t *testing.T) {
	src := "tenants:\n  - id: a\n    devices: [{id: r1, host: h}, {id: r2, host: h}]\n  - id: b\n    devices: [{id: r3, host: h}]\n"
	inv, _, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if tn, ok := inv.Tenant("b"); !ok || tn.ID != "b" {
		t.Errorf("Tenant(b) = %v, %v", tn, ok)
	}
	if _, ok := inv.Tenant("c"); ok {
		t.Error("Tenant(c) found")
	}
	if _, ok := inv.Device("a", "r3"); ok {
		t.Error("a/r3 found: a device of tenant b reached through tenant a")
	}
	if _, ok := inv.Device("nope", "r1"); ok {
		t.Error("nope/r1 found")
	}
	var ids []string
	for _, d := range inv.Devices() {
		ids = append(ids, d.TenantID+"/"+d.ID)
	}
	if strings.Join(ids, " ") != "a/r1 a/r2 b/r3" {
		t.Errorf("Devices() = %v", ids)
	}
}

func TestInlinePasswordWarnings(t *testing.T) {
	src := `defaults:
  password: file-pw
tenants:
  - id: a
    devices:
      - {id: r1, host: h}
      - {id: r2, host: h}
      - {id: r3, host: h, password_env: PW}
      - id: r4
        host: h
        password: own-pw
  - id: empty
`
	_, warnings, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"inv.yaml:2: plain secret in inv.yaml (used by 2 devices): prefer password_env or password_file",
		"inv.yaml:11: plain secret in inv.yaml (used by 1 device): prefer password_env or password_file",
		`inv.yaml:12: tenant "empty" has no devices: add them under "devices:"`,
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range warnings {
		if strings.Contains(w, "file-pw") || strings.Contains(w, "own-pw") {
			t.Errorf("warning shows the password: %s", w)
		}
	}
}

func TestUnusedInlinePasswordWarned(t *testing.T) {
	pw := writeSecret(t, filepath.Join(t.TempDir(), "pw"), 0o600)
	src := "defaults:\n  password: pw\n" + dev("      - {id: r1, host: h, password_file: "+pw+"}\n")
	_, warnings, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "inv.yaml:2: plain secret in inv.yaml (not used by any device: remove it)") {
		t.Errorf("warnings: %q", warnings)
	}
}

func TestSuggest(t *testing.T) {
	known := deviceKeys
	cases := map[string]string{
		"hots": "host", "Host": "host", "hostkey": "host_key", "host-key": "host_key", "usrname": "username",
		"pasword": "password", "identityfile": "identity_file", "tag": "tags",
		"model": "", "devices": "", "x": "", strings.Repeat("h", 100): "",
	}
	for in, want := range cases {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
