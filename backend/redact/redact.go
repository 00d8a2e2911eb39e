// Package redact masks secret values in RouterOS exports, so that a
// configuration can be shown on a shared screen, pasted in a ticket or
// diffed without the PSKs, keys and passwords in it. The line and the key
// stay visible ("password=<redacted>"); only the value goes. One set of
// rules (Keys, MenuKeys and the URL credential rule) serves the CLI, the
// TUI, search and hooks, so that every view hides the same things.
//
// Masking is by rule, never by digest: a short hash of a low-entropy secret
// (a PPP password, an SNMP community) can be brute-forced, so a diff marks a
// secret that differs between the two sides as "<redacted:changed>" instead
// (Pair), computed from the plaintext, which never leaves this package.
package redact

import (
	"regexp"
	"slices"
	"strings"

	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

const (
	// Mask replaces a secret value.
	Mask = "<redacted>"
	// MaskChanged replaces a secret value that differs from its counterpart
	// on the other side of a diff, so a secret-only change still reads as a
	// changed line.
	MaskChanged = "<redacted:changed>"
)

// Keys are the properties whose value is a secret in whichever menu they
// appear. A dotted key (the v7 wifi "security.passphrase=") is matched by
// its last part as well.
var Keys = map[string]string{
	"password":                  "ppp secret, hotspot/user-manager/smb/socks users, pppoe/l2tp/pptp/sstp/ovpn/lte clients, tool e-mail, ipsec identity, iot mqtt",
	"secret":                    "radius, ipsec identity/peer",
	"secrets":                   "tool romon",
	"ipsec-secret":              "l2tp server/client, eoip, gre, ipip, 6to4 tunnels",
	"shared-secret":             "user-manager router",
	"radius-password":           "ip dhcp-server",
	"registry-password":         "container config",
	"private-key":               "interface wireguard and its peers",
	"pre-shared-key":            "wireless connect-list and access-list",
	"preshared-key":             "interface wireguard peers",
	"private-pre-shared-key":    "interface wireless access-list",
	"wpa-pre-shared-key":        "interface wireless security-profiles, connect-list",
	"wpa2-pre-shared-key":       "interface wireless security-profiles, connect-list",
	"passphrase":                "interface wifi/wifiwave2 security, caps-man security, certificates",
	"sae-password":              "interface wifi security",
	"static-key-0":              "interface wireless security-profiles (WEP)",
	"static-key-1":              "interface wireless security-profiles (WEP)",
	"static-key-2":              "interface wireless security-profiles (WEP)",
	"static-key-3":              "interface wireless security-profiles (WEP)",
	"static-sta-private-key":    "interface wireless security-profiles (WEP)",
	"management-protection-key": "interface wireless security-profiles",
	"authentication-password":   "snmp community (v3)",
	"encryption-password":       "snmp community (v3)",
	"auth-key":                  "routing ospf interface-template",
	"authentication-key":        "routing ospf interface (v6), rip",
	"tcp-md5-key":               "routing bgp connection (v7), peer (v6)",
}

// MenuKeys are properties that are secret only in one menu: an SNMP v1/v2c
// community's name is its password, while "name=" elsewhere is a label.
var MenuKeys = map[string]map[string]bool{
	"/snmp community": {"name": true},
	"/snmp":           {"trap-community": true},
	"/system ntp key": {"key": true},
}

// IsSecret reports whether key carries a secret value in menu.
func IsSecret(menu, key string) bool {
	if _, ok := Keys[key]; ok {
		return true
	}
	if MenuKeys[menu][key] {
		return true
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		_, ok := Keys[key[i+1:]]
		return ok
	}
	return false
}

// urlCreds finds the password of "scheme://user:password@" anywhere in a
// line: fetch URLs in scripts and schedulers, e-mail and proxy settings.
var urlCreds = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"]*:([^/\s@"]+)@`)

// secret is one secret value found in a line: line[start:end] is the value
// as written (quotes included), id names it for pairing across a diff.
type secret struct {
	start, end int
	id         string
}

// find returns the secret values of one logical line in menu, in order and
// not overlapping.
func find(menu, line string) []secret {
	var out []secret
	count := map[string]int{}
	add := func(kind string, start, end int) {
		n := count[kind]
		count[kind] = n + 1
		out = append(out, secret{start: start, end: end, id: kind + "#" + itoa(n)})
	}
	n := len(line)
	i := 0
	for i < n {
		for i < n && isBlank(line[i]) {
			i++
		}
		if i >= n {
			break
		}
		if line[i] == '"' {
			end := endQuoted(line, i)
			findInner(menu, line, i+1, end, add)
			i = end
			continue
		}
		start := i
		for i < n && !isBlank(line[i]) && line[i] != '=' && line[i] != '"' {
			i++
		}
		if i < n && line[i] == '=' && i > start {
			key := line[start:i]
			vs := i + 1
			ve := vs
			quoted := ve < n && line[ve] == '"'
			if quoted {
				ve = endQuoted(line, ve)
			} else {
				for ve < n && !isBlank(line[ve]) {
					ve++
				}
			}
			switch {
			case IsSecret(menu, key):
				// An empty value hides nothing, and showing it flags a
				// missing secret.
				if ve > vs && line[vs:ve] != `""` {
					add(key, vs, ve)
				}
			case quoted:
				findInner(menu, line, vs+1, ve, add)
			default:
				findURLs(line, vs, ve, add)
			}
			i = ve
			continue
		}
		for i < n && !isBlank(line[i]) {
			if line[i] == '"' {
				i = endQuoted(line, i)
				continue
			}
			i++
		}
	}
	// Scripts can give overlapping finds (a URL inside a password value):
	// keep them in order and merged, as apply needs.
	slices.SortStableFunc(out, func(a, b secret) int { return a.start - b.start })
	merged := out[:0]
	for _, s := range out {
		if k := len(merged) - 1; k >= 0 && s.start < merged[k].end {
			merged[k].end = max(merged[k].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

func findURLs(line string, from, to int, add func(string, int, int)) {
	for _, m := range urlCreds.FindAllStringSubmatchIndex(line[from:to], -1) {
		add("://", from+m[2], from+m[3])
	}
}

// findInner looks into a quoted value (a script's source, a scheduler's
// on-event) for the secrets of the commands written in it, e.g. a
// "/tool e-mail send password=..." or a fetch URL with credentials. The
// value is in export quoting: \" is a quote of the script, \\ a backslash.
func findInner(menu, line string, from, to int, add func(string, int, int)) {
	// to is just past the closing quote, or the line's end when unclosed.
	if to > from && to <= len(line) && line[to-1] == '"' && !escapedAt(line, from, to-1) {
		to--
	}
	findURLs(line, from, to, add)
	i := from
	for i < to {
		// A key starts the value or follows a blank, bracket, paren or
		// separator of the script.
		j := i
		for j < to && isKeyChar(line[j]) {
			j++
		}
		if j > i && j < to && line[j] == '=' && innerBoundary(line, from, i) {
			key := line[i:j]
			vs := j + 1
			ve := innerValueEnd(line, vs, to)
			if IsSecret("", key) && ve > vs {
				add(key, vs, ve)
			}
			i = max(ve, j+1)
			continue
		}
		if j > i {
			i = j
			continue
		}
		if line[i] == '\\' && i+1 < to {
			i += 2
			continue
		}
		i++
	}
}

// innerBoundary reports whether a key at line[i] inside a quoted value
// starts a word of the script.
func innerBoundary(line string, from, i int) bool {
	if i == from {
		return true
	}
	c := line[i-1]
	if isBlank(c) || strings.IndexByte("([{;", c) >= 0 {
		return true
	}
	// An escaped newline, CR or tab: "\n", "\r", "\t" in export quoting.
	return i-2 >= from && line[i-2] == '\\' && (c == 'n' || c == 'r' || c == 't') && !escapedAt(line, from, i-2)
}

// innerValueEnd finds where a value inside a quoted value ends: a value in
// script quotes (\"...\") runs to the matching \", a bare one to the next
// blank, separator or escaped control character.
func innerValueEnd(line string, vs, to int) int {
	if vs+1 < to && line[vs] == '\\' && line[vs+1] == '"' {
		k := vs + 2
		for k < to {
			if line[k] == '\\' && k+1 < to {
				// \\\" is an escaped quote inside the script's string.
				if line[k+1] == '"' {
					return k + 2
				}
				if line[k+1] == '\\' && k+3 < to && line[k+2] == '\\' && line[k+3] == '"' {
					k += 4
					continue
				}
				k += 2
				continue
			}
			k++
		}
		return to
	}
	k := vs
	for k < to {
		c := line[k]
		if isBlank(c) || strings.IndexByte(";)]}", c) >= 0 {
			break
		}
		if c == '\\' && k+1 < to {
			d := line[k+1]
			if d == 'n' || d == 'r' || d == 't' || d == '"' {
				break
			}
			k += 2
			continue
		}
		k++
	}
	return k
}

// escapedAt reports whether line[i] is escaped by an odd run of
// backslashes after from.
func escapedAt(line string, from, i int) bool {
	n := 0
	for k := i - 1; k >= from && line[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}

// endQuoted returns the index just past the quoted string starting at
// line[i] == '"', or len(line) when it is not closed.
func endQuoted(line string, i int) int {
	for j := i + 1; j < len(line); j++ {
		switch line[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(line)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Line returns one logical line (continuations joined, as in a normalised
// export) with its secret values masked; menu is the menu in effect at it
// (routeros.Menus), needed for the rules of MenuKeys.
func Line(menu, line string) string {
	if m, ok := routeros.MenuPath(line); ok {
		menu = m
	}
	return apply(line, find(menu, line), nil)
}

// Pair masks two versions of a line, the old and the new side of a changed
// line in a diff. A secret whose value is the same on both sides is masked
// as Mask; one that differs, or that only one side has, as MaskChanged, so
// a change of a secret alone still shows as a change.
func Pair(oldMenu, oldLine, newMenu, newLine string) (string, string) {
	if m, ok := routeros.MenuPath(oldLine); ok {
		oldMenu = m
	}
	if m, ok := routeros.MenuPath(newLine); ok {
		newMenu = m
	}
	os, ns := find(oldMenu, oldLine), find(newMenu, newLine)
	oldVals := make(map[string]string, len(os))
	for _, s := range os {
		oldVals[s.id] = oldLine[s.start:s.end]
	}
	newVals := make(map[string]string, len(ns))
	for _, s := range ns {
		newVals[s.id] = newLine[s.start:s.end]
	}
	oldChanged := func(s secret) bool {
		v, ok := newVals[s.id]
		return !ok || v != oldLine[s.start:s.end]
	}
	newChanged := func(s secret) bool {
		v, ok := oldVals[s.id]
		return !ok || v != newLine[s.start:s.end]
	}
	return apply(oldLine, os, oldChanged), apply(newLine, ns, newChanged)
}

// apply writes line with every secret replaced by Mask, or by MaskChanged
// where changed says so.
func apply(line string, ss []secret, changed func(secret) bool) string {
	if len(ss) == 0 {
		return line
	}
	var b strings.Builder
	b.Grow(len(line))
	at := 0
	for _, s := range ss {
		b.WriteString(line[at:s.start])
		if changed != nil && changed(s) {
			b.WriteString(MaskChanged)
		} else {
			b.WriteString(Mask)
		}
		at = s.end
	}
	b.WriteString(line[at:])
	return b.String()
}

// Text returns an export with every secret value masked and the same
// number of lines, line ends kept. It reads a normalised export and a raw
// one alike: lines continued with a trailing backslash (RouterOS wraps at
// 80 columns, also inside a quoted value) are read as one logical line, and
// a secret that crosses a wrap is masked on the physical line where
// it ends and dropped from the ones before: Normalize(Text(raw)) equals
// Text(Normalize(raw)).
func Text(content string) string {
	if content == "" {
		return ""
	}
	phys := strings.SplitAfter(content, "\n")
	if phys[len(phys)-1] == "" {
		phys = phys[:len(phys)-1]
	}
	var b strings.Builder
	b.Grow(len(content))
	menu := ""
	for i := 0; i < len(phys); {
		// Gather one logical line the way normalisation joins it: drop the
		// line end and trailing blanks, a final backslash absorbs the next
		// physical line without its leading blanks.
		type part struct {
			lead, body, tail string // body is joined; lead and tail are kept as written
			at               int    // offset of body in the joined line
		}
		var parts []part
		var joined strings.Builder
		j := i
		for ; j < len(phys); j++ {
			p := phys[j]
			content := strings.TrimRight(strings.TrimSuffix(p, "\n"), "\r")
			trimmed := strings.TrimRight(content, " \t")
			lead := ""
			if j > i {
				rest := strings.TrimLeft(trimmed, " \t")
				lead = trimmed[:len(trimmed)-len(rest)]
				trimmed = rest
			}
			cont := strings.HasSuffix(trimmed, `\`) && j+1 < len(phys)
			body := trimmed
			if cont {
				body = trimmed[:len(trimmed)-1]
			}
			parts = append(parts, part{lead: lead, body: body, tail: p[len(lead)+len(body):], at: joined.Len()})
			joined.WriteString(body)
			if !cont {
				break
			}
		}
		line := joined.String()
		if m, ok := routeros.MenuPath(line); ok {
			menu = m
		}
		ss := find(menu, line)
		if len(parts) == 1 {
			b.WriteString(apply(line, ss, nil))
			b.WriteString(parts[0].tail)
		} else {
			// Write each physical line's share of the masked logical line:
			// a secret's parts on the earlier physical lines are dropped and
			// the mask goes where it ends, so that joining the lines again
			// (normalisation) gives "key=<redacted>" followed by the rest of
			// the line as it was, blanks included.
			for _, p := range parts {
				b.WriteString(p.lead)
				lo, hi := p.at, p.at+len(p.body)
				pos := lo
				for _, s := range ss {
					if s.end <= lo || s.start >= hi {
						continue
					}
					b.WriteString(line[pos:max(pos, s.start)])
					if s.end <= hi {
						b.WriteString(Mask)
					}
					pos = min(s.end, hi)
				}
				b.WriteString(line[pos:hi])
				b.WriteString(p.tail)
			}
		}
		i = j + 1
	}
	return b.String()
}

// Lines masks the logical lines of a normalised export, tracking the menu
// in effect; the result has one entry per input line.
func Lines(lines []string) []string {
	out := make([]string, len(lines))
	menus := routeros.Menus(lines)
	for i, l := range lines {
		out[i] = Line(menus[i], l)
	}
	return out
}
