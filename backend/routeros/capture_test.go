package routeros

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestLoadCaptureCommands(t *testing.T) {
	want := []string{
		"/export show-sensitive",
		"/system history print without-paging",
		"/system package update print",
		"/system resource print",
		"quit",
	}
	for _, c := range captures {
		replies := loadCapture(t, c.name)
		var got []string
		for cmd := range replies {
			got = append(got, cmd)
		}
		sort.Strings(got)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: commands %q, want %q", c.name, got, want)
		}
		if q := string(replies["quit"]); q != "interrupted" {
			t.Errorf("%s: quit reply %q", c.name, q)
		}
	}
}

// TestLoadCaptureBytes checks replies byte for byte where the capture
// uses each escape: the trailing space of \x20, the continuation
// backslash of \\, the quotes of \" and the CRLF line ends.
func TestLoadCaptureBytes(t *testing.T) {
	cases := []struct {
		capture, cmd, want string
	}{
		{"routeros#CHR_7.10.1", exportCmd, "# 2024-10-25 06:08:35 by RouterOS 7.10.1\r\n# software id = XX-XX \r\n#\r\n"},
		{"routeros#CHR_7.10.1", exportCmd, "/system note\r\nset show-at-login=no"},
		{"routeros#CHR_7.10.1", ResourceCommand, "                   uptime: 58m18s\r\n                  version: 7.10.1 (stable)\r\n"},
		{"routeros#CHR_7.16", ResourceCommand, "                   uptime: 32m36s\r\n                  version: 7.16 (stable)\r\n"},
		{"routeros#L009UiGS_7.15.2", exportCmd, "add admin-mac=00:00:5E:00:53:00 auto-mac=no comment=defconf name=bridge \\\r\n    port-cost-mode=short\r\n"},
		{"routeros#L009UiGS_7.15.2", exportCmd, "add address=198.51.100.1 list=\"office\"\r\n"},
		{"routeros#L009UiGS_7.15.2", "/system history print without-paging", "  ACTION                            BY           POLICY  TIME               \r\n"},
	}
	for _, tc := range cases {
		reply := loadCapture(t, tc.capture)[tc.cmd]
		if !bytes.Contains(reply, []byte(tc.want)) {
			t.Errorf("%s %q: reply lacks %q", tc.capture, tc.cmd, tc.want)
		}
	}
	for _, c := range captures {
		for cmd, reply := range loadCapture(t, c.name) {
			if n := bytes.Count(reply, []byte("\n")) - bytes.Count(reply, []byte("\r\n")); n != 0 {
				t.Errorf("%s %q: %d line ends without CR", c.name, cmd, n)
			}
			if bytes.Contains(reply, []byte(`\x20`)) || bytes.Contains(reply, []byte("\r\r")) {
				t.Errorf("%s %q: escape left or CR doubled", c.name, cmd)
			}
		}
	}
	if !strings.HasSuffix(string(loadCapture(t, "routeros#L009UiGS_7.15.2")[exportCmd]), "set allowed-interface-list=LAN") {
		t.Error("export reply does not end with its last line")
	}
}

func writeCapture(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dev#simulation.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadCaptureKeys(t *testing.T) {
	path := writeCapture(t, `commands:
  "/file print where name~\"a\\b\"\n": |-
    x
  /export\n: |-
    a\\b
  '/system identity print\n': |-
    \x20 name: r1\r
    done
  "/ip address print": ""
`)
	replies, err := LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		// YAML has decoded a double-quoted key; a second pass would turn
		// \b into a backspace.
		`/file print where name~"a\b"`: "x",
		"/export":                      `a\b`,
		"/system identity print":       "  name: r1\r\ndone",
		"/ip address print":            "",
	}
	if len(replies) != len(want) {
		t.Errorf("got %d commands, want %d: %q", len(replies), len(want), replies)
	}
	for cmd, w := range want {
		got, ok := replies[cmd]
		if !ok {
			t.Errorf("no command %q in %q", cmd, replies)
		} else if string(got) != w {
			t.Errorf("%q: reply %q, want %q", cmd, got, w)
		}
	}
}

func TestLoadCaptureErrors(t *testing.T) {
	cases := map[string]struct{ content, msg string }{
		"not YAML":           {"commands: [\n", "parse YAML"},
		"no commands":        {"init_prompt:\n", `"commands"`},
		"commands not a map": {"commands:\n  - /export\n", `"commands"`},
		"reply not text":     {"commands:\n  \"/export\\n\":\n    - a\n", `reply to "/export" is not text`},
		"key not text":       {"commands:\n  ? [a]\n  : b\n", "command is not text"},
		"empty command":      {"commands:\n  \"\\n\": x\n", "empty"},
		"duplicate command":  {"commands:\n  \"/export\\n\": a\n  \"/export\": b\n", "twice"},
		"bad escape":         {"commands:\n  \"/export\\n\": |-\n    a\\xZZ\n", `reply to "/export"`},
		"trailing backslash": {"commands:\n  \"/export\\n\": 'a\\'\n", "backslash at the end"},
	}
	for name, tc := range cases {
		path := writeCapture(t, tc.content)
		_, err := LoadCapture(path)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not say %q and the path", name, err, tc.msg)
		}
	}
	if _, err := LoadCapture(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestUnescapeRuby(t *testing.T) {
	cases := []struct{ in, want string }{
		{`plain text`, "plain text"},
		{`\x20 uptime`, "  uptime"},
		{`bridge \\`, `bridge \`},
		{`list=\"office\"`, `list="office"`},
		{`a\r\nb\tc`, "a\r\nb\tc"},
		{`\e[0m\x1b[1m\x1B`, "\x1b[0m\x1b[1m\x1b"},
		{`\x7`, "\x07"},
		{`\x41B`, "AB"},
		{`\#{x}`, "#{x}"},
		{`\a\b\f\v`, "\a\b\f\v"},
		{`caf\u00e9 \u{1F600} \u{41 42}`, "café 😀 AB"},
		{`\q\s`, `\q\s`},
	}
	for _, tc := range cases {
		got, err := unescapeRuby(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("unescapeRuby(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{`a\`, `\x`, `\xZZ`, `\u12`, `\u{}`, `\u{110000}`, `\uD800`, `\u{41`, `\u{4G}`} {
		if got, err := unescapeRuby(in); err == nil {
			t.Errorf("unescapeRuby(%q) = %q, want an error", in, got)
		}
	}
}

// rubyDump escapes b the way Ruby's String#dump does for a binary string,
// which is how Oxidized writes replies into simulation files.
func rubyDump(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		switch {
		case c == '\\' || c == '"':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\r':
			s.WriteString(`\r`)
		case c == '\t':
			s.WriteString(`\t`)
		case c == esc:
			s.WriteString(`\e`)
		case c == '#' && i+1 < len(b) && (b[i+1] == '{' || b[i+1] == '$' || b[i+1] == '@'):
			s.WriteString(`\#`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&s, `\x%02X`, c)
		default:
			s.WriteByte(c)
		}
	}
	return s.String()
}

func FuzzUnescapeRuby(f *testing.F) {
	for _, c := range captures {
		f.Add(captureExport(f, c.name))
	}
	f.Add([]byte(`\x20 a\\b \"q\" \r\n \e[0m \u{1F600} \q \x4`))
	f.Fuzz(func(t *testing.T, b []byte) {
		unescapeRuby(string(b)) // any input: an error or bytes, never a panic
		got, err := unescapeRuby(rubyDump(b))
		if err != nil {
			t.Fatalf("dump of %q does not decode: %v", b, err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("dump of %q decodes to %q", b, got)
		}
	})
}

func FuzzParseCapture(f *testing.F) {
	for _, c := range captures {
		f.Add(readFixture(f, c.name+"#simulation.yaml"))
	}
	f.Add([]byte("commands:\n  \"/export\\n\": |-\n    a\\\\\n    \\x20 b\\r\n"))
	f.Add([]byte("commands: &a\n  x: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		replies, err := ParseCapture(data)
		if err != nil {
			return
		}
		for cmd, reply := range replies {
			if cmd == "" || strings.HasSuffix(cmd, "\n") {
				t.Fatalf("command %q kept its line end", cmd)
			}
			if n := bytes.Count(reply, []byte("\n")) - bytes.Count(reply, []byte("\r\n")); n != 0 {
				t.Fatalf("reply to %q has %d line ends without CR", cmd, n)
			}
		}
	})
}
