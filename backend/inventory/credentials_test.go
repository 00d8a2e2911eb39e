package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolvePassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("CFGSNAP_TEST_PW", "from-env")
	t.Setenv("CFGSNAP_TEST_EMPTY", "")
	lf := write("lf.pw", "from-file\n")
	crlf := write("crlf.pw", "from file\r\n")
	spaces := write("spaces.pw", " pad ded \n\n")
	empty := write("empty.pw", "\n")
	big := write("big.pw", strings.Repeat("x", maxPasswordFile+1))

	cases := []struct {
		name    string
		c       Credentials
		want    string
		wantErr string
	}{
		{"env", Credentials{PasswordEnv: "CFGSNAP_TEST_PW"}, "from-env", ""},
		{"env unset", Credentials{PasswordEnv: "CFGSNAP_TEST_UNSET"}, "", "environment variable CFGSNAP_TEST_UNSET is not set"},
		{"env empty", Credentials{PasswordEnv: "CFGSNAP_TEST_EMPTY"}, "", "environment variable CFGSNAP_TEST_EMPTY is empty"},
		{"file", Credentials{PasswordFile: lf}, "from-file", ""},
		{"file CRLF", Credentials{PasswordFile: crlf}, "from file", ""},
		// Only one trailing newline is the editor's; the rest is the password.
		{"file spaces kept", Credentials{PasswordFile: spaces}, " pad ded \n", ""},
		{"file missing", Credentials{PasswordFile: filepath.Join(dir, "nope.pw")}, "", "nope.pw: no such file"},
		{"file empty", Credentials{PasswordFile: empty}, "", "empty.pw is empty"},
		{"file too big", Credentials{PasswordFile: big}, "", "not a password file"},
		{"file is a directory", Credentials{PasswordFile: dir}, "", "password_file"},
		{"inline", Credentials{Password: "inline"}, "inline", ""},
		{"none", Credentials{IdentityFile: "/k"}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.c.ResolvePassword()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("= %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestUnreadablePasswordFile(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads mode-0 files; the missing-file case covers the error path.
		p := filepath.Join(t.TempDir(), "missing", "pw")
		if _, err := (Credentials{PasswordFile: p}).ResolvePassword(); err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v, want it to name %s", err, p)
		}
		return
	}
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("x\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	if _, err := (Credentials{PasswordFile: p}).ResolvePassword(); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err = %v, want permission denied", err)
	}
}

func TestCredentialsString(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cases := []struct {
		c    Credentials
		want string
	}{
		{Credentials{PasswordEnv: "ACME_PW", IdentityFile: filepath.Join(home, ".ssh/id")}, "password_env=ACME_PW identity_file=~/.ssh/id"},
		{Credentials{PasswordFile: "/etc/cfgsnap/acme.pw"}, "password_file=/etc/cfgsnap/acme.pw"},
		{Credentials{Password: "hunter2"}, "password=<redacted>"},
		{Credentials{}, "none"},
	}
	for _, c := range cases {
		if got := c.c.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

// No way of printing a Device, short of reading the field, shows its
// password: fmt verbs, JSON, slog's text and JSON handlers.
func TestPasswordNeverFormatted(t *testing.T) {
	const secret = "hunter2-S3cret"
	src := dev("      - {id: r1, host: 192.0.2.1, password: " + secret + "}\n")
	inv, _, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := inv.Tenants[0].Devices[0]
	if d.Credentials.Password != secret {
		t.Fatalf("password not loaded: the test would prove nothing")
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(verb, d), fmt.Sprintf(verb, &d), fmt.Sprintf(verb, d.Credentials), fmt.Sprintf(verb, inv))
	}
	outs = append(outs, fmt.Sprint(d), fmt.Sprintln(inv.Devices()))
	j, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("dev", "device", d, "creds", d.Credentials)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("dev", "device", d, "creds", d.Credentials)
	outs = append(outs, buf.String())

	hexSecret := fmt.Sprintf("%x", secret)
	for _, o := range outs {
		if strings.Contains(o, secret) || strings.Contains(strings.ToLower(o), hexSecret) {
			t.Errorf("password leaked: %s", o)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", d), "password=<redacted>") {
		t.Errorf("%%+v does not say a password is set: %+v", d)
	}
	if !strings.Contains(string(j), `"password":"\u003credacted\u003e"`) {
		t.Errorf("JSON does not say a password is set: %s", j)
	}
}
