package devicesim

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

var (
	isoHeader = regexp.MustCompile(`^# \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} by RouterOS `)
	oldHeader = regexp.MustCompile(`^# (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)/\d{2}/\d{4} \d{2}:\d{2}:\d{2} by RouterOS `)
)

// secretAttrs are attributes RouterOS hides unless asked for sensitive
// values; every generated device of some size has each of them.
var secretAttrs = []string{"password=", "authentication-password=", "source="}

func hasSecrets(t *testing.T, out []byte) bool {
	t.Helper()
	n := 0
	for _, a := range secretAttrs {
		if bytes.Contains(out, []byte(a)) {
			n++
		}
	}
	if n != 0 && n != len(secretAttrs) {
		t.Fatalf("export shows some secrets but not all (%d of %d)", n, len(secretAttrs))
	}
	return n > 0
}

func TestExportCommandsPerVersion(t *testing.T) {
	f := startFleet(t, Config{Now: fixedClock},
		Spec{Tenant: "acme", ID: "v6", Version: "6.49.10", Model: "RB4011iGS+", SizeBytes: 20 << 10},
		Spec{Tenant: "acme", ID: "v7", Version: "7.16.2", Model: "CCR2004-16G-2S+", SizeBytes: 20 << 10},
		Spec{Tenant: "acme", ID: "v7early", Version: "7.8", Model: "RB5009UG+S+", SizeBytes: 20 << 10},
	)
	cases := []struct {
		id, cmd     string
		status      int
		secrets     bool
		errText     string // the RouterOS error printed instead of an export
		wantTerse   bool
		headerMatch *regexp.Regexp
	}{
		{id: "v6", cmd: "/export", secrets: true, headerMatch: oldHeader},
		{id: "v6", cmd: "/export hide-sensitive", secrets: false, headerMatch: oldHeader},
		{id: "v6", cmd: "/export show-sensitive", status: 1, errText: "expected end of command (line 1 column 9)\r\n"},
		{id: "v6", cmd: "/export terse show-sensitive", status: 1, errText: "expected end of command (line 1 column 15)\r\n"},
		{id: "v6", cmd: "/export terse hide-sensitive", secrets: false, wantTerse: true, headerMatch: oldHeader},
		{id: "v6", cmd: "/export compact", secrets: true, headerMatch: oldHeader},
		{id: "v7", cmd: "/export", secrets: false, headerMatch: isoHeader},
		{id: "v7", cmd: "/export show-sensitive", secrets: true, headerMatch: isoHeader},
		{id: "v7", cmd: "/export hide-sensitive", secrets: false, headerMatch: isoHeader},
		{id: "v7", cmd: "/export terse", secrets: false, wantTerse: true, headerMatch: isoHeader},
		{id: "v7", cmd: "/export terse show-sensitive", secrets: true, wantTerse: true, headerMatch: isoHeader},
		{id: "v7", cmd: "/export show-sensitive terse", secrets: true, wantTerse: true, headerMatch: isoHeader},
		{id: "v7", cmd: "/export compact", status: 1, errText: "expected end of command (line 1 column 9)\r\n"},
		{id: "v7", cmd: "/export file=x", status: 1, errText: "expected end of command (line 1 column 9)\r\n"},
		{id: "v7early", cmd: "/export show-sensitive", secrets: true, headerMatch: oldHeader},
		{id: "v7early", cmd: "/export", secrets: false, headerMatch: oldHeader},
	}
	clients := map[string]*ssh.Client{}
	for _, id := range []string{"v6", "v7", "v7early"} {
		clients[id] = dial(t, f, "acme", id)
	}
	for _, tc := range cases {
		t.Run(tc.id+" "+tc.cmd, func(t *testing.T) {
			out, err := run(t, clients[tc.id], tc.cmd)
			if got := exitStatus(t, err); got != tc.status {
				t.Fatalf("exit status %d, want %d; output %q", got, tc.status, tail(string(out)))
			}
			if tc.errText != "" {
				if string(out) != tc.errText {
					t.Fatalf("output %q, want %q", out, tc.errText)
				}
				return
			}
			lines := splitCRLF(t, out)
			if !tc.headerMatch.MatchString(lines[0]) {
				t.Errorf("header %q does not match %s", lines[0], tc.headerMatch)
			}
			if !strings.HasSuffix(lines[0], " by RouterOS "+map[string]string{"v6": "6.49.10", "v7": "7.16.2", "v7early": "7.8"}[tc.id]) {
				t.Errorf("header %q names another version", lines[0])
			}
			for i, prefix := range []string{"# software id = ", "#", "# model = ", "# serial number = "} {
				if !strings.HasPrefix(lines[i+1], prefix) {
					t.Errorf("header line %d is %q, want %q...", i+2, lines[i+1], prefix)
				}
			}
			if got := hasSecrets(t, out); got != tc.secrets {
				t.Errorf("secrets shown: %v, want %v", got, tc.secrets)
			}
			terse := bytes.Contains(out, []byte("\r\n/ip address add address="))
			if terse != tc.wantTerse {
				t.Errorf("terse form: %v, want %v", terse, tc.wantTerse)
			}
			if err := routeros.Validate(routeros.Normalize(out)); err != nil {
				t.Errorf("routeros.Validate rejects the export: %v", err)
			}
			wantSecrets := tc.secrets
			if exp, err := f.Export("acme", tc.id, wantSecrets); err != nil {
				t.Fatal(err)
			} else if !tc.wantTerse && !bytes.Equal(exp, out) {
				t.Errorf("Fleet.Export(%v) differs from what the device sent", wantSecrets)
			}
		})
	}
}

func TestPrintCommands(t *testing.T) {
	f := startFleet(t, Config{Now: fixedClock},
		Spec{Tenant: "acme", ID: "core-rtr-1", Version: "7.16.2", Model: "CCR2004-16G-2S+"},
		Spec{Tenant: "acme", ID: "old-1", Version: "6.49.10", Model: "hEX S"},
	)
	for _, d := range []struct{ id, version, channel, model string }{
		{"core-rtr-1", "7.16.2", "stable", "CCR2004-16G-2S+"},
		{"old-1", "6.49.10", "long-term", "hEX S"},
	} {
		c := dial(t, f, "acme", d.id)
		out, err := run(t, c, "/system resource print")
		if err != nil {
			t.Fatalf("%s: resource print: %v", d.id, err)
		}
		lines := splitCRLF(t, out)
		if !strings.Contains(string(out), "                  version: "+d.version+" ("+d.channel+")\r\n") {
			t.Errorf("%s: resource print lacks the aligned version line:\n%s", d.id, out)
		}
		if !strings.Contains(string(out), "               board-name: "+d.model+"\r\n") {
			t.Errorf("%s: resource print lacks board-name %q", d.id, d.model)
		}
		for _, l := range lines[:len(lines)-1] {
			if strings.Index(l, ": ") != 25 {
				t.Errorf("%s: line %q is not aligned at column 25", d.id, l)
			}
		}
		v, err := routeros.ParseResource(out)
		if err != nil || v.String() != d.version {
			t.Errorf("%s: routeros.ParseResource = %v, %v; want %s", d.id, v, err, d.version)
		}

		out, err = run(t, c, "/system package update print")
		if err != nil || !strings.Contains(string(out), "  installed-version: "+d.version+"\r\n") || !strings.Contains(string(out), "            channel: "+d.channel+"\r\n") {
			t.Errorf("%s: package update print = %q, %v", d.id, out, err)
		}
		out, err = run(t, c, "/system identity print")
		if err != nil || string(out) != "  name: "+d.id+"\r\n" {
			t.Errorf("%s: identity print = %q, %v", d.id, out, err)
		}
		out, err = run(t, c, ":put [/system resource get version]")
		if err != nil || string(out) != d.version+" ("+d.channel+")\r\n" {
			t.Errorf("%s: get version = %q, %v", d.id, out, err)
		}
		out, err = run(t, c, "/system/resource/print without-paging")
		if err != nil || !strings.Contains(string(out), "version: "+d.version) {
			t.Errorf("%s: slash-separated path = %q, %v", d.id, out, err)
		}
	}
}

func TestBadCommands(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "r1", Version: "7.16.2"})
	c := dial(t, f, "acme", "r1")
	for _, tc := range []struct{ cmd, want string }{
		{"foo", "bad command name foo (line 1 column 1)\r\n"},
		{"/foo bar", "bad command name foo (line 1 column 2)\r\n"},
		{"/system reboot", "bad command name reboot (line 1 column 9)\r\n"},
		{"/system resource print detail", "expected end of command (line 1 column 24)\r\n"},
		{"/system", "expected command name (line 1 column 8)\r\n"},
		{"/export \x00\xff", "expected end of command (line 1 column 9)\r\n"},
	} {
		out, err := run(t, c, tc.cmd)
		if exitStatus(t, err) != 1 || string(out) != tc.want {
			t.Errorf("%q: got %q (%v), want %q and exit status 1", tc.cmd, out, err, tc.want)
		}
	}
	// An empty command does nothing, successfully, as on RouterOS.
	if out, err := run(t, c, ""); err != nil || len(out) != 0 {
		t.Errorf("empty command: %q, %v", out, err)
	}
}

func TestShellGetsBannerAndCloses(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "r1", Version: "7.16.2"})
	c := dial(t, f, "acme", "r1")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	if !strings.Contains(out.String(), "MikroTik RouterOS 7.16.2") {
		t.Errorf("shell banner = %q", out.String())
	}
}
