package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

func TestWriteFileRoundTrip(t *testing.T) {
	home := fakeHome(t)
	dir := t.TempDir()
	writeSecret(t, filepath.Join(dir, "acme.pw"), 0o600)
	path := filepath.Join(dir, "inventory.yaml")
	doc := FileDoc{
		Defaults: &FileSettings{Username: "backup", Port: 2222, IdentityFile: "~/.ssh/id_ed25519", Secrets: "hide"},
		Tenants: []FileTenant{
			{ID: "acme", Name: "ACME Networks", Defaults: &FileSettings{PasswordEnv: "ACME_PW"}, Devices: []FileDevice{
				{ID: "core-1", Name: "Core 1", Host: "192.0.2.1", Port: 22, HostKey: validKey, Tags: []string{"core", "pop1"}},
				{ID: "edge-2", Host: "edge-2.acme.example", Username: "ops", PasswordFile: "acme.pw", Secrets: "show"},
			}},
			{ID: "globex", Devices: []FileDevice{
				{ID: "r1", Host: "::1", Password: "lab-only"},
			}},
		},
	}
	if err := WriteFile(path, doc); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	inv, warnings, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// 0600: the inline password earns the plain-secret warning only.
	if len(warnings) != 1 || !strings.Contains(warnings[0], "plain secret") {
		t.Errorf("warnings: %q", warnings)
	}
	idKey := filepath.Join(home, ".ssh/id_ed25519")
	want := []Device{
		{ID: "core-1", TenantID: "acme", Name: "Core 1", Host: "192.0.2.1", Port: 22, Username: "backup",
			Tags: []string{"core", "pop1"}, Secrets: "hide", HostKey: validKey,
			Credentials: Credentials{PasswordEnv: "ACME_PW", IdentityFile: idKey}},
		{ID: "edge-2", TenantID: "acme", Name: "edge-2", Host: "edge-2.acme.example", Port: 2222, Username: "ops",
			Secrets: "show", Credentials: Credentials{PasswordFile: filepath.Join(dir, "acme.pw"), IdentityFile: idKey}},
		{ID: "r1", TenantID: "globex", Name: "r1", Host: "::1", Port: 2222, Username: "backup", Secrets: "hide",
			Credentials: Credentials{Password: "lab-only", IdentityFile: idKey}},
	}
	got := inv.Devices()
	if len(got) != len(want) {
		t.Fatalf("%d devices, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		g.Line = 0
		if !slices.Equal(g.Tags, w.Tags) || g.Credentials != w.Credentials ||
			fmt.Sprint(withoutTagsCreds(g)) != fmt.Sprint(withoutTagsCreds(w)) {
			t.Errorf("device %d:\n got %+v %q\nwant %+v %q", i, g, g.Credentials.Password, w, w.Credentials.Password)
		}
	}
	if tn, _ := inv.Tenant("acme"); tn.Name != "ACME Networks" {
		t.Errorf("tenant name %q", tn.Name)
	}
	if tn, _ := inv.Tenant("globex"); tn.Name != "globex" {
		t.Errorf("tenant name %q", tn.Name)
	}
}

func withoutTagsCreds(d Device) Device {
	d.Tags, d.Credentials = nil, Credentials{}
	return d
}

func TestLoadPermissionWarning(t *testing.T) {
	dir := t.TempDir()
	withPW := dev("      - id: r1\n        host: h\n        password: pw\n")
	noPW := dev("      - {id: r1, host: h, password_env: PW}\n")
	cases := []struct {
		name string
		src  string
		mode os.FileMode
		want string // "" for no permission warning
	}{
		{"group readable with password", withPW, 0o640, "inventory.yaml is readable by group or others (mode 0640) and holds a password: run chmod 600 "},
		{"world readable with password", withPW, 0o644, "(mode 0644)"},
		{"private with password", withPW, 0o600, ""},
		{"world readable without password", noPW, 0o644, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "inventory.yaml")
			if err := os.WriteFile(path, []byte(c.src), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, warnings, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var perm []string
			for _, w := range warnings {
				if strings.Contains(w, "readable by") {
					perm = append(perm, w)
				}
			}
			switch {
			case c.want == "" && len(perm) > 0:
				t.Errorf("unexpected warning %q", perm)
			case c.want != "" && (len(perm) != 1 || !strings.HasPrefix(perm[0], path+":6: ") || !strings.Contains(perm[0], c.want)):
				t.Errorf("warnings %q, want one at %s:6 containing %q", warnings, path, c.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cases := []struct{ path, want string }{
		{filepath.Join(dir, "missing.yaml"), "missing.yaml: no such file"},
		{dir, "is a directory"},
		{big, "larger than 32 MiB"},
	}
	for _, c := range cases {
		_, _, err := Load(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s) = %v, want %q", c.path, err, c.want)
		}
		if IsValidationError(err) {
			t.Errorf("Load(%s): an unreadable file is not a validation error", c.path)
		}
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("tenants: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(bad)
	if !IsValidationError(fmt.Errorf("load: %w", err)) || !strings.HasPrefix(err.Error(), bad+":1: no tenants") {
		t.Errorf("Load(bad) = %v", err)
	}
}

// Relative paths follow the inventory, not the working directory.
func TestLoadRelativeToInventory(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "acme.pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "inv.yaml")
	if err := os.WriteFile(path, []byte(dev("      - {id: r1, host: h, password_file: acme.pw}\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	inv, _, err := Load("etc/inv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pw, err := inv.Tenants[0].Devices[0].Credentials.ResolvePassword()
	if err != nil || pw != "s3cret" {
		t.Fatalf("ResolvePassword = %q, %v", pw, err)
	}
	if inv.Path != "etc/inv.yaml" {
		t.Errorf("Path %q: messages should name the file as the user gave it", inv.Path)
	}
}

var fuzzSeeds = []string{
	"",
	"tenants:\n  - id: acme\n    devices:\n      - {id: r1, host: 192.0.2.1, port: 22, tags: [a]}\n",
	"defaults: {username: backup, port: 22, identity_file: ~/.ssh/id, secrets: show}\ntenants:\n  - id: acme\n    name: ACME\n    defaults: {password_env: ACME_PW}\n    devices:\n      - {id: r1, host: \"[::1]\", host_key: " + validKey + "}\n",
	"tenants:\n  - id: a\n    devices: [{id: r1, host: h}, {id: r1, host: h}]\n",
	"x: &t {id: a, devices: [{id: r, host: h}]}\ntenants: [*t, *t]\n",
	"tenants:\n  - id: a\n    devices:\n      - {id: r1, host: h, <<: {port: 1}}\n",
	"tenants:\n\t- id: a\n",
	"- a\n- b\n",
	"tenants: [{id: a, devices: [{id: r1, host: h, password: p, password_env: P}]}]\n---\nfoo\n",
}

// FuzzParse: bad input never panics, and Parse either accepts a sound
// inventory or returns a ValidationError with located problems.
func FuzzParse(f *testing.F) {
	fakeHome(f)
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, warnings, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %T %v, want a ValidationError with problems", err, err)
			}
			for _, l := range strings.Split(ve.Error(), "\n") {
				if !strings.HasPrefix(l, "fuzz.yaml:") {
					t.Fatalf("problem line without the file: %q", l)
				}
			}
			return
		}
		for _, w := range warnings {
			if !strings.HasPrefix(w, "fuzz.yaml:") {
				t.Fatalf("warning without the file: %q", w)
			}
		}
		if len(inv.Tenants) == 0 {
			t.Fatal("accepted an inventory without tenants")
		}
		tenants := map[string]bool{}
		for _, tn := range inv.Tenants {
			if !api.ValidID(tn.ID) || tenants[tn.ID] || tn.Name == "" {
				t.Fatalf("bad or duplicate tenant %+v", tn)
			}
			tenants[tn.ID] = true
			devices := map[string]bool{}
			for _, d := range tn.Devices {
				if !api.ValidID(d.ID) || devices[d.ID] || d.TenantID != tn.ID || d.Host == "" || d.Name == "" ||
					d.Port < 1 || d.Port > 65535 || d.Username == "" || (d.Secrets != SecretsShow && d.Secrets != SecretsHide) {
					t.Fatalf("bad or duplicate device %+v", d)
				}
				devices[d.ID] = true
				if got, ok := inv.Device(tn.ID, d.ID); !ok || got.Host != d.Host {
					t.Fatalf("Device(%s, %s) = %v, %v", tn.ID, d.ID, got, ok)
				}
			}
		}
	})
}

// benchInventory returns an inventory of tenants*perTenant devices in the
// shape real ones have: file and tenant defaults, names, tags, some pins.
func benchInventory(tenants, perTenant int) []byte {
	var b strings.Builder
	b.WriteString("defaults:\n  username: backup\n  identity_file: ~/.ssh/id_ed25519\n  secrets: show\ntenants:\n")
	for ti := range tenants {
		fmt.Fprintf(&b, "  - id: tenant-%d\n    name: Tenant %d\n    defaults:\n      password_env: T%d_PW\n    devices:\n", ti, ti, ti)
		for di := range perTenant {
			fmt.Fprintf(&b, "      - id: rtr-%d\n        name: Router %d of tenant %d\n        host: 10.%d.%d.%d\n        port: 22\n        tags: [pop%d, %s]\n",
				di, di, ti, ti, di/256, di%256, di%7, []string{"core", "edge", "access"}[di%3])
			if di%10 == 0 {
				fmt.Fprintf(&b, "        host_key: %s\n", validKey)
			}
		}
	}
	return []byte(b.String())
}

func TestBenchInventoryIsValid(t *testing.T) {
	fakeHome(t)
	inv, _, err := Parse("bench.yaml", benchInventory(3, 50))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(inv.Devices()); n != 150 {
		t.Fatalf("%d devices", n)
	}
}

func BenchmarkParse10kDevices(b *testing.B) {
	fakeHome(b)
	data := benchInventory(20, 500)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		inv, _, err := Parse("bench.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Tenants) != 20 {
			b.Fatal("wrong tenant count")
		}
	}
}
