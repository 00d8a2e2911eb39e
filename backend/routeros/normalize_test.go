package routeros

import (
	"bytes"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/testfixtures"
	"os"
	"strings"
	"testing"
)

type normCase struct {
	name, in, want string
}

func runNormCases(t *testing.T, cases []normCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Normalize([]byte(tc.in)))
			if got != tc.want {
				t.Errorf("Normalize(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if again := string(Normalize([]byte(got))); again != got {
				t.Errorf("not idempotent: second pass gives %q", again)
			}
		})
	}
}

func TestRule1ANSI(t *testing.T) {
	runNormCases(t, []normCase{
		{"colour reset", "/ip address\r\nadd \x1b[0maddress=192.0.2.1/24\x1b[m\r\n", "/ip address\nadd address=192.0.2.1/24\n"},
		{"colour with parameters", "\x1b[1;32m/system identity\x1b[0m\r\nset name=r1\r\n", "/system identity\nset name=r1\n"},
		{"private parameter and erase line", "\x1b[?25l\x1b[2K/system identity\r\nset name=r1\r\n", "/system identity\nset name=r1\n"},
		{"intermediate byte", "/system identity\r\nset name=r1\x1b[1 q\r\n", "/system identity\nset name=r1\n"},
		{"sequence hiding a continuation backslash", "/ip address\r\nadd network=\\\x1b[0m\r\n    192.0.2.0\r\n", "/ip address\nadd network=192.0.2.0\n"},
		{"sequence before continuation blanks", "/ip address\r\nadd network=\\\r\n\x1b[0m    192.0.2.0\r\n", "/ip address\nadd network=192.0.2.0\n"},
		{"sequence completed by removing another", "/x\nset \x1b\x1b[m[mname=a\n", "/x\nset name=a\n"},
		{"sequence completed by a join", "/x\nset \x1b\\\n[mname=a\n", "/x\nset name=a\n"},
		{"sequence split by a CR", "/x\nset \x1b[1\r;2mname=a\n", "/x\nset name=a\n"},
		{"ESC without bracket kept", "/x\nset a=\x1bb\n", "/x\nset a=\x1bb\n"},
		{"unfinished sequence kept", "/x\nset a=\x1b[12\n", "/x\nset a=\x1b[12\n"},
		{"overlong sequence kept", "/x\nset a=\x1b[" + strings.Repeat("1", maxCSIBody+1) + "m\n", "/x\nset a=\x1b[" + strings.Repeat("1", maxCSIBody+1) + "m\n"},
		{"longest sequence removed", "/x\nset a=1\x1b[" + strings.Repeat("1", maxCSIBody) + "m\n", "/x\nset a=1\n"},
	})
}

func TestRule2LineEnds(t *testing.T) {
	runNormCases(t, []normCase{
		{"CRLF becomes LF", "/ip dns\r\nset allow-remote-requests=yes\r\n", "/ip dns\nset allow-remote-requests=yes\n"},
		{"LF stays", "/ip dns\nset allow-remote-requests=yes\n", "/ip dns\nset allow-remote-requests=yes\n"},
		{"CR left at the end of a line", "/ip dns\r\r\nset allow-remote-requests=yes\r\r\r\n", "/ip dns\nset allow-remote-requests=yes\n"},
		{"CR at the end of the output", "/ip dns\r\nset allow-remote-requests=yes\r", "/ip dns\nset allow-remote-requests=yes\n"},
		{"CR before trailing blanks", "/ip dns\r \r\nset allow-remote-requests=yes\r\t\n", "/ip dns\nset allow-remote-requests=yes\n"},
		// Not covered by the spec: a stray CR inside a line is never
		// configuration, and keeping it would leave a CR in the output.
		{"stray CR inside a line", "/ip dns\r\nset allow-remote-requests=yes\r servers=192.0.2.53\r\n", "/ip dns\nset allow-remote-requests=yes servers=192.0.2.53\n"},
	})
}

func TestRule3Continuations(t *testing.T) {
	runNormCases(t, []normCase{
		{"wrapped value", "/ip address\r\nadd address=192.168.88.1/24 interface=bridge network=\\\r\n    192.168.88.0\r\n", "/ip address\nadd address=192.168.88.1/24 interface=bridge network=192.168.88.0\n"},
		{"space before the backslash kept", "/interface bridge\r\nadd name=bridge \\\r\n    port-cost-mode=short\r\n", "/interface bridge\nadd name=bridge port-cost-mode=short\n"},
		{"joins repeatedly", "/ip firewall filter\r\nadd action=accept chain=input comment=\\\r\n    \"defconf: accept established,related,untracked\" connection-state=\\\r\n    established,related,untracked\r\n", "/ip firewall filter\nadd action=accept chain=input comment=\"defconf: accept established,related,untracked\" connection-state=established,related,untracked\n"},
		{"tabs before the continuation removed", "/x\nset a=\\\n\t \tb\n", "/x\nset a=b\n"},
		{"leading blanks of a first line kept", "/x\n  set a=1\n", "/x\n  set a=1\n"},
		{"blanks after the backslash", "/x\r\nset a=\\ \t\r\n    b\r\n", "/x\nset a=b\n"},
		{"continuation of only a backslash", "/x\nset a=\\\n    \\\n    b\n", "/x\nset a=b\n"},
		{"absorbs an empty line", "/x\nset a=\\\n\nset b=1\n", "/x\nset a=\nset b=1\n"},
		{"backslash on the last line stays", "/x\nset a=\\\n", "/x\nset a=\\\n"},
		{"backslash at the end of the output stays", "/x\nset a=\\", "/x\nset a=\\\n"},
		{"joined comment is not dropped", "/x\nset a=1 \\\n    # inactive time\n", "/x\nset a=1 # inactive time\n"},
	})
}

func TestRule4TrailingBlanks(t *testing.T) {
	runNormCases(t, []normCase{
		{"spaces and tabs", "# software id = XX-XX \r\n/ip dns \t \r\nset allow-remote-requests=yes\t\r\n", "# software id = XX-XX\n/ip dns\nset allow-remote-requests=yes\n"},
		{"inner blanks kept", "/ip dns\nset  servers=192.0.2.53\t allow-remote-requests=yes\n", "/ip dns\nset  servers=192.0.2.53\t allow-remote-requests=yes\n"},
		{"quoted trailing space kept", "/x\nadd comment=\"discard only \" list=bad\n", "/x\nadd comment=\"discard only \" list=bad\n"},
	})
}

func TestRule5Header(t *testing.T) {
	const body = "# software id = A0AA-AAA0\r\n#\r\n# model = L009UiGS\r\n# serial number = AA111AAAAAA\r\n/system identity\r\nset name=router\r\n"
	const want = "# software id = A0AA-AAA0\n#\n# model = L009UiGS\n# serial number = AA111AAAAAA\n/system identity\nset name=router\n"
	runNormCases(t, []normCase{
		{"ISO date, RouterOS 7.10 and later", "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n" + body, want},
		{"mmm/dd/yyyy, RouterOS 6", "# mar/05/2022 07:00:36 by RouterOS 6.49.2\r\n" + body, want},
		{"mmm/dd/yyyy, early RouterOS 7", "# jan/02/1970 00:08:11 by RouterOS 7.6\r\n" + body, want},
		{"Mmm/dd/yyyy capitalised", "# Jun/27/2023 09:03:02 by RouterOS 7.10\r\n" + body, want},
		{"YYYY/MM/DD", "# 2024/10/25 12:09:43 by RouterOS 7.15.2\r\n" + body, want},
		{"after blank lines", "\r\n\r\n# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n" + body, want},
		{"below identity comments", "# software id = A0AA-AAA0\r\n# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n/system identity\r\nset name=router\r\n", "# software id = A0AA-AAA0\n/system identity\nset name=router\n"},
		{"every header line in the block", "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n# mar/05/2022 07:00:36 by RouterOS 6.49.2\r\n" + body, want},
		{"outside the leading block kept", "/system identity\r\nset name=router\r\n# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n", "/system identity\nset name=router\n# 2024-10-25 12:09:43 by RouterOS 7.15.2\n"},
		{"indented line kept", "  # 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n/system identity\r\n", "  # 2024-10-25 12:09:43 by RouterOS 7.15.2\n/system identity\n"},
		{"date without time kept", "# 2024-10-25 by RouterOS 7.15.2\r\n/system identity\r\n", "# 2024-10-25 by RouterOS 7.15.2\n/system identity\n"},
		{"not by RouterOS kept", "# 2024-10-25 12:09:43 by admin\r\n/system identity\r\n", "# 2024-10-25 12:09:43 by admin\n/system identity\n"},
		{"not a month kept", "# abc/05/2022 07:00:36 by RouterOS 6.49.2\r\n/system identity\r\n", "# abc/05/2022 07:00:36 by RouterOS 6.49.2\n/system identity\n"},
		{"identity lines kept", body, want},
	})
}

func TestRule6VolatileAnywhere(t *testing.T) {
	runNormCases(t, []normCase{
		{"in a section", "/interface ethernet\r\nset [ find default-name=ether1 ] poe-out=forced-on\r\n# poe-out status: short_circuit\r\nset [ find default-name=ether2 ] poe-out=off\r\n", "/interface ethernet\nset [ find default-name=ether1 ] poe-out=forced-on\nset [ find default-name=ether2 ] poe-out=off\n"},
		{"after leading blanks", "/interface ethernet\r\n    # Interface not active\r\nset [ find default-name=ether1 ] disabled=yes\r\n", "/interface ethernet\nset [ find default-name=ether1 ] disabled=yes\n"},
		{"in the leading block", "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n# Firmware upgraded successfully, please reboot for changes to take effect!\r\n# software id = A0AA-AAA0\r\n/system identity\r\n", "# software id = A0AA-AAA0\n/system identity\n"},
		{"indented volatile does not end the leading block", "  # inactive time\r\n# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n/system identity\r\n", "/system identity\n"},
		{"at the end", "/system identity\r\nset name=r1\r\n# ether1 not ready\r\n", "/system identity\nset name=r1\n"},
	})
}

func TestRule7BlankLines(t *testing.T) {
	runNormCases(t, []normCase{
		{"runs collapse", "/ip dns\r\n\r\n\r\n\r\n/ip route\r\n", "/ip dns\n\n/ip route\n"},
		{"blank-only lines are blank", "/ip dns\n   \n\t\n/ip route\n", "/ip dns\n\n/ip route\n"},
		{"leading and trailing dropped", "\r\n \r\n/ip dns\r\n\r\n\r\n", "/ip dns\n"},
		{"one final newline added", "/ip dns", "/ip dns\n"},
		{"around a dropped comment", "/ip dns\n\n# inactive time\n\n/ip route\n", "/ip dns\n\n/ip route\n"},
		{"dropped comment leaves no blank", "/ip dns\n# inactive time\n/ip route\n", "/ip dns\n/ip route\n"},
		{"empty input", "", ""},
		{"only blanks", " \r\n\t\r\n\r\n", ""},
		{"only a header", "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n\r\n", ""},
		{"only ANSI", "\x1b[0m\r\n\x1b[?25h", ""},
	})
}

// TestWorkedExample is the example of spec/normalization.md, byte for byte.
func TestWorkedExample(t *testing.T) {
	raw := "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n" +
		"# software id = A0AA-AAA0\r\n" +
		"#\r\n" +
		"/ip address\r\n" +
		"add address=192.168.88.1/24 comment=defconf interface=bridge network=\\\r\n" +
		"    192.168.88.0\r\n" +
		"# Interface not active\r\n" +
		"   \r\n" +
		"\r\n" +
		"/ip route\r\n"
	want := "# software id = A0AA-AAA0\n" +
		"#\n" +
		"/ip address\n" +
		"add address=192.168.88.1/24 comment=defconf interface=bridge network=192.168.88.0\n" +
		"\n" +
		"/ip route\n"
	if got := string(Normalize([]byte(raw))); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// volatileCases holds, per entry of VolatileComments, lines that entry
// must drop and similar lines it must keep.
var volatileCases = map[string]struct{ drop, keep []string }{
	"inactive time": {
		drop: []string{"# inactive time"},
		keep: []string{"# inactive timeout"},
	},
	"received packet bad format": {
		drop: []string{"# received packet from 192.0.2.7 bad format", "# received packet from fe80::1%ether1 bad format"},
		keep: []string{"# received packet from 192.0.2.7"},
	},
	"poe-out status": {
		drop: []string{"# poe-out status: short_circuit", "# poe-out status: power_reset"},
		keep: []string{"# poe-out status:", "# poe-out status: two words"},
	},
	"firmware upgraded": {
		drop: []string{"# Firmware upgraded successfully, please reboot for changes to take effect!", "# Firmware upgraded successfully"},
		keep: []string{"# firmware type = ipq4000L"},
	},
	"not ready": {
		drop: []string{"# ether1 not ready", "# sfp-sfpplus1 not ready"},
		keep: []string{"# software id = not ready", "# ether1 not ready yet"},
	},
	"interface not active": {
		drop: []string{"# Interface not active"},
		keep: []string{"# Interface not active on ether1"},
	},
	"restart to apply": {
		drop: []string{
			"# Warning: please restart the device in order to apply the new settings",
			"# CPU frequency changed, please restart the device in order to apply the new setting!",
		},
		keep: []string{"# please restart the device"},
	},
}

func TestVolatileComments(t *testing.T) {
	names := map[string]bool{}
	for _, v := range VolatileComments {
		if names[v.Name] {
			t.Errorf("entry %q listed twice", v.Name)
		}
		names[v.Name] = true
		t.Run(v.Name, func(t *testing.T) {
			cases, ok := volatileCases[v.Name]
			if !ok || len(cases.drop) == 0 || len(cases.keep) == 0 {
				t.Fatalf("entry %q needs lines to drop and to keep in volatileCases", v.Name)
			}
			for _, line := range cases.drop {
				if !v.Match([]byte(line)) {
					t.Errorf("Match(%q) = false", line)
				}
				for _, indent := range []string{"", "    ", "\t"} {
					raw := "/interface ethernet\r\n" + indent + line + " \r\nset [ find default-name=ether1 ] disabled=no\r\n"
					want := "/interface ethernet\nset [ find default-name=ether1 ] disabled=no\n"
					if got := string(Normalize([]byte(raw))); got != want {
						t.Errorf("Normalize kept %q:\n%q", indent+line, got)
					}
				}
			}
			for _, line := range cases.keep {
				if v.Match([]byte(line)) {
					t.Errorf("Match(%q) = true", line)
				}
				raw := "/interface ethernet\r\n" + line + "\r\n"
				if got, want := string(Normalize([]byte(raw))), "/interface ethernet\n"+line+"\n"; got != want {
					t.Errorf("Normalize dropped %q:\n%q", line, got)
				}
			}
		})
	}
	for name := range volatileCases {
		if !names[name] {
			t.Errorf("volatileCases has %q, which is not in VolatileComments", name)
		}
	}
}

func TestCaptureHashes(t *testing.T) {
	for _, c := range captures {
		t.Run(c.name, func(t *testing.T) {
			raw := captureExport(t, c.name)
			if !bytes.Contains(raw, []byte("\r\n")) {
				t.Fatal("capture reply has no CRLF: LoadCapture did not convert line ends")
			}
			norm := Normalize(raw)
			if got := Hash(norm); got != c.sha256 {
				t.Errorf("CRLF: sha256 %s, want %s", got, c.sha256)
			}
			if got := Hash(Normalize(lf(raw))); got != c.sha256 {
				t.Errorf("LF: sha256 %s, want %s", got, c.sha256)
			}
			if again := Normalize(norm); !bytes.Equal(again, norm) {
				t.Errorf("not idempotent on the capture")
			}
			if bytes.Contains(norm, []byte("by RouterOS")) {
				t.Errorf("export header survived:\n%s", norm)
			}
			if !bytes.HasPrefix(norm, []byte("# software id = ")) {
				t.Errorf("normalised export does not start with the software id:\n%.200s", norm)
			}
		})
	}
}

// TestCaptureHashesIgnoreWrapWidth rewraps each capture the way RouterOS
// does at other terminal widths: the hash must not change.
func TestCaptureHashesIgnoreWrapWidth(t *testing.T) {
	for _, c := range captures {
		norm := Normalize(captureExport(t, c.name))
		for _, width := range []int{24, 40, 79, 200} {
			wrapped := rewrap(norm, width)
			if got := Hash(Normalize(wrapped)); got != c.sha256 {
				t.Errorf("%s wrapped at %d: sha256 %s, want %s", c.name, width, got, c.sha256)
			}
		}
	}
}

// rewrap wraps the configuration lines of a normalised export at width
// with CRLF, continuation backslashes and a four-space indent, breaking
// inside words as RouterOS does, and puts a fresh header on top.
func rewrap(norm []byte, width int) []byte {
	var b bytes.Buffer
	b.WriteString("# 2031-01-02 03:04:05 by RouterOS 7.99\r\n")
	for _, line := range strings.Split(strings.TrimSuffix(string(norm), "\n"), "\n") {
		indent := ""
		for !strings.HasPrefix(line, "#") && len(indent)+len(line) > width {
			cut := width - len(indent) - 1
			for cut < len(line) && line[cut] == ' ' {
				cut++ // a continuation must not start with a blank
			}
			if cut >= len(line) {
				break
			}
			b.WriteString(indent + line[:cut] + "\\\r\n")
			line, indent = line[cut:], "    "
		}
		b.WriteString(indent + line + "\r\n")
	}
	return b.Bytes()
}

func TestCaptureChangesChangeTheHash(t *testing.T) {
	raw := captureExport(t, "routeros#L009UiGS_7.15.2")
	base := Hash(Normalize(raw))
	changes := map[string][2]string{
		"password":       {"password=password", "password=passw0rd"},
		"wrapped value":  {"network=\\\r\n    192.0.2.0", "network=\\\r\n    192.0.2.128"},
		"comment":        {"comment=\"defconf: drop invalid\" connection-state=\\", "comment=\"defconf: drop invalid!\" connection-state=\\"},
		"identity":       {"# software id = A0AA-AAA0", "# software id = B0AA-AAA0"},
		"space kept":     {"name=bridge \\\r\n", "name=bridge\\\r\n"},
		"new blank line": {"/ip pool\r\n", "\r\n/ip pool\r\n"},
	}
	for name, ch := range changes {
		if !bytes.Contains(raw, []byte(ch[0])) {
			t.Fatalf("%s: capture has no %q", name, ch[0])
		}
		changed := bytes.Replace(raw, []byte(ch[0]), []byte(ch[1]), 1)
		if Hash(Normalize(changed)) == base {
			t.Errorf("%s: changing %q to %q kept the hash", name, ch[0], ch[1])
		}
	}
	// Later backups of the same router differ only in time and noise.
	same := bytes.Replace(raw, []byte("# 2024-10-25 12:09:43 by RouterOS 7.15.2"), []byte("# 2025-01-01 00:00:01 by RouterOS 7.15.2"), 1)
	same = bytes.Replace(same, []byte("/snmp\r\n"), []byte("/snmp\r\n# poe-out status: short_circuit\r\n"), 1)
	same = append([]byte("\x1b[?25l"), same...)
	if Hash(Normalize(same)) != base {
		t.Errorf("new timestamp, a volatile comment and a terminal sequence changed the hash")
	}
}

// TestCaptureMatchesOxidizedOutput compares the normalised export with the
// export part of Oxidized's stored output: Oxidized also joins
// continuations and drops the header, and puts other commands' output on
// top as comments.
func TestCaptureMatchesOxidizedOutput(t *testing.T) {
	for _, c := range captures {
		t.Run(c.name, func(t *testing.T) {
			stored, err := os.ReadFile(testfixtures.Path(t, c.name+"#output.txt"))
			if err != nil {
				t.Fatal(err)
			}
			oxLines := strings.Split(strings.TrimSuffix(string(stored), "\n"), "\n")
			for i, l := range oxLines {
				oxLines[i] = strings.TrimRight(l, " \t")
			}
			ours := strings.Split(strings.TrimSuffix(string(Normalize(captureExport(t, c.name))), "\n"), "\n")
			if len(ours) > len(oxLines) {
				t.Fatalf("normalised export has %d lines, Oxidized's output only %d", len(ours), len(oxLines))
			}
			skip := len(oxLines) - len(ours)
			for i, l := range oxLines[:skip] {
				if !strings.HasPrefix(l, "#") {
					t.Errorf("Oxidized line %d %q is not in our export", i+1, l)
				}
			}
			for i, l := range ours {
				if ox := oxLines[skip+i]; l != ox {
					t.Errorf("line %d: ours %q, Oxidized %q", i+1, l, ox)
				}
			}
		})
	}
}

// TestNormalizeAllocationsPerExport guards the single-buffer design: a
// 4 MB export must not cost an allocation per line. Only the few comment
// lines reach a regexp, whose pooled state may allocate (the race detector
// empties sync.Pools at random).
func TestNormalizeAllocationsPerExport(t *testing.T) {
	raw := benchExport(t, 1<<20)
	lines := bytes.Count(raw, []byte("\n"))
	comments := bytes.Count(raw, []byte("\n#"))
	allocs := testing.AllocsPerRun(5, func() { Normalize(raw) })
	t.Logf("%d lines, %d comments: %.0f allocations", lines, comments, allocs)
	if limit := float64(1 + 10*comments); allocs > limit || allocs > float64(lines/100) {
		t.Errorf("Normalize of %d lines (%d comments) allocates %.0f times", lines, comments, allocs)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, c := range captures {
		raw := captureExport(f, c.name)
		f.Add(raw)
		f.Add(lf(raw))
	}
	f.Add(readFixture(f, "routeros#L009UiGS_7.15.2#simulation.yaml"))
	f.Add([]byte("# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n# software id = A\r\n/ip address\r\nadd network=\\\r\n    192.0.2.0\r\n# Interface not active\r\n \r\n\r\n/ip route\r\n"))
	f.Add([]byte("/x\nset \x1b\x1b[m[m\\\n  \x1b[1\r;2m a=\\ \r\n\\\r"))
	f.Add([]byte("  # inactive time\n# mar/05/2022 07:00:36 by RouterOS 6.49.2\n\t\n/x\r\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out := Normalize(raw)
		if again := Normalize(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n in %q\nout %q\nthen %q", raw, out, again)
		}
		if len(out) == 0 {
			return
		}
		if len(out) > len(raw)+1 {
			t.Fatalf("output (%d bytes) longer than input (%d) plus a newline", len(out), len(raw))
		}
		if !bytes.HasSuffix(out, []byte("\n")) || bytes.HasSuffix(out, []byte("\n\n")) {
			t.Fatalf("output does not end with exactly one newline: %q", out)
		}
		if bytes.IndexByte(out, '\r') >= 0 {
			t.Fatalf("CR in output: %q", out)
		}
		if out[0] == '\n' || bytes.Contains(out, []byte("\n\n\n")) {
			t.Fatalf("leading or repeated blank lines: %q", out)
		}
		for _, line := range bytes.Split(out[:len(out)-1], []byte("\n")) {
			if n := len(line); n > 0 && (line[n-1] == ' ' || line[n-1] == '\t') {
				t.Fatalf("trailing blank on line %q", line)
			}
		}
	})
}

// benchExport builds a realistic export of about size bytes: the L009
// capture's configuration repeated with varied names and addresses, CRLF
// and wrapped lines, under one header.
func benchExport(tb testing.TB, size int) []byte {
	raw := captureExport(tb, "routeros#L009UiGS_7.15.2")
	_, body, ok := bytes.Cut(raw, []byte("# serial number = AA111AAAAAA\r\n"))
	if !ok {
		tb.Fatal("capture has no serial number line")
	}
	var b bytes.Buffer
	b.WriteString("# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n# software id = A0AA-AAA0\r\n#\r\n# model = L009UiGS\r\n# serial number = AA111AAAAAA\r\n")
	for i := 0; b.Len() < size; i++ {
		v := bytes.ReplaceAll(body, []byte("defconf"), fmt.Appendf(nil, "site%d", i))
		v = bytes.ReplaceAll(v, []byte("192.0.2."), fmt.Appendf(nil, "10.%d.%d.", i/256%256, i%256))
		b.Write(v)
		b.WriteString("\r\n# poe-out status: short_circuit\r\n\r\n")
	}
	return b.Bytes()
}

func BenchmarkNormalize(b *testing.B) {
	raw := benchExport(b, 1<<20)
	if err := Validate(Normalize(raw)); err != nil {
		b.Fatalf("benchmark export is not valid: %v", err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		Normalize(raw)
	}
}

// TestNormalizeHostileInput feeds shapes that would make a naive ANSI
// search quadratic: an unfinished sequence of a megabyte followed by many
// continuation lines. It fails by running into the test timeout.
func TestNormalizeHostileInput(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("/x\nset a=\x1b[")
	b.Write(bytes.Repeat([]byte("1"), 1<<20))
	b.Write(bytes.Repeat([]byte("\\\n"), 200_000))
	b.WriteString("z\n")
	out := Normalize(b.Bytes())
	want := "/x\nset a=\x1b[" + strings.Repeat("1", 1<<20) + "z\n"
	if string(out) != want {
		t.Fatalf("got %d bytes ending %q, want %d bytes", len(out), out[max(0, len(out)-20):], len(want))
	}
}
