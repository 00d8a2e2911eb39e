package devicesim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

// wrapLine returns the physical lines of s (without line ends).
func wrapLine(s string) []string {
	return strings.Split(strings.TrimSuffix(string(appendWrapped(nil, s)), "\r\n"), "\r\n")
}

// checkWrapped asserts what the rest of cfgsnap relies on: joining the
// pieces per normalisation rule 3 gives back exactly s, and pieces look
// like RouterOS's (80 columns, 4-space continuation, never a blank after
// the indent).
func checkWrapped(t *testing.T, s string) {
	t.Helper()
	pieces := wrapLine(s)
	if got := joinContinuations(pieces); len(got) != 1 || got[0] != s {
		t.Fatalf("join(wrap(%q)) = %q", s, got)
	}
	for i, p := range pieces {
		if i > 0 && (!strings.HasPrefix(p, wrapIndent) || isBlank(p[len(wrapIndent)])) {
			t.Fatalf("continuation %d of %q is %q: want 4 spaces then text", i, s, p)
		}
		if i < len(pieces)-1 && !strings.HasSuffix(p, `\`) {
			t.Fatalf("piece %d of %q does not end in a backslash: %q", i, s, p)
		}
		// A token that cannot be cut safely may overrun; nothing here has one.
		if len(p) > 79 {
			t.Fatalf("piece %d of %q is %d columns: %q", i, s, len(p), p)
		}
	}
}

func TestWrapRoundTrips(t *testing.T) {
	cases := []string{
		"add address=192.168.88.1/24 comment=defconf interface=bridge network=192.168.88.0",
		`add action=accept chain=input comment="defconf: accept established,related,untracked" connection-state=established,related,untracked`,
		`add action=drop chain=input comment="a comment  with  double  spaces that is long enough to need a break inside it" src-address=10.0.0.1`,
		`add name=x source="` + strings.Repeat(`:put \"a  b\"; \$x \\ `, 12) + `"`,
		"add policy=" + strings.Repeat("read,write,", 20) + "test",
		strings.Repeat("x", 300),
		"set [ find default-name=sfp-sfpplus1 ] comment=" + strings.Repeat("y", 200) + " mtu=1500",
		"short line",
		"",
	}
	for _, s := range cases {
		checkWrapped(t, s)
	}
	// A run of blanks longer than a line cannot start a continuation (the
	// join would eat it), so it stays whole on one long line.
	for _, s := range []string{"add a=b" + strings.Repeat(" ", 90) + "c=d", "add comment=\"" + strings.Repeat(" ", 100) + "\""} {
		if got := joinContinuations(wrapLine(s)); len(got) != 1 || got[0] != s {
			t.Fatalf("join(wrap(%q)) = %q", s, got)
		}
	}
	// Random lines over the characters that matter: blanks, quotes,
	// escapes, '=' and text.
	r := newRNG(42)
	alphabet := []string{" ", " ", "=", `"`, `\`, "a", "b", "c", "1", "-", ",", "\t", "abc=", "name ", `\"`, `\\`}
	for range 3000 {
		var b strings.Builder
		b.WriteString("add")
		for n := r.intn(60); n > 0; n-- {
			b.WriteString(alphabet[r.intn(len(alphabet))])
		}
		s := strings.TrimRight(b.String(), " \t\\") // a line ending in a blank or backslash is not an export line
		pieces := wrapLine(s)
		if got := joinContinuations(pieces); len(got) != 1 || got[0] != s {
			t.Fatalf("join(wrap(%q)) = %q", s, got)
		}
	}
}

// Every line of generated exports round-trips, and the normaliser of
// routeros (the code that hashes backups) reads them back unwrapped.
func TestGeneratedExportsRoundTrip(t *testing.T) {
	f := startFleet(t, Config{Now: fixedClock},
		Spec{Tenant: "acme", ID: "v7", Version: "7.16.2", Model: "CCR2004-16G-2S+", SizeBytes: 200 << 10},
		Spec{Tenant: "acme", ID: "v6", Version: "6.49.10", Model: "hAP ac2", SizeBytes: 60 << 10},
		Spec{Tenant: "acme", ID: "tiny", Version: "7.8", Model: "hEX S", SizeBytes: 2 << 10},
	)
	for _, id := range []string{"v7", "v6", "tiny"} {
		exp, err := f.Export("acme", id, true)
		if err != nil {
			t.Fatal(err)
		}
		lines := splitCRLF(t, exp)
		logical := joinContinuations(lines)
		var rewrapped []string
		for _, l := range logical {
			checkWrapped(t, l)
			rewrapped = append(rewrapped, wrapLine(l)...)
		}
		if strings.Join(rewrapped, "\n") != strings.Join(lines, "\n") {
			t.Errorf("%s: wrap(join(export)) differs from the export", id)
		}
		wrapped := 0
		for _, l := range lines {
			if strings.HasSuffix(l, `\`) {
				wrapped++
			}
		}
		if wrapped == 0 {
			t.Errorf("%s: no wrapped line at all: the test proves nothing", id)
		}
		// routeros.Normalize drops the date line, joins, and ends with LF.
		want := strings.Join(logical[1:], "\n") + "\n"
		if got := string(routeros.Normalize(exp)); got != want {
			t.Errorf("%s: routeros.Normalize does not read the export back as its logical lines", id)
		}
	}
}

// The wrapping rule was measured on a real RouterOS 7.15.2 capture: re-
// wrapping its logical lines must give RouterOS's own line breaks.
func TestWrapMatchesRouterOS(t *testing.T) {
	replies := builtinReplies(t, "routeros#L009UiGS_7.15.2#simulation.yaml")
	exp := replies["/export show-sensitive"]
	lines := strings.Split(strings.TrimRight(string(exp), "\r\n"), "\r\n")
	var groups [][]string
	for i := 0; i < len(lines); i++ {
		g := []string{lines[i]}
		for strings.HasSuffix(lines[i], `\`) && i+1 < len(lines) {
			i++
			g = append(g, lines[i])
		}
		groups = append(groups, g)
	}
	compared, sanitised := 0, 0
	for _, g := range groups {
		logical := joinContinuations(g)[0]
		if len(g) > 1 && len(logical) <= wrapWidth {
			// Addresses and list names were shortened by hand when the
			// capture was sanitised (192.0.2.1 for 192.168.88.1): RouterOS
			// wrapped the longer original.
			sanitised++
			continue
		}
		compared++
		if got := wrapLine(logical); strings.Join(got, "\n") != strings.Join(g, "\n") {
			t.Errorf("wrapped differently from RouterOS:\n got: %q\nwant: %q", got, g)
		}
	}
	if sanitised != 3 || compared < 100 {
		t.Errorf("compared %d lines, skipped %d sanitised ones; want 3 skipped and 100+ compared", compared, sanitised)
	}
}

func TestTerseExportIsUnwrappedWithPaths(t *testing.T) {
	f := startFleet(t, Config{Now: fixedClock}, Spec{Tenant: "acme", ID: "r1", Version: "7.16.2", SizeBytes: 30 << 10})
	c := dial(t, f, "acme", "r1")
	out, err := run(t, c, "/export terse show-sensitive")
	if err != nil {
		t.Fatal(err)
	}
	full, err := f.Export("acme", "r1", true)
	if err != nil {
		t.Fatal(err)
	}
	lines := splitCRLF(t, out)
	var want []string
	section := ""
	for _, l := range joinContinuations(splitCRLF(t, full)) {
		switch {
		case strings.HasPrefix(l, "#"):
			want = append(want, l)
		case strings.HasPrefix(l, "/"):
			section = l
		default:
			want = append(want, section+" "+l)
		}
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("terse export is not the full export with section paths on every line")
	}
	if !bytes.Contains(out, []byte("/ip firewall filter add action=")) {
		t.Errorf("terse export lacks firewall lines with their path")
	}
}
