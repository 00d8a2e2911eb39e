package devicesim

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

// reply is a device's answer to one exec command.
type reply struct {
	status   int
	body     []byte // the whole reply, unless export is set
	isExport bool   // faults that corrupt exports apply
	// export, when set, is a generated export rendered on demand.
	export *exportOpts
	d      *device
	now    time.Time
	gen    int64
}

// writeTo sends the reply; generated exports stream without being held
// in memory.
func (r reply) writeTo(w io.Writer) error {
	if r.export != nil {
		return r.d.writeExport(w, *r.export, r.now, r.gen)
	}
	_, err := w.Write(r.body)
	return err
}

func (r reply) bytes() ([]byte, error) {
	if r.export == nil {
		return r.body, nil
	}
	var b bytes.Buffer
	if err := r.writeTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type cmdKind int

const (
	cmdEmpty cmdKind = iota
	cmdExport
	cmdResource
	cmdPackage
	cmdIdentity
	cmdHistory
	cmdGetVersion
)

// menu is the part of the RouterOS command tree the simulator knows; a
// value is either a submenu or a command.
type menu map[string]any

var commandTree = menu{
	"export": cmdExport,
	"system": menu{
		"resource": menu{"print": cmdResource},
		"package":  menu{"update": menu{"print": cmdPackage}},
		"identity": menu{"print": cmdIdentity},
		"history":  menu{"print": cmdHistory},
	},
}

type token struct {
	text string
	col  int // 1-based, as RouterOS reports positions
}

func tokenize(s string) []token {
	sep := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' }
	var ts []token
	for i := 0; i < len(s); {
		if sep(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && !sep(s[j]) {
			j++
		}
		ts = append(ts, token{s[i:j], i + 1})
		i = j
	}
	return ts
}

// parseCommand resolves a command line against the command tree; on error
// it returns the message RouterOS would print.
func parseCommand(line string, v rosVersion) (cmdKind, exportOpts, string) {
	opts := exportOpts{showSecrets: v.v6()}
	if strings.Join(strings.Fields(line), " ") == ":put [/system resource get version]" {
		return cmdGetVersion, opts, ""
	}
	ts := tokenize(line)
	if len(ts) == 0 {
		return cmdEmpty, opts, ""
	}
	cur := commandTree
	for i, t := range ts {
		switch next := cur[t.text].(type) {
		case menu:
			cur = next
		case cmdKind:
			msg := parseArgs(next, ts[i+1:], v, &opts)
			return next, opts, msg
		default:
			return 0, opts, fmt.Sprintf("bad command name %s (line 1 column %d)", t.text, t.col)
		}
	}
	return 0, opts, fmt.Sprintf("expected command name (line 1 column %d)", len(strings.TrimRight(line, " \t\r\n"))+1)
}

func parseArgs(kind cmdKind, args []token, v rosVersion, opts *exportOpts) string {
	for _, a := range args {
		ok := false
		switch kind {
		case cmdExport:
			switch a.text {
			case "terse":
				opts.terse, ok = true, true
			case "verbose":
				ok = true
			case "compact":
				ok = v.v6() // RouterOS 7 dropped it: compact is the only form
			case "hide-sensitive":
				opts.showSecrets, ok = false, true
			case "show-sensitive":
				opts.showSecrets, ok = true, !v.v6()
			}
		default:
			ok = a.text == "without-paging"
		}
		if !ok {
			return fmt.Sprintf("expected end of command (line 1 column %d)", a.col)
		}
	}
	return ""
}

// respond answers one exec command line as the device's RouterOS would,
// before faults: a fixture's recorded reply when it has one, else a
// generated one.
func (d *device) respond(line string, now time.Time) reply {
	norm := strings.Join(strings.Fields(line), " ")
	if b, ok := d.capture[norm]; ok {
		return reply{body: b, isExport: strings.HasPrefix(norm, "/export")}
	}
	kind, opts, msg := parseCommand(line, d.version)
	if msg != "" {
		return reply{status: 1, body: []byte(msg + "\r\n")}
	}
	switch kind {
	case cmdExport:
		return reply{isExport: true, export: &opts, d: d, now: now, gen: d.generation()}
	case cmdResource:
		return reply{body: d.resourcePrint(now)}
	case cmdPackage:
		return reply{body: d.packagePrint()}
	case cmdIdentity:
		return reply{body: []byte("  name: " + d.spec.ID + "\r\n")}
	case cmdHistory:
		return reply{body: d.historyPrint(now)}
	case cmdGetVersion:
		return reply{body: []byte(d.version.raw + " (" + d.version.channel() + ")\r\n")}
	}
	return reply{}
}

func crlfLines(lines []string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// keyValues prints "key: value" lines with the keys right-aligned to
// width, the layout of RouterOS print commands.
func keyValues(width int, kv ...string) []byte {
	lines := make([]string, 0, len(kv)/2+1)
	for i := 0; i+1 < len(kv); i += 2 {
		lines = append(lines, fmt.Sprintf("%*s: %s", width, kv[i], kv[i+1]))
	}
	return crlfLines(append(lines, ""))
}

func (d *device) resourcePrint(now time.Time) []byte {
	r := newRNG(d.seed, 5)
	b := d.board
	up := now.Sub(d.fleet.started) + d.bootAge
	build := time.Date(2023+r.intn(2), time.Month(1+r.intn(12)), 1+r.intn(28), r.intn(24), r.intn(60), r.intn(60), 0, time.UTC)
	buildTime := build.Format("2006-01-02 15:04:05")
	if !d.version.isoDates() {
		buildTime = build.Format("Jan/02/2006 15:04:05")
	}
	factory := "7.1"
	if d.version.v6() {
		factory = "6.44.6"
	}
	hddTotal := float64(b.hddMiB)
	kv := []string{
		"uptime", formatUptime(up),
		"version", d.version.raw + " (" + d.version.channel() + ")",
		"build-time", buildTime,
		"factory-software", factory,
		"free-memory", mib(float64(b.memMiB) * float64(55+r.intn(35)) / 100),
		"total-memory", mib(float64(b.memMiB)),
		"cpu", b.cpu,
		"cpu-count", fmt.Sprint(b.cpuCount),
		"cpu-frequency", fmt.Sprintf("%dMHz", b.cpuMHz),
		"cpu-load", fmt.Sprintf("%d%%", 1+r.intn(12)),
		"free-hdd-space", mib(hddTotal * float64(50+r.intn(40)) / 100),
		"total-hdd-space", mib(hddTotal),
		"write-sect-since-reboot", fmt.Sprint(1000 + r.intn(400000)),
		"write-sect-total", fmt.Sprint(400000 + r.intn(4000000)),
	}
	if b.flash {
		kv = append(kv, "bad-blocks", "0%")
	}
	kv = append(kv, "architecture-name", b.arch, "board-name", b.name, "platform", "MikroTik")
	return keyValues(25, kv...)
}

func mib(v float64) string {
	if v >= 10240 {
		return fmt.Sprintf("%.1fGiB", v/1024)
	}
	return fmt.Sprintf("%.1fMiB", v)
}

// formatUptime prints a duration as RouterOS does: "14w1d19h55m4s",
// "58m18s", zero units left out.
func formatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	if s <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		name string
	}{{7 * 86400, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if q := s / u.n; q > 0 {
			fmt.Fprintf(&b, "%d%s", q, u.name)
			s -= q * u.n
		}
	}
	return b.String()
}

func (d *device) packagePrint() []byte {
	kv := []string{"channel", d.version.channel(), "installed-version", d.version.raw}
	if latest := d.version.latest(); latest != d.version.raw {
		kv = append(kv, "latest-version", latest, "status", "New version is available")
	}
	return keyValues(19, kv...)
}

func (d *device) historyPrint(now time.Time) []byte {
	when := func(ago time.Duration) string {
		t := now.Add(-ago)
		if d.version.isoDates() {
			return t.Format("2006-01-02 15:04:05")
		}
		return strings.ToLower(t.Format("Jan/02/2006")) + t.Format(" 15:04:05")
	}
	return crlfLines([]string{
		"Flags: U - UNDOABLE",
		"Columns: ACTION, BY, POLICY, TIME",
		"  ACTION                            BY           POLICY  TIME               ",
		fmt.Sprintf("U address changed                   %-12s write   %s", "admin", when(26*time.Hour)),
		fmt.Sprintf("U firewall rule added               %-12s write   %s", "admin", when(50*time.Hour)),
		"",
	})
}

// nonZeroExitText is what FaultNonZeroExit prints: a real RouterOS failure.
const nonZeroExitText = "action timed out - try again, if error continues contact MikroTik support and send a supout file (13)\r\n"

// garbage is FaultGarbage's output: terminal noise and binary bytes with no
// line that could pass for an export (none starts with '/' or '#').
func garbage(seed uint64) []byte {
	r := newRNG(seed, 6)
	var b bytes.Buffer
	b.WriteString("\x1b[9999B\x1b[?25l")
	for range 24 {
		for range 60 {
			c := byte(r.next())
			if c == '/' || c == '#' || c == '\r' || c == '\n' {
				c = '?'
			}
			b.WriteByte(c)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("[admin@MikroTik] > invalid internal item number\r\n")
	return b.Bytes()
}

var (
	versionLine = regexp.MustCompile(`(?m)^\s*version:\s*(\S+)`)
	boardLine   = regexp.MustCompile(`(?m)^\s*board-name:\s*(.*?)\s*$`)
)

// loadFixture reads the capture; the device's version and model come from
// it unless the spec names them.
func (d *device) loadFixture() error {
	var replies map[string][]byte
	var err error
	if name, ok := strings.CutPrefix(d.spec.Fixture, BuiltinCapture); ok {
		var data []byte
		if data, err = captures.ReadFile(path.Join("captures", name)); err == nil {
			replies, err = routeros.ParseCapture(data)
		}
	} else {
		replies, err = routeros.LoadCapture(d.spec.Fixture)
	}
	if err != nil {
		return fmt.Errorf("load fixture: %w", err)
	}
	d.capture = make(map[string][]byte, len(replies))
	for k, v := range replies {
		d.capture[strings.Join(strings.Fields(k), " ")] = v
	}
	res := d.capture["/system resource print"]
	if m := versionLine.FindSubmatch(res); m != nil && d.spec.Version == "" {
		d.spec.Version = string(m[1])
	}
	if m := boardLine.FindSubmatch(res); m != nil && d.spec.Model == "" {
		d.spec.Model = string(m[1])
		if strings.HasPrefix(d.spec.Model, "CHR") {
			d.spec.Model = "CHR"
		}
	}
	return nil
}
