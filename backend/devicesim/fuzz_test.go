package devicesim

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzWrapRoundTrip(f *testing.F) {
	f.Add(`add action=accept chain=input comment="defconf: accept established,related,untracked" connection-state=established,related,untracked`)
	f.Add(`add name=x source="` + strings.Repeat(`\"a b\" \$c\\`, 20) + `"`)
	f.Add(strings.Repeat("a=b ", 40))
	f.Add("add a=" + strings.Repeat(" ", 100) + "b")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "\r\n") || strings.TrimRight(s, " \t\\") != s {
			return // not an export line: those never hold line ends or end in blanks or a backslash
		}
		if got := joinContinuations(wrapLine(s)); len(got) != 1 || got[0] != s {
			t.Fatalf("join(wrap(%q)) = %q", s, got)
		}
	})
}

func FuzzCommand(f *testing.F) {
	fleet := startFleet(f, Config{Now: fixedClock},
		Spec{Tenant: "acme", ID: "v6", Version: "6.49.10", SizeBytes: 3 << 10},
		Spec{Tenant: "acme", ID: "v7", Version: "7.16.2", SizeBytes: 3 << 10})
	for _, s := range []string{"/export", "/export show-sensitive terse", "/system resource print", "foo bar", "/", "/system//identity print",
		":put [/system resource get version]", "/export \x00", "  \t ", "/system package update print without-paging extra"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		for _, d := range fleet.devices {
			r := d.respond(cmd, fixedNow)
			out, err := r.bytes()
			if err != nil {
				t.Fatalf("%s: %q: %v", d.spec.ID, cmd, err)
			}
			if r.status != 0 && r.status != 1 {
				t.Fatalf("%s: %q: exit status %d", d.spec.ID, cmd, r.status)
			}
			if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
				t.Fatalf("%s: %q: reply does not end with CRLF: %q", d.spec.ID, cmd, out)
			}
			if r.status == 1 && !bytes.Contains(out, []byte("(line 1 column ")) {
				t.Fatalf("%s: %q: error without a position: %q", d.spec.ID, cmd, out)
			}
		}
	})
}
