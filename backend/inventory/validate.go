package inventory

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/proxyjump"
)

// The inventory is validated by walking the YAML node tree rather than by
// decoding into structs: a node knows its line, and the walk can go on
// after a mistake, so every problem is reported in one pass.

var (
	topKeys      = []string{"defaults", "tenants"}
	settingsKeys = []string{"username", "port", "identity_file", "password_env", "password_file", "password", "secrets", "use_agent",
		"proxy_jump", "proxy_identity_file", "ssh_legacy_algorithms"}
	tenantKeys = []string{"id", "name", "defaults", "devices"}
	deviceKeys = []string{"id", "name", "host", "port", "username", "identity_file", "password_env",
		"password_file", "password", "secrets", "use_agent", "host_key", "tags",
		"proxy_jump", "proxy_identity_file", "ssh_legacy_algorithms"}
	deviceOnlyKeys = []string{"id", "name", "host", "host_key", "tags"}
)

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// yamlLinePattern pulls the line out of the YAML library's syntax errors,
// which are plain strings.
var yamlLinePattern = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

type parser struct {
	file, dir string
	data      []byte
	// budget bounds the walk: aliases let a small file name the same
	// tenant or device list thousands of times.
	budget  int
	aborted bool

	problems []Problem
	warnings []Problem

	passwordKeys      []passwordKey
	firstPasswordLine int

	fileChecks map[string]string // path -> problem ("" for none), each file checked once
}

// passwordKey is one inline "password:" of the file and how many devices
// end up using it.
type passwordKey struct {
	line    int
	devices int
}

func newParser(file, dir string, data []byte) *parser {
	return &parser{file: file, dir: dir, data: data, budget: 2*len(data) + 1000}
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(line int, format string, args ...any) {
	p.warnings = append(p.warnings, Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// spend accounts for visiting one node and reports whether the walk may go
// on.
func (p *parser) spend() bool {
	if p.aborted {
		return false
	}
	p.budget--
	if p.budget < 0 {
		p.aborted = true
		p.errorf(0, "the inventory expands to far more entries than it has lines through YAML aliases (*name): write the tenants and devices out")
		return false
	}
	return true
}

func (p *parser) run() []Tenant {
	root := p.decode()
	if root == nil {
		return nil
	}
	f := p.fields(root)
	p.unknownKeys(f, topKeys, "the top level", levelTop)

	fileDefs := p.settingsBlock(f, "defaults", "defaults")
	tf, ok := f.byKey["tenants"]
	if !ok {
		p.errorf(root.Line, `no tenants: add a "tenants:" list with at least one tenant and its devices`)
		return nil
	}
	v := tf.val
	switch {
	case isNull(v) || (v.Kind == yaml.SequenceNode && len(v.Content) == 0):
		p.errorf(tf.line, `no tenants: add at least one tenant under "tenants:" ("- id: ...")`)
		return nil
	case v.Kind != yaml.SequenceNode:
		p.errorf(tf.line, `"tenants" must be a list of tenants ("- id: ..."), not %s`, describe(v))
		return nil
	}

	var tenants []Tenant
	seen := map[string]int{}
	for _, item := range v.Content {
		if !p.spend() {
			break
		}
		if t, ok := p.tenant(resolve(item), fileDefs, seen); ok {
			tenants = append(tenants, t)
		}
	}
	p.passwordWarnings()
	return tenants
}

// decode parses the YAML and returns the root mapping, or nil after
// reporting why there is none.
func (p *parser) decode() *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(p.data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		p.errorf(1, `inventory is empty: add a "tenants:" list with at least one tenant and its devices`)
		return nil
	}
	if err != nil {
		p.syntaxError(err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntaxError(err)
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		p.errorf(next.Content[0].Line, "a second YAML document starts here (after ---): keep one inventory per file")
	}

	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		p.errorf(1, `inventory is empty: add a "tenants:" list with at least one tenant and its devices`)
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, `the inventory must be a mapping with "tenants:" (and optionally "defaults:"), not %s`, describe(root))
		return nil
	}
	return root
}

func (p *parser) syntaxError(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLinePattern.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	hint := "check the indentation and the colons of this line and the lines around it"
	if line == 0 && strings.Contains(msg, "control characters") {
		line = lineOfControlChar(p.data)
		hint = "remove the control character (was the file saved as text?)"
	} else if line > 0 && leadingTab(p.data, line) {
		hint = "indent with spaces, not tabs"
	}
	p.errorf(line, "YAML syntax error: %s: %s", msg, hint)
}

// tenant validates one tenant. seen maps tenant IDs to their lines.
func (p *parser) tenant(n *yaml.Node, fileDefs settings, seen map[string]int) (Tenant, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, `each tenant must be a mapping with "id:" and "devices:", not %s`, describe(n))
		return Tenant{}, false
	}
	ok := true
	f := p.fields(n)
	id, idLine, idOK := p.text(f, "id", "tenant")
	where := "tenant"
	switch {
	case !idOK:
		ok = false
	case id == "":
		p.errorf(n.Line, `tenant has no id: add "id: <ID>" (%s)`, idRule)
		ok = false
	default:
		where = fmt.Sprintf("tenant %q", id)
		if msg := checkID(id); msg != "" {
			p.errorf(idLine, "invalid tenant ID %q: %s", id, msg)
			ok = false
		}
		if first, dup := seen[id]; dup {
			p.errorf(idLine, "duplicate tenant ID %q (first at line %d): tenant IDs must be unique; rename or merge one", id, first)
			ok = false
		} else {
			seen[id] = idLine
		}
	}
	p.unknownKeys(f, tenantKeys, where, levelTenant)

	name, _, _ := p.text(f, "name", where)
	if name == "" {
		name = id
	}
	defs := p.settingsBlock(f, "defaults", "the defaults of "+where)

	t := Tenant{ID: id, Name: name, Line: n.Line}
	df, has := f.byKey["devices"]
	switch {
	case !has || isNull(df.val) || (df.val.Kind == yaml.SequenceNode && len(df.val.Content) == 0):
		p.warnf(n.Line, `%s has no devices: add them under "devices:"`, where)
		return t, ok
	case df.val.Kind != yaml.SequenceNode:
		p.errorf(df.line, `%s: "devices" must be a list of devices ("- id: ..."), not %s`, where, describe(df.val))
		return t, false
	}
	seenDev := map[string]int{}
	for _, item := range df.val.Content {
		if !p.spend() {
			return t, false
		}
		d, dok := p.device(resolve(item), id, where, seenDev, fileDefs, defs)
		ok = ok && dok
		if dok {
			t.Devices = append(t.Devices, d)
		}
	}
	return t, ok
}

func (p *parser) device(n *yaml.Node, tenantID, tenantWhere string, seen map[string]int, fileDefs, tenantDefs settings) (Device, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, `%s: each device must be a mapping with at least "id:" and "host:", not %s`, tenantWhere, describe(n))
		return Device{}, false
	}
	problems := len(p.problems)
	f := p.fields(n)
	id, idLine, idOK := p.text(f, "id", "device of "+tenantWhere)
	where := "device of " + tenantWhere
	if idOK && id == "" {
		p.errorf(n.Line, `%s has no id: add "id: <ID>" (%s)`, where, idRule)
	}
	if id != "" {
		where = fmt.Sprintf("device %q", tenantID+"/"+id)
		if msg := checkID(id); msg != "" {
			p.errorf(idLine, "invalid device ID %q: %s", id, msg)
		}
		if first, dup := seen[id]; dup {
			p.errorf(idLine, "duplicate device ID %q in tenant %q (first at line %d): device IDs must be unique within a tenant", id, tenantID, first)
		} else {
			seen[id] = idLine
		}
	}
	p.unknownKeys(f, deviceKeys, where, levelDevice)

	d := Device{ID: id, TenantID: tenantID, Line: n.Line}
	d.Name, _, _ = p.text(f, "name", where)
	if d.Name == "" {
		d.Name = id
	}
	if host, line, ok := p.text(f, "host", where); ok {
		if host == "" {
			p.errorf(n.Line, `%s has no host: add "host: <address or DNS name>"`, where)
		} else if h, msg := checkHost(host); msg != "" {
			p.errorf(line, "%s: %s", where, msg)
		} else {
			d.Host = h
		}
	}
	if key, line, ok := p.text(f, "host_key", where); ok && key != "" {
		if k, msg := checkHostKey(key); msg != "" {
			p.errorf(line, "%s: %s", where, msg)
		} else {
			d.HostKey = k
		}
	}
	d.Tags = p.tags(f, where)

	own := p.settings(f, where)
	eff := mergeSettings(own, tenantDefs, fileDefs)
	d.Username, d.Port, d.Secrets = eff.username, eff.port, eff.secrets
	d.UsernameIsDefault, d.PortIsDefault = eff.usernameDefault, eff.portDefault
	d.ProxyJump, d.ProxyIdentityFile = eff.proxyJump, eff.proxyIdentityFile
	d.LegacyAlgorithms = eff.legacy != nil && *eff.legacy
	d.Credentials = Credentials{
		PasswordEnv:  eff.pw.env,
		PasswordFile: eff.pw.file,
		IdentityFile: eff.identityFile,
		Password:     eff.pw.inline,
		UseAgent:     eff.useAgent != nil && *eff.useAgent,
	}
	if eff.pw.key > 0 {
		p.passwordKeys[eff.pw.key-1].devices++
	}
	return d, len(p.problems) == problems
}

func (p *parser) tags(f *fields, where string) []string {
	tf, ok := f.byKey["tags"]
	if !ok || isNull(tf.val) {
		return nil
	}
	if tf.val.Kind != yaml.SequenceNode {
		p.errorf(tf.line, "%s: tags must be a list, e.g. tags: [core, pop1], not %s", where, describe(tf.val))
		return nil
	}
	tags := make([]string, 0, len(tf.val.Content))
	for _, item := range tf.val.Content {
		if !p.spend() {
			return nil
		}
		item = resolve(item)
		switch {
		case item.Kind != yaml.ScalarNode:
			p.errorf(item.Line, "%s: each tag must be text, not %s", where, describe(item))
		case isNull(item) || item.Value == "":
			p.errorf(item.Line, "%s: empty tag: remove it or give it a name", where)
		default:
			tags = append(tags, item.Value)
		}
	}
	return tags
}

// settings are the login settings of one level: the file's defaults, a
// tenant's defaults or a device. Empty means "not set here".
type settings struct {
	username     string
	port         int
	secrets      string
	identityFile string
	useAgent     *bool // nil: not set at this level
	pw           passwordSource

	proxyJump         string // as written, validated; "none" is a value
	proxyIdentityFile string
	legacy            *bool // ssh_legacy_algorithms; nil: not set at this level

	// Set by mergeSettings: no level set username / port.
	usernameDefault, portDefault bool
}

// passwordSource is where one level takes the password from; at most one
// field is set.
type passwordSource struct {
	env, file, inline string
	key               int // 1 + index of the inline password in parser.passwordKeys
}

func (s passwordSource) set() bool { return s.env != "" || s.file != "" || s.inline != "" }

// mergeSettings takes each setting from the first level that sets it,
// most specific level first. The password sources count as one setting so
// that a device's password_file is not shadowed by its tenant's
// password_env.
func mergeSettings(levels ...settings) settings {
	out := settings{username: DefaultUsername, port: DefaultPort, secrets: SecretsShow,
		usernameDefault: true, portDefault: true}
	for i := len(levels) - 1; i >= 0; i-- {
		l := levels[i]
		if l.username != "" {
			out.username, out.usernameDefault = l.username, false
		}
		if l.port != 0 {
			out.port, out.portDefault = l.port, false
		}
		if l.proxyJump != "" {
			out.proxyJump = l.proxyJump
		}
		if l.proxyIdentityFile != "" {
			out.proxyIdentityFile = l.proxyIdentityFile
		}
		if l.legacy != nil {
			out.legacy = l.legacy
		}
		if l.secrets != "" {
			out.secrets = l.secrets
		}
		if l.identityFile != "" {
			out.identityFile = l.identityFile
		}
		if l.useAgent != nil {
			out.useAgent = l.useAgent
		}
		if l.pw.set() {
			out.pw = l.pw
		}
	}
	return out
}

// settingsBlock reads an optional "defaults:" mapping of f.
func (p *parser) settingsBlock(f *fields, key, where string) settings {
	df, ok := f.byKey[key]
	if !ok || isNull(df.val) {
		return settings{}
	}
	if df.val.Kind != yaml.MappingNode {
		p.errorf(df.line, "%s must be a mapping of settings (username:, port:, ...), not %s", where, describe(df.val))
		return settings{}
	}
	sf := p.fields(df.val)
	p.unknownKeys(sf, settingsKeys, where, levelDefaults)
	return p.settings(sf, where)
}

func (p *parser) settings(f *fields, where string) settings {
	var s settings
	s.username, _, _ = p.text(f, "username", where)
	if v, line, ok := p.text(f, "port", where); ok && v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			p.errorf(line, "%s: bad port %q: use a number from 1 to 65535", where, v)
		} else {
			s.port = port
		}
	}
	if v, line, ok := p.text(f, "secrets", where); ok && v != "" {
		if v != SecretsShow && v != SecretsHide {
			p.errorf(line, `%s: bad secrets value %q: use "show" (export with secrets, restorable) or "hide" (export without them)`, where, v)
		} else {
			s.secrets = v
		}
	}
	s.identityFile = p.path(f, "identity_file", where)
	s.useAgent = p.boolean(f, "use_agent", where)
	if v, line, ok := p.text(f, "proxy_jump", where); ok && v != "" {
		if _, err := proxyjump.Parse(v); err != nil {
			p.errorf(line, "%s: bad proxy_jump %v: write [user@]host[:port], several hops separated by commas (OpenSSH -J syntax), or none", where, err)
		} else {
			s.proxyJump = strings.TrimSpace(v)
		}
	}
	s.proxyIdentityFile = p.path(f, "proxy_identity_file", where)
	s.legacy = p.boolean(f, "ssh_legacy_algorithms", where)

	var sources []string
	if v, line, ok := p.text(f, "password_env", where); ok && v != "" {
		sources = append(sources, "password_env")
		if envNamePattern.MatchString(v) {
			s.pw.env = v
		} else if name := strings.Trim(v, "${}"); strings.HasPrefix(v, "$") && envNamePattern.MatchString(name) {
			p.errorf(line, "%s: password_env takes the variable's name without $: write password_env: %s", where, name)
		} else {
			// The value is not echoed: people do paste the password itself here.
			p.errorf(line, "%s: password_env must name an environment variable (letters, digits and '_', e.g. ACME_PW); to give the password itself, put it in a file and use password_file", where)
		}
	}
	if v := p.path(f, "password_file", where); v != "" {
		sources = append(sources, "password_file")
		s.pw.file = v
	}
	if v, line, ok := p.text(f, "password", where); ok && v != "" {
		sources = append(sources, "password")
		p.passwordKeys = append(p.passwordKeys, passwordKey{line: line})
		s.pw.inline, s.pw.key = v, len(p.passwordKeys)
	}
	if len(sources) > 1 {
		p.errorf(f.line, "%s sets %s: keep one, a device takes its password from exactly one place", where, strings.Join(sources, " and "))
	}
	return s
}

// boolean returns the value of a true/false key, nil when it is absent or
// after reporting a value that is not one.
func (p *parser) boolean(f *fields, key, where string) *bool {
	fd, has := f.byKey[key]
	if !has || isNull(fd.val) {
		return nil
	}
	if fd.val.Kind == yaml.ScalarNode && fd.val.Tag == "!!bool" {
		if b, err := strconv.ParseBool(fd.val.Value); err == nil {
			return &b
		}
	}
	shown := fd.val.Value
	if fd.val.Kind != yaml.ScalarNode {
		shown = describe(fd.val)
	} else if len(shown) > 40 {
		shown = shown[:40] + "..."
	}
	p.errorf(fd.line, "%s: %s must be true or false, not %q", where, key, shown)
	return nil
}

func (p *parser) path(f *fields, key, where string) string {
	v, line, ok := p.text(f, key, where)
	if !ok || v == "" {
		return ""
	}
	abs, err := expandPath(v, p.dir)
	if err != nil {
		p.errorf(line, "%s: %s %q: %v", where, key, v, err)
		return ""
	}
	if msg := p.checkSecretFile(abs); msg != "" {
		p.errorf(line, "%s: %s %s %s", where, key, abs, msg)
		return ""
	}
	return abs
}

// checkSecretFile returns why the identity or password file at path cannot
// serve, or "". It is checked at load, not at the first backup (a missing
// key found by the 3 a.m. scheduled run), and a file that other users can
// read is refused outright: it holds a device's credential. Like OpenSSH
// with private keys, any group or other permission bit counts (a file
// others can write lets them choose what cfgsnap sends to the device).
func (p *parser) checkSecretFile(path string) string {
	if msg, ok := p.fileChecks[path]; ok {
		return msg
	}
	msg := secretFileProblem(path)
	if p.fileChecks == nil {
		p.fileChecks = map[string]string{}
	}
	p.fileChecks[path] = msg
	return msg
}

func secretFileProblem(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist: check the path (relative paths are relative to the inventory's directory)"
	case errors.Is(err, fs.ErrPermission):
		return "cannot be reached by this user: check the permissions of its directories"
	case err != nil:
		return fmt.Sprintf("cannot be read: %v", errors.Unwrap(err))
	case fi.IsDir():
		return "is a directory, not a file"
	case !fi.Mode().IsRegular():
		// A FIFO would block the load until someone writes to it.
		return "is not a regular file"
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 && runtime.GOOS != "windows" {
		return fmt.Sprintf("is open to group or others (mode %04o) and holds a credential: run chmod 600 %s", mode, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot be read by this user: %v", errors.Unwrap(err))
	}
	f.Close()
	return ""
}

func (p *parser) passwordWarnings() {
	for _, k := range p.passwordKeys {
		if p.firstPasswordLine == 0 || k.line < p.firstPasswordLine {
			p.firstPasswordLine = k.line
		}
		use := "not used by any device: remove it"
		switch {
		case k.devices == 1:
			use = "used by 1 device"
		case k.devices > 1:
			use = fmt.Sprintf("used by %d devices", k.devices)
		}
		p.warnf(k.line, "plain secret in %s (%s): prefer password_env or password_file", p.file, use)
	}
}

// field is one "key: value" of a mapping.
type field struct {
	key  string
	line int // of the key
	val  *yaml.Node
}

type fields struct {
	line  int
	list  []field
	byKey map[string]field
}

// fields collects the entries of mapping n, reporting keys that are not
// text and duplicate keys (the node tree keeps both; later code would
// silently use one).
func (p *parser) fields(n *yaml.Node) *fields {
	f := &fields{line: n.Line, byKey: make(map[string]field, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !p.spend() {
			break
		}
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k.Line, "a key must be plain text, not %s", describe(k))
			continue
		case k.Tag == "!!merge":
			p.errorf(k.Line, `merge keys (<<) are not supported: put shared settings under "defaults:" of the file or of the tenant`)
			continue
		}
		if prev, dup := f.byKey[k.Value]; dup {
			p.errorf(k.Line, "duplicate key %q (first at line %d): keep one", k.Value, prev.line)
			continue
		}
		fd := field{key: k.Value, line: k.Line, val: v}
		f.list = append(f.list, fd)
		f.byKey[k.Value] = fd
	}
	return f
}

// text returns the scalar value of key: "" when the key is absent or null,
// ok false after reporting a value of the wrong type.
func (p *parser) text(f *fields, key, where string) (val string, line int, ok bool) {
	fd, has := f.byKey[key]
	if !has {
		return "", 0, true
	}
	if fd.val.Kind != yaml.ScalarNode {
		p.errorf(fd.line, "%s: %q must be text, not %s", where, key, describe(fd.val))
		return "", fd.line, false
	}
	if isNull(fd.val) {
		return "", fd.line, true
	}
	return fd.val.Value, fd.line, true
}

type level int

const (
	levelTop level = iota
	levelDefaults
	levelTenant
	levelDevice
)

func (p *parser) unknownKeys(f *fields, known []string, where string, lvl level) {
	for _, fd := range f.list {
		if slices.Contains(known, fd.key) {
			continue
		}
		p.errorf(fd.line, "%s", unknownKeyMsg(fd.key, known, where, lvl))
	}
}

func unknownKeyMsg(key string, known []string, where string, lvl level) string {
	shown := key
	if len(shown) > 40 {
		shown = shown[:40] + "..."
	}
	if s := suggest(key, known); s != "" {
		return fmt.Sprintf("unknown key %q in %s: did you mean %q?", shown, where, s)
	}
	switch {
	case lvl == levelTop && key == "devices":
		return `"devices" must be inside a tenant: tenants: [{id: ..., devices: [...]}]`
	case lvl == levelDefaults && slices.Contains(deviceOnlyKeys, key):
		return fmt.Sprintf("%q cannot be a default (in %s): set it on each device", key, where)
	case lvl == levelTenant && slices.Contains(deviceKeys, key):
		return fmt.Sprintf("%q is a device setting, not a tenant's (in %s): put it under the tenant's \"defaults:\" or on each device", key, where)
	case lvl == levelDevice && key == "defaults":
		return fmt.Sprintf(`a device has no "defaults:" (in %s): write its settings directly on the device`, where)
	}
	return fmt.Sprintf("unknown key %q in %s: known keys are %s", shown, where, strings.Join(known, ", "))
}

const idRule = "1-64 letters, digits, '_' or '-'"

// checkID returns why id is not a valid ID, or "".
func checkID(id string) string {
	if api.ValidID(id) {
		return ""
	}
	if len(id) > 64 {
		return fmt.Sprintf("%d characters long: use %s", len(id), idRule)
	}
	var bad []string
	for _, r := range id {
		ok := r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if q := strconv.QuoteRune(r); !ok && !slices.Contains(bad, q) {
			bad = append(bad, q)
		}
	}
	return fmt.Sprintf("contains %s: use %s", strings.Join(bad, ", "), idRule)
}

// checkHost returns the host to dial (IPv6 brackets removed) or why it
// cannot be one.
func checkHost(h string) (string, string) {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err == nil && a.Is6() {
			return h[1 : len(h)-1], ""
		}
	}
	switch {
	case strings.Contains(h, "://"):
		return "", fmt.Sprintf("host %q is a URL: write only the address or name", h)
	case strings.Contains(h, "@"):
		return "", fmt.Sprintf(`host %q contains a user: write the user as "username:"`, h)
	case strings.Count(h, ":") == 1:
		host, port, _ := strings.Cut(h, ":")
		return "", fmt.Sprintf(`host %q contains a port: write "host: %s" and "port: %s"`, h, host, port)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return h, ""
	}
	for _, r := range h {
		ok := r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return "", fmt.Sprintf("host %q contains %s: use an IP address or a DNS name", h, strconv.QuoteRune(r))
		}
	}
	return h, ""
}

// checkHostKey returns the pin in the form ssh.FingerprintSHA256 produces,
// or why key is not one. Padding is tolerated since some tools print it.
func checkHostKey(key string) (string, string) {
	const help = `host_key must be a SHA256 fingerprint: "SHA256:" and 43 base64 characters, as "ssh-keygen -lf KEYFILE" or "ssh-keyscan HOST | ssh-keygen -lf -" print it`
	b64, ok := strings.CutPrefix(key, "SHA256:")
	if !ok {
		if strings.HasPrefix(strings.ToUpper(key), "MD5:") || strings.Count(key, ":") == 15 {
			return "", "MD5 fingerprints are not supported: " + help
		}
		return "", help
	}
	b64 = strings.TrimRight(b64, "=")
	sum, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(sum) != 32 {
		return "", help
	}
	return "SHA256:" + b64, ""
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return "text"
	}
	return "an alias"
}

func leadingTab(data []byte, line int) bool {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if i == line-1 {
			indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
			return bytes.IndexByte(indent, '\t') >= 0
		}
	}
	return false
}

func lineOfControlChar(data []byte) int {
	line := 1
	for _, c := range data {
		switch {
		case c == '\n':
			line++
		case c < 0x20 && c != '\t' && c != '\r', c == 0x7f:
			return line
		}
	}
	return 0
}
