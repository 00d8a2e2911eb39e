package routeros

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// LoadCapture reads an Oxidized `*#simulation.yaml` capture: the replies a
// real RouterOS device gave to each command, for the device simulator and
// for tests. See ParseCapture for the result.
func LoadCapture(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load capture: %w", err)
	}
	replies, err := ParseCapture(data)
	if err != nil {
		return nil, fmt.Errorf("load capture %s: %w", path, err)
	}
	return replies, nil
}

// ParseCapture decodes the content of an Oxidized simulation file. Its
// top-level `commands:` maps a command line (with a trailing "\n") to the
// reply, both as bodies of Ruby double-quoted strings (`\x20` a space, `\\`
// a backslash, `\"` a quote, `\r` a CR). The result maps the command
// without its trailing newline, e.g. "/export show-sensitive", to the reply
// bytes with every line end as CRLF, the way RouterOS sends them over SSH.
// A reply has no line end after its last line unless the capture has one.
func ParseCapture(data []byte) (map[string][]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	commands := mappingValue(&doc, "commands")
	if commands == nil {
		return nil, errors.New("no top-level \"commands\" mapping")
	}
	replies := make(map[string][]byte, len(commands.Content)/2)
	for i := 0; i+1 < len(commands.Content); i += 2 {
		key, value := resolve(commands.Content[i]), resolve(commands.Content[i+1])
		if key.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: command is not text", key.Line)
		}
		cmd, err := captureKey(key)
		if err != nil {
			return nil, fmt.Errorf("line %d: command: %w", key.Line, err)
		}
		if _, dup := replies[cmd]; dup {
			return nil, fmt.Errorf("line %d: command %q appears twice", key.Line, cmd)
		}
		if value.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: reply to %q is not text", value.Line, cmd)
		}
		reply, err := unescapeRuby(value.Value)
		if err != nil {
			return nil, fmt.Errorf("line %d: reply to %q: %w", value.Line, cmd, err)
		}
		replies[cmd] = toCRLF(reply)
	}
	return replies, nil
}

// mappingValue returns the mapping under key at the top of doc, or nil.
func mappingValue(doc *yaml.Node, key string) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	top := resolve(doc.Content[0])
	if top.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if k := resolve(top.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			if v := resolve(top.Content[i+1]); v.Kind == yaml.MappingNode {
				return v
			}
			return nil
		}
	}
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// captureKey decodes a command line. A double-quoted YAML key has already
// been through YAML's escapes, which are Ruby's for everything a capture
// holds; unescaping it again would eat a `\\`.
func captureKey(key *yaml.Node) (string, error) {
	cmd := key.Value
	if key.Style&yaml.DoubleQuotedStyle == 0 {
		b, err := unescapeRuby(cmd)
		if err != nil {
			return "", err
		}
		cmd = string(b)
	}
	cmd = strings.TrimSuffix(strings.TrimSuffix(cmd, "\n"), "\r")
	if cmd == "" {
		return "", errors.New("empty")
	}
	return cmd, nil
}

// unescapeRuby decodes the body of a Ruby double-quoted string the way
// Oxidized's test helper does (`"\"#{text}\"".undump`): an escape Ruby's
// undump does not know stays as it is, backslash included.
func unescapeRuby(s string) ([]byte, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return []byte(s), nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		at := i
		i++
		if i == len(s) {
			return nil, fmt.Errorf("offset %d: backslash at the end", at)
		}
		switch e := s[i]; e {
		case '\\', '"', '#':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'e':
			out = append(out, esc)
		case 'f':
			out = append(out, '\f')
		case 'v':
			out = append(out, '\v')
		case 'b':
			out = append(out, '\b')
		case 'a':
			out = append(out, '\a')
		case 'x':
			v, n := hexPrefix(s[i+1:], 2)
			if n == 0 {
				return nil, fmt.Errorf("offset %d: \\x without a hex digit", at)
			}
			out = append(out, byte(v))
			i += n
		case 'u':
			var err error
			var n int
			if out, n, err = appendUnicodeEscape(out, s[i+1:]); err != nil {
				return nil, fmt.Errorf("offset %d: %w", at, err)
			}
			i += n
		default:
			out = append(out, '\\', e)
		}
	}
	return out, nil
}

// appendUnicodeEscape decodes what follows `\u`: four hex digits, or
// `{...}` with one or more space-separated code points. It returns how many
// bytes of s it used.
func appendUnicodeEscape(out []byte, s string) ([]byte, int, error) {
	if !strings.HasPrefix(s, "{") {
		v, n := hexPrefix(s, 4)
		if n != 4 {
			return out, 0, errors.New("\\u needs four hex digits")
		}
		out, err := appendCodePoint(out, v)
		return out, n, err
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return out, 0, errors.New("\\u{ without }")
	}
	fields := strings.Fields(s[1:end])
	if len(fields) == 0 {
		return out, 0, errors.New("empty \\u{}")
	}
	for _, f := range fields {
		v, n := hexPrefix(f, 6)
		if n != len(f) {
			return out, 0, fmt.Errorf("bad code point %q in \\u{}", f)
		}
		var err error
		if out, err = appendCodePoint(out, v); err != nil {
			return out, 0, err
		}
	}
	return out, end + 1, nil
}

func appendCodePoint(out []byte, v rune) ([]byte, error) {
	if !utf8.ValidRune(v) {
		return out, fmt.Errorf("U+%X is not a valid code point", v)
	}
	return utf8.AppendRune(out, v), nil
}

// hexPrefix reads up to limit hex digits from the start of s.
func hexPrefix(s string, limit int) (rune, int) {
	var v rune
	n := 0
	for n < len(s) && n < limit {
		d, ok := hexDigit(s[n])
		if !ok {
			break
		}
		v = v<<4 | rune(d)
		n++
	}
	return v, n
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// toCRLF turns every LF not already preceded by a CR into CRLF.
func toCRLF(b []byte) []byte {
	lone := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
	if lone == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+lone)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
