package devicesim

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// exportOpts selects what one /export prints.
type exportOpts struct {
	showSecrets bool
	terse       bool
}

// attr is one "name=value" of an export line. Secret attributes are left
// out unless the export shows sensitive values, as RouterOS does.
type attr struct {
	k, v   string
	secret bool
}

func at(k, v string) attr     { return attr{k: k, v: v} }
func secret(k, v string) attr { return attr{k: k, v: v, secret: true} }
func atInt(k string, n int) attr {
	return attr{k: k, v: strconv.Itoa(n)}
}

// emitter prints export sections and items the way RouterOS does: section
// headers only for sections that have items, attributes sorted by name,
// values quoted when needed, long lines wrapped (or, terse, the section
// path on every line and no wrapping), CRLF line ends.
type emitter struct {
	w       *bufio.Writer
	opts    exportOpts
	section string
	pending bool
	line    []byte
	out     []byte
	err     error
	skip    map[string]bool
	muted   bool
}

func (e *emitter) sec(path string) {
	e.section, e.pending = path, true
	e.muted = e.skip[path]
}

func (e *emitter) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *emitter) item(verb string, attrs ...attr) {
	if e.err != nil || e.muted {
		return
	}
	if e.pending && !e.opts.terse {
		e.raw(e.section)
		e.raw("\r\n")
	}
	e.pending = false
	slices.SortStableFunc(attrs, func(a, b attr) int { return strings.Compare(a.k, b.k) })
	l := e.line[:0]
	if e.opts.terse {
		l = append(l, e.section...)
		l = append(l, ' ')
	}
	l = append(l, verb...)
	for _, a := range attrs {
		if a.secret && !e.opts.showSecrets {
			continue
		}
		l = append(l, ' ')
		l = append(l, a.k...)
		l = append(l, '=')
		l = appendValue(l, a.v)
	}
	e.line = l
	if e.opts.terse {
		e.out = append(append(e.out[:0], l...), '\r', '\n')
	} else {
		e.out = appendWrapped(e.out[:0], string(l))
	}
	if e.err == nil {
		_, e.err = e.w.Write(e.out)
	}
}

// appendValue quotes a value the way RouterOS export does: bare when it is
// made of safe characters, else in double quotes with \ " $ ? escaped and
// control and non-ASCII bytes as \XX.
func appendValue(dst []byte, v string) []byte {
	bare := v != ""
	for i := 0; i < len(v) && bare; i++ {
		c := v[i]
		bare = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-_.:/,!+*@%&|<>^~'", c) >= 0
	}
	if bare {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"', '\\', '$', '?':
			dst = append(dst, '\\', c)
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c < 0x20 || c >= 0x7f { // RouterOS exports are ASCII: UTF-8 goes out as \C3\A9
				dst = append(dst, '\\', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}

// exportHeader is the comment block RouterOS starts an export with. The
// date format changed in 7.10; normalisation drops this line either way.
func (d *device) exportHeader(now time.Time) string {
	var date string
	if d.version.isoDates() {
		date = now.Format("2006-01-02 15:04:05")
	} else {
		date = strings.ToLower(now.Format("Jan/02/2006")) + now.Format(" 15:04:05")
	}
	r := newRNG(d.seed, 2)
	swid := r.word(4, "ABCDEFGHIJKLMNPQRSTUVWXYZ0123456789") + "-" + r.word(4, "ABCDEFGHIJKLMNPQRSTUVWXYZ0123456789")
	serial := r.word(12, "0123456789ABCDEF")
	return "# " + date + " by RouterOS " + d.version.raw + "\r\n" +
		"# software id = " + swid + "\r\n" +
		"#\r\n" +
		"# model = " + d.board.model + "\r\n" +
		"# serial number = " + serial + "\r\n"
}

// writeExport renders the device's configuration of generation gen to w.
// It streams: memory use does not grow with the export's size.
func (d *device) writeExport(w io.Writer, o exportOpts, now time.Time, gen int64) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	e := &emitter{w: bw, opts: o}
	e.raw(d.exportHeader(now))
	c := newConfig(d, gen)
	e.skip = c.skip
	c.write(e, d.fillerUnits())
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

// countWriter counts what would be written.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// fillerUnits is how many filler units (customers: firewall rules,
// addresses, queues, NAT) bring the export to Spec.SizeBytes. It is
// measured once per device by rendering into a counter.
func (d *device) fillerUnits() int {
	if n := d.units.Load(); n >= 0 {
		return int(n)
	}
	c := newConfig(d, 0)
	var cw countWriter
	bw := bufio.NewWriterSize(&cw, 32<<10)
	e := &emitter{w: bw, opts: exportOpts{showSecrets: true}, skip: c.skip}
	e.raw(d.exportHeader(time.Time{}))
	c.write(e, 0)
	bw.Flush()
	total := cw.n
	units := 0
	for total < int64(d.spec.SizeBytes) {
		before := cw.n
		for _, s := range fillerSections {
			e.section, e.pending, e.muted = s, false, false // headers were counted with the base
			c.filler(e, s, units)
		}
		bw.Flush()
		total += cw.n - before
		units++
	}
	d.units.Store(int64(units))
	return units
}

// vlanDef is one VLAN of the generated site.
type vlanDef struct {
	id      int
	purpose string
	dhcp    bool
}

func (v vlanDef) name() string { return fmt.Sprintf("vlan%d-%s", v.id, v.purpose) }

type pppSecret struct{ name, password, remote string }

// config is the generated configuration of one device and generation: the
// choices drawn from the seed, before rendering.
type config struct {
	d        *device
	gen      int64
	small    bool
	skip     map[string]bool // sections a tiny device leaves at defaults
	tenant   string
	id       string
	v6       bool
	iso      bool
	site     int
	mac      string
	wanIP    int
	isp      string
	city     string
	tz       string
	vlans    []vlanDef
	lanPorts []string
	wg       bool
	wgKey    string
	wgPSK    string
	wgPeer   string
	snmpAuth string
	snmpPriv string
	psk      string
	ppp      []pppSecret
	backupPW string
	minute   int
}

var (
	cities = []struct{ name, tz string }{
		{"Riga", "Europe/Riga"}, {"Berlin", "Europe/Berlin"}, {"Frankfurt", "Europe/Berlin"},
		{"Amsterdam", "Europe/Amsterdam"}, {"Vienna", "Europe/Vienna"}, {"Prague", "Europe/Prague"},
		{"Warsaw", "Europe/Warsaw"}, {"Lisbon", "Europe/Lisbon"}, {"Oslo", "Europe/Oslo"},
		{"Chicago", "America/Chicago"}, {"Denver", "America/Denver"}, {"Toronto", "America/Toronto"},
	}
	isps     = []string{"Telia", "Lattelecom", "DTAG", "KPN", "A1", "Orange", "Vodafone", "Comcast", "Zayo", "Cogent"}
	purposes = []struct {
		id      int
		purpose string
		dhcp    bool
	}{
		{99, "mgmt", false}, {10, "staff", true}, {20, "voice", true}, {30, "guest", true},
		{40, "cctv", true}, {100, "servers", false}, {110, "iot", true}, {200, "wifi", true}, {210, "dmz", false},
	}
	services = []struct {
		name string
		port int
	}{
		{"https", 443}, {"ssh", 22}, {"smtp", 25}, {"imaps", 993}, {"rdp", 3389}, {"sip", 5060},
		{"openvpn", 1194}, {"mqtt", 8883}, {"http-alt", 8080}, {"ldaps", 636}, {"syslog", 514}, {"snmp", 161},
	}
	plans = []string{"basic", "home", "business", "pro", "enterprise"}
)

func newConfig(d *device, gen int64) *config {
	r := newRNG(d.seed, 1)
	c := &config{d: d, gen: gen, tenant: d.spec.Tenant, id: d.spec.ID, v6: d.version.v6(), iso: d.version.isoDates()}
	c.site = 10 + r.intn(200)
	c.mac = fmt.Sprintf("48:A9:8A:%02X:%02X:%02X", r.intn(256), r.intn(256), r.intn(256))
	c.wanIP = 4*r.intn(60) + 1
	c.isp = r.pick(isps)
	city := cities[r.intn(len(cities))]
	c.city, c.tz = city.name, city.tz
	// A small export is a CPE with little beyond the defaults: the base
	// grows with the requested size before filler units take over.
	size := d.spec.SizeBytes
	c.small = size < 6<<10
	if size < 4<<10 {
		c.skip = tinySkips
	}
	medium := !c.small && size < 16<<10
	n := 2 + r.intn(len(purposes)-1)
	switch {
	case c.small:
		n = 1
	case medium:
		n = min(n, 3)
	}
	c.vlans = append(c.vlans, vlanDef{purposes[0].id, purposes[0].purpose, purposes[0].dhcp})
	for _, p := range purposes[1:n] {
		c.vlans = append(c.vlans, vlanDef{p.id, p.purpose, p.dhcp})
	}
	for i := 2; i <= d.board.ether; i++ {
		c.lanPorts = append(c.lanPorts, "ether"+strconv.Itoa(i))
	}
	c.lanPorts = append(c.lanPorts, d.board.sfp...)
	switch {
	case c.small:
		c.lanPorts = c.lanPorts[:min(2, len(c.lanPorts))]
	case medium:
		c.lanPorts = c.lanPorts[:min(6, len(c.lanPorts))]
	}
	c.wg = r.intn(3) > 0 && !c.v6 && !c.small
	c.wgKey = b64key(&r)
	c.wgPSK = b64key(&r)
	c.wgPeer = b64key(&r)
	c.snmpAuth = r.word(16, alnum)
	c.snmpPriv = r.word(16, alnum)
	c.psk = r.word(20, alnum)
	nppp := 1 + r.intn(3)
	if c.small {
		nppp = 1
	}
	for i := range nppp {
		c.ppp = append(c.ppp, pppSecret{
			name:     fmt.Sprintf("cust-%05d", 20000+r.intn(70000)),
			password: r.word(12, alnum),
			remote:   fmt.Sprintf("100.127.%d.%d", c.site, 10+i),
		})
	}
	c.backupPW = r.word(18, alnum)
	c.minute = r.intn(60)
	return c
}

func b64key(r *rng) string {
	var b [32]byte
	for i := range b {
		b[i] = byte(r.next())
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

func (c *config) net(third, fourth int) string {
	return fmt.Sprintf("10.%d.%d.%d", c.site, third, fourth)
}

// changeRef is the ticket a drifted generation claims to implement.
func (c *config) changeRef() string { return "CHG-" + strconv.FormatInt(4000+c.gen, 10) }

func (c *config) date(y, m, d int) string {
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if c.iso {
		return t.Format("2006-01-02")
	}
	return strings.ToLower(t.Format("Jan/02/2006"))
}

// tinySkips are the sections a device of a few kilobytes leaves at their
// defaults, so that even a 2 KB export keeps the sections with secrets.
var tinySkips = map[string]bool{
	"/ppp profile": true, "/ppp secret": true, "/ip pool": true, "/ip service": true,
	"/tool mac-server": true, "/tool mac-server mac-winbox": true, "/user group": true, "/user": true,
	"/ip neighbor discovery-settings": true, "/system ntp client servers": true, "/interface list member": true,
}

// fillerSections are the sections that grow with the export size, in export
// order.
var fillerSections = []string{"/queue simple", "/ip dns static", "/ip firewall address-list", "/ip firewall filter", "/ip firewall nat"}

// write renders the whole configuration with the given number of filler
// units, in the order RouterOS exports sections.
func (c *config) write(e *emitter, units int) {
	d := c.d
	e.sec("/interface bridge")
	bridge := []attr{at("admin-mac", c.mac), at("auto-mac", "no"), at("comment", "defconf"), at("name", "bridge")}
	if !c.v6 {
		bridge = append(bridge, at("port-cost-mode", "short"), at("vlan-filtering", "no"))
	}
	e.item("add", bridge...)

	e.sec("/interface ethernet")
	e.item("set [ find default-name=ether1 ]", at("comment", fmt.Sprintf("WAN: %s circuit %d", c.isp, 100000+c.site*37)))
	for i, p := range c.lanPorts {
		if i%4 == 0 && !c.small {
			e.item("set [ find default-name="+p+" ]", at("comment", fmt.Sprintf("patch %s-%02d", strings.ToUpper(c.city[:3]), i+1)))
		}
	}

	if c.wg {
		e.sec("/interface wireguard")
		e.item("add", atInt("listen-port", 13231), atInt("mtu", 1420), at("name", "wg-mgmt"), secret("private-key", c.wgKey))
	}

	e.sec("/interface vlan")
	for i, v := range c.vlans {
		comment := v.purpose
		if i == 0 && c.gen > 0 {
			comment = v.purpose + " (" + c.changeRef() + ")"
		}
		e.item("add", at("comment", comment), at("interface", "bridge"), at("name", v.name()), atInt("vlan-id", v.id))
	}

	e.sec("/interface list")
	for _, l := range []string{"WAN", "LAN", "MGMT"} {
		e.item("add", at("name", l))
	}

	if d.board.wireless {
		e.sec("/interface wireless security-profiles")
		e.item("set [ find default=yes ]", at("authentication-types", "wpa2-psk"), at("mode", "dynamic-keys"),
			at("supplicant-identity", "MikroTik"), secret("wpa2-pre-shared-key", c.psk))
	}

	e.sec("/ip pool")
	for _, v := range c.vlans {
		if v.dhcp {
			e.item("add", at("name", "pool-"+v.purpose), at("ranges", c.net(v.id, 100)+"-"+c.net(v.id, 199)))
		}
	}
	e.item("add", at("name", "pool-pppoe"), at("ranges", fmt.Sprintf("100.127.%d.10-100.127.%d.250", c.site, c.site)))

	e.sec("/ip dhcp-server")
	for _, v := range c.vlans {
		if v.dhcp {
			e.item("add", at("address-pool", "pool-"+v.purpose), at("interface", v.name()), at("lease-time", "1h"), at("name", "dhcp-"+v.purpose))
		}
	}

	e.sec("/ppp profile")
	e.item("add", at("dns-server", c.net(99, 1)), at("local-address", fmt.Sprintf("100.127.%d.1", c.site)),
		at("name", "pppoe-customers"), at("remote-address", "pool-pppoe"), at("use-encryption", "yes"))

	c.fillerSection(e, "/queue simple", units)

	e.sec("/snmp community")
	e.item("set [ find default=yes ]", at("disabled", "yes"))
	e.item("add", at("addresses", "10.0.0.0/8,192.0.2.0/24"), secret("authentication-password", c.snmpAuth),
		at("authentication-protocol", "SHA1"), secret("encryption-password", c.snmpPriv), at("encryption-protocol", "AES"),
		at("name", c.tenant+"-nms"), at("security", "private"))

	e.sec("/interface bridge port")
	for _, p := range c.lanPorts {
		as := []attr{at("bridge", "bridge"), at("comment", "defconf"), at("interface", p)}
		if !c.v6 {
			as = append(as, atInt("internal-path-cost", 10), atInt("path-cost", 10))
		}
		e.item("add", as...)
	}

	e.sec("/ip neighbor discovery-settings")
	e.item("set", at("discover-interface-list", "MGMT"))

	e.sec("/interface list member")
	e.item("add", at("interface", "ether1"), at("list", "WAN"))
	e.item("add", at("interface", "bridge"), at("list", "LAN"))
	e.item("add", at("interface", c.vlans[0].name()), at("list", "MGMT"))
	if c.wg {
		e.item("add", at("interface", "wg-mgmt"), at("list", "MGMT"))
		e.sec("/interface wireguard peers")
		e.item("add", at("allowed-address", fmt.Sprintf("10.255.%d.2/32", c.site)), at("comment", "noc"),
			at("endpoint-address", "192.0.2.50"), atInt("endpoint-port", 13231), at("interface", "wg-mgmt"),
			at("name", "noc-1"), at("persistent-keepalive", "25s"), secret("preshared-key", c.wgPSK), at("public-key", c.wgPeer))
	}

	e.sec("/ip address")
	e.item("add", at("address", fmt.Sprintf("203.0.113.%d/30", c.wanIP+1)), at("comment", "WAN "+c.isp),
		at("interface", "ether1"), at("network", fmt.Sprintf("203.0.113.%d", c.wanIP-1)))
	for _, v := range c.vlans {
		e.item("add", at("address", c.net(v.id, 1)+"/24"), at("interface", v.name()), at("network", c.net(v.id, 0)))
	}
	if c.wg {
		e.item("add", at("address", fmt.Sprintf("10.255.%d.1/24", c.site)), at("interface", "wg-mgmt"), at("network", fmt.Sprintf("10.255.%d.0", c.site)))
	}

	e.sec("/ip dhcp-server network")
	for _, v := range c.vlans {
		if v.dhcp {
			e.item("add", at("address", c.net(v.id, 0)+"/24"), at("dns-server", c.net(v.id, 1)), at("gateway", c.net(v.id, 1)))
		}
	}

	e.sec("/ip dns")
	e.item("set", at("allow-remote-requests", "yes"), at("cache-size", "4096KiB"), at("servers", "9.9.9.9,149.112.112.112"))

	e.sec("/ip dns static")
	e.item("add", at("address", c.net(99, 1)), at("name", c.id+"."+c.tenant+".lan"))
	c.fillerSection(e, "/ip dns static", units)

	e.sec("/ip firewall address-list")
	e.item("add", at("address", "192.0.2.0/24"), at("list", "noc"))
	e.item("add", at("address", "10.0.0.0/8"), at("list", "mgmt-nets"))
	if c.gen > 0 {
		r := newRNG(c.d.seed, 3, uint64(c.gen))
		e.item("add", at("address", fmt.Sprintf("198.51.100.%d", 1+r.intn(254))), at("comment", c.changeRef()), at("list", "change-window"))
	}
	c.fillerSection(e, "/ip firewall address-list", units)

	e.sec("/ip firewall filter")
	e.item("add", at("action", "accept"), at("chain", "input"), at("comment", "defconf: accept established,related,untracked"), at("connection-state", "established,related,untracked"))
	e.item("add", at("action", "drop"), at("chain", "input"), at("comment", "defconf: drop invalid"), at("connection-state", "invalid"))
	e.item("add", at("action", "accept"), at("chain", "input"), at("comment", "defconf: accept ICMP"), at("protocol", "icmp"))
	if !c.small {
		e.item("add", at("action", "accept"), at("chain", "input"), at("comment", "NOC access"), at("src-address-list", "noc"))
		e.item("add", at("action", "accept"), at("chain", "input"), at("comment", "management"), at("in-interface-list", "MGMT"))
	}
	e.item("add", at("action", "drop"), at("chain", "input"), at("comment", "defconf: drop all not coming from LAN"), at("in-interface-list", "!LAN"))
	if !c.small {
		ft := []attr{at("action", "fasttrack-connection"), at("chain", "forward"), at("comment", "defconf: fasttrack"), at("connection-state", "established,related")}
		if !c.v6 {
			ft = append(ft, at("hw-offload", "yes"))
		}
		e.item("add", ft...)
		e.item("add", at("action", "accept"), at("chain", "forward"), at("comment", "defconf: accept established,related, untracked"), at("connection-state", "established,related,untracked"))
		e.item("add", at("action", "drop"), at("chain", "forward"), at("comment", "defconf: drop invalid"), at("connection-state", "invalid"))
	}
	c.fillerSection(e, "/ip firewall filter", units)
	e.item("add", at("action", "drop"), at("chain", "forward"), at("comment", "defconf: drop all from WAN not DSTNATed"),
		at("connection-nat-state", "!dstnat"), at("connection-state", "new"), at("in-interface-list", "WAN"))

	e.sec("/ip firewall nat")
	e.item("add", at("action", "masquerade"), at("chain", "srcnat"), at("comment", "defconf: masquerade"), at("ipsec-policy", "out,none"), at("out-interface-list", "WAN"))
	c.fillerSection(e, "/ip firewall nat", units)

	e.sec("/ip route")
	gw := fmt.Sprintf("203.0.113.%d", c.wanIP)
	if c.v6 {
		e.item("add", at("comment", "default via "+c.isp), atInt("distance", 1), at("gateway", gw))
		if c.skip == nil {
			e.item("add", atInt("distance", 1), at("dst-address", "10.200.0.0/16"), at("gateway", c.net(100, 254)))
		}
	} else {
		e.item("add", at("comment", "default via "+c.isp), at("disabled", "no"), atInt("distance", 1), at("dst-address", "0.0.0.0/0"),
			at("gateway", gw), at("routing-table", "main"), atInt("scope", 30), at("suppress-hw-offload", "no"), atInt("target-scope", 10))
		if c.skip == nil {
			e.item("add", at("disabled", "no"), atInt("distance", 1), at("dst-address", "10.200.0.0/16"), at("gateway", c.net(100, 254)),
				at("routing-table", "main"), atInt("scope", 30), at("suppress-hw-offload", "no"), atInt("target-scope", 10))
		}
	}

	e.sec("/ip service")
	for _, s := range []string{"telnet", "ftp", "www"} {
		e.item("set "+s, at("disabled", "yes"))
	}
	e.item("set ssh", at("address", "10.0.0.0/8,192.0.2.0/24"))
	e.item("set api", at("disabled", "yes"))
	e.item("set winbox", at("address", "10.0.0.0/8,192.0.2.0/24"))
	e.item("set api-ssl", at("disabled", "yes"))

	e.sec("/ppp secret")
	for _, p := range c.ppp {
		e.item("add", at("name", p.name), secret("password", p.password), at("profile", "pppoe-customers"), at("remote-address", p.remote), at("service", "pppoe"))
	}

	e.sec("/snmp")
	e.item("set", at("contact", "noc@"+c.tenant+".example"), at("enabled", "yes"), at("location", fmt.Sprintf("%s, rack %d", c.city, 1+c.site%12)),
		at("trap-community", c.tenant+"-nms"), atInt("trap-version", 2))

	e.sec("/system clock")
	e.item("set", at("time-zone-name", c.tz))

	e.sec("/system identity")
	e.item("set", at("name", c.id))

	if !c.v6 {
		e.sec("/system note")
		e.item("set", at("show-at-login", "no"))
	}

	e.sec("/system ntp client")
	if c.v6 {
		e.item("set", at("enabled", "yes"), at("server-dns-names", "0.pool.ntp.org,1.pool.ntp.org"))
	} else {
		e.item("set", at("enabled", "yes"))
		e.sec("/system ntp client servers")
		e.item("add", at("address", "0.pool.ntp.org"))
		e.item("add", at("address", "1.pool.ntp.org"))
	}

	policy := "ftp,read,write,policy,test,sensitive"
	e.sec("/system scheduler")
	e.item("add", at("interval", "1d"), at("name", "nightly-backup"), at("on-event", "/system script run nightly-backup"),
		at("policy", policy), at("start-date", c.date(2024, 1, 1)), at("start-time", fmt.Sprintf("03:%02d:00", c.minute)))

	// The upload URL carries a password: the secret that must show only
	// with show-sensitive.
	source := ":local name ([/system identity get name] . \"-nightly\")\r\n" +
		"/system backup save dont-encrypt=yes name=$name\r\n" +
		":delay 5s\r\n" +
		"/tool fetch mode=sftp upload=yes src-path=($name . \".backup\") url=(\"sftp://backup:" + c.backupPW +
		"@192.0.2.10/" + c.tenant + "/\" . $name . \".backup\")"
	e.sec("/system script")
	e.item("add", at("dont-require-permissions", "no"), at("name", "nightly-backup"), at("owner", "admin"), at("policy", policy), secret("source", source))

	e.sec("/tool mac-server")
	e.item("set", at("allowed-interface-list", "MGMT"))
	e.sec("/tool mac-server mac-winbox")
	e.item("set", at("allowed-interface-list", "MGMT"))

	groupPolicy := "ssh,ftp,read,policy,test,sensitive,!local,!telnet,!reboot,!write,!winbox,!password,!web,!sniff,!api,!romon"
	if !c.v6 {
		groupPolicy += ",!rest-api"
	}
	e.sec("/user group")
	e.item("add", at("name", "backup"), at("policy", groupPolicy))
	e.sec("/user")
	e.item("add", at("address", "10.0.0.0/8,192.0.2.0/24"), at("group", "backup"), at("name", "backup"))
}

func (c *config) fillerSection(e *emitter, section string, units int) {
	if e.section != section {
		e.sec(section)
	}
	for i := range units {
		c.filler(e, section, i)
	}
}

// filler prints unit i's lines of one section: unit i is a customer or a
// service with its queue, addresses, firewall rules and port forward. Each
// (unit, section) has its own random stream so sections can be rendered
// independently and in any order.
func (c *config) filler(e *emitter, section string, i int) {
	r := newRNG(c.d.seed, 100, uint64(i), hash64(section))
	cust := fmt.Sprintf("cust-%05d", 10000+i)
	host := fmt.Sprintf("100.%d.%d.%d", 64+(i/65024)%64, (i/254)%256, i%254+1)
	srv := services[(i+c.site)%len(services)]
	srvHost := c.net(100+(i/250)%20, 2+i%250)
	switch section {
	case "/queue simple":
		rate := []int{10, 20, 50, 100, 200, 500}[r.intn(6)]
		e.item("add", at("comment", fmt.Sprintf("%s %s", r.pick(plans), r.pick(isps))), at("max-limit", fmt.Sprintf("%dM/%dM", rate, rate)),
			at("name", cust), at("target", host+"/32"))
	case "/ip dns static":
		if i%4 == 0 {
			e.item("add", at("address", srvHost), at("comment", cust), at("name", fmt.Sprintf("%s-%d.%s.lan", srv.name, i, c.tenant)), at("ttl", "1h"))
		}
	case "/ip firewall address-list":
		e.item("add", at("address", host), at("comment", fmt.Sprintf("%s since %s", cust, c.date(2020+r.intn(6), 1+r.intn(12), 1+r.intn(28)))), at("list", "customers"))
		if i%2 == 0 {
			e.item("add", at("address", fmt.Sprintf("198.51.100.%d", 1+r.intn(254))), at("comment", fmt.Sprintf("abuse report #%d", 50000+r.intn(50000))), at("list", "blocklist"))
		}
	case "/ip firewall filter":
		e.item("add", at("action", "accept"), at("chain", "forward"), at("comment", fmt.Sprintf("%s: allow %s to %s", cust, srv.name, srvHost)),
			at("dst-address", srvHost), atInt("dst-port", srv.port), at("in-interface-list", "WAN"), at("protocol", "tcp"), at("src-address-list", "customers"))
		if r.intn(2) == 0 {
			e.item("add", at("action", "drop"), at("chain", "forward"), at("comment", "blocklist "+cust), at("src-address", host), at("dst-address-list", "blocklist"))
		} else {
			e.item("add", at("action", "accept"), at("chain", "forward"), at("connection-state", "new"), at("dst-port", fmt.Sprintf("%d-%d", 40000+i%1000*10, 40009+i%1000*10)),
				at("protocol", "udp"), at("src-address", host))
		}
	case "/ip firewall nat":
		if i%2 == 0 {
			e.item("add", at("action", "dst-nat"), at("chain", "dstnat"), at("comment", fmt.Sprintf("%s: %s", cust, srv.name)),
				at("dst-address", fmt.Sprintf("203.0.113.%d", c.wanIP+1)), atInt("dst-port", 10000+i), at("in-interface-list", "WAN"),
				at("protocol", "tcp"), at("to-addresses", srvHost), atInt("to-ports", srv.port))
		}
	}
}
