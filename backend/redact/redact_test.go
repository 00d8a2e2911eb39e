package redact

import (
	"context"
	"github.com/cfgsnap/cfgsnap/backend/testfixtures"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

// TestLineRules has a hand-written line for every rule: each Keys entry,
// each MenuKeys entry, URL credentials, quoting and scripts.
func TestLineRules(t *testing.T) {
	cases := []struct {
		menu, line, want string
	}{
		{"/ppp secret", `add name=alice password=s3cret profile=default service=pppoe`, `add name=alice password=<redacted> profile=default service=pppoe`},
		{"/radius", `add address=192.0.2.5 secret=radsec service=login`, `add address=192.0.2.5 secret=<redacted> service=login`},
		{"/tool romon", `set enabled=yes secrets=romonpw`, `set enabled=yes secrets=<redacted>`},
		{"/interface l2tp-server server", `set enabled=yes ipsec-secret=l2tppsk use-ipsec=yes`, `set enabled=yes ipsec-secret=<redacted> use-ipsec=yes`},
		{"/user-manager router", `add address=127.0.0.1 name=local shared-secret=umsecret`, `add address=127.0.0.1 name=local shared-secret=<redacted>`},
		{"/ip dhcp-server", `add name=d1 radius-password=rpw`, `add name=d1 radius-password=<redacted>`},
		{"/container config", `set registry-password=regpw registry-url=https://registry-1.docker.io`, `set registry-password=<redacted> registry-url=https://registry-1.docker.io`},
		{"/interface wireguard", `add listen-port=13231 name=wg0 private-key="aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28="`, `add listen-port=13231 name=wg0 private-key=<redacted>`},
		{"/interface wireguard peers", `add interface=wg0 preshared-key="cHNrcHNr+/=" public-key="pub="`, `add interface=wg0 preshared-key=<redacted> public-key="pub="`},
		{"/interface wireless connect-list", `add interface=wlan1 pre-shared-key=cl-psk`, `add interface=wlan1 pre-shared-key=<redacted>`},
		{"/interface wireless access-list", `add private-pre-shared-key=apsk private-key=pk`, `add private-pre-shared-key=<redacted> private-key=<redacted>`},
		{"/interface wireless security-profiles", `set [ find default=yes ] authentication-types=wpa-psk,wpa2-psk mode=dynamic-keys wpa-pre-shared-key=wpa1key wpa2-pre-shared-key="two words"`, `set [ find default=yes ] authentication-types=wpa-psk,wpa2-psk mode=dynamic-keys wpa-pre-shared-key=<redacted> wpa2-pre-shared-key=<redacted>`},
		{"/interface wireless security-profiles", `add name=wep static-key-0=k0 static-key-1=k1 static-key-2=k2 static-key-3=k3 static-sta-private-key=k4 management-protection-key=k5`, `add name=wep static-key-0=<redacted> static-key-1=<redacted> static-key-2=<redacted> static-key-3=<redacted> static-sta-private-key=<redacted> management-protection-key=<redacted>`},
		{"/interface wifi security", `add authentication-types=wpa2-psk,wpa3-psk name=sec1 passphrase="pass \"quoted\" phrase" sae-password=sae`, `add authentication-types=wpa2-psk,wpa3-psk name=sec1 passphrase=<redacted> sae-password=<redacted>`},
		{"/interface wifi", `set [ find default-name=wifi1 ] configuration.ssid=Home security.passphrase=wifipass`, `set [ find default-name=wifi1 ] configuration.ssid=Home security.passphrase=<redacted>`},
		{"/snmp community", `add addresses=10.0.0.0/8 authentication-password=authpw encryption-password=privpw name=acme-nms security=private`, `add addresses=10.0.0.0/8 authentication-password=<redacted> encryption-password=<redacted> name=<redacted> security=private`},
		{"/snmp community", `set [ find default=yes ] name=public`, `set [ find default=yes ] name=<redacted>`},
		{"/snmp", `set contact=noc enabled=yes trap-community=trapcomm`, `set contact=noc enabled=yes trap-community=<redacted>`},
		{"/system ntp key", `add key=ntpkey key-id=1`, `add key=<redacted> key-id=1`},
		{"/routing ospf interface-template", `add area=backbone auth=md5 auth-id=1 auth-key=ospfkey`, `add area=backbone auth=md5 auth-id=1 auth-key=<redacted>`},
		{"/routing ospf interface", `add authentication=md5 authentication-key=v6key`, `add authentication=md5 authentication-key=<redacted>`},
		{"/routing bgp connection", `add name=peer1 remote.address=192.0.2.1 tcp-md5-key=bgpkey`, `add name=peer1 remote.address=192.0.2.1 tcp-md5-key=<redacted>`},
		{"/ip ipsec identity", `add peer=p1 secret="a b c"`, `add peer=p1 secret=<redacted>`},
		{"/tool e-mail", `set from=r@example.com password=mailpw server=192.0.2.25 user=r`, `set from=r@example.com password=<redacted> server=192.0.2.25 user=r`},
		{"/ip hotspot user", `add name=guest password=guestpw`, `add name=guest password=<redacted>`},
		{"/user-manager user", `add name=u1 password=umpw`, `add name=u1 password=<redacted>`},
		{"/interface pptp-client", `add connect-to=192.0.2.9 name=p1 password=pptppw user=u`, `add connect-to=192.0.2.9 name=p1 password=<redacted> user=u`},
		// Terse exports name the menu on the line itself.
		{"", `/snmp community add name=terse-comm`, `/snmp community add name=<redacted>`},
		{"", `/interface ovpn-client add name=o1 password="with \\ backslash" user=u`, `/interface ovpn-client add name=o1 password=<redacted> user=u`},
		// name= is a label outside /snmp community; empty secrets stay.
		{"/ppp secret", `add name=community password=""`, `add name=community password=""`},
		// URL credentials, bare and in scripts.
		{"/system script", `add name=up source="/tool fetch upload=yes url=\"sftp://backup:urlpw@192.0.2.10/x\""`, `add name=up source="/tool fetch upload=yes url=\"sftp://backup:<redacted>@192.0.2.10/x\""`},
		{"/tool fetch", `add url=ftp://u:ftppw@192.0.2.1/f`, `add url=ftp://u:<redacted>@192.0.2.1/f`},
		// Commands inside a script's source.
		{"/system scheduler", `add name=s on-event="/tool e-mail send to=a@b password=inpw subject=x\r\n:log info done" policy=read`, `add name=s on-event="/tool e-mail send to=a@b password=<redacted> subject=x\r\n:log info done" policy=read`},
		{"/system script", `add name=s source=":local x 1\r\n/ppp secret add name=a password=\"in quotes\" service=any"`, `add name=s source=":local x 1\r\n/ppp secret add name=a password=<redacted> service=any"`},
		// Lookalikes are not secrets.
		{"/ip service", `set www-ssl certificate=c disabled=no`, `set www-ssl certificate=c disabled=no`},
		{"/interface wireguard peers", `add public-key="pub=" comment="password is in the vault"`, `add public-key="pub=" comment="password is in the vault"`},
		{"/user group", `add name=backup policy=ssh,!password,!web`, `add name=backup policy=ssh,!password,!web`},
		// An unterminated quote masks to the end of the line.
		{"/ppp secret", `add password="never closed name=x`, `add password=<redacted>`},
	}
	for _, c := range cases {
		if got := Line(c.menu, c.line); got != c.want {
			t.Errorf("Line(%q, %q)\n got  %q\n want %q", c.menu, c.line, got, c.want)
		}
	}
	// Every key of the rules has a case above.
	all := strings.Builder{}
	for _, c := range cases {
		all.WriteString(c.line + "\n")
	}
	for k := range Keys {
		if !strings.Contains(all.String(), " "+k+"=") && !strings.Contains(all.String(), "."+k+"=") {
			t.Errorf("rule %q has no case", k)
		}
	}
	for m, keys := range MenuKeys {
		for k := range keys {
			found := false
			for _, c := range cases {
				if (c.menu == m || strings.HasPrefix(c.line, m+" ")) && strings.Contains(c.want, k+"="+Mask) {
					found = true
				}
			}
			if !found {
				t.Errorf("rule %s %s= has no case", m, k)
			}
		}
	}
}

// TestTextWrapped reads raw exports: continuation lines, secrets split by a
// wrap (also inside quotes), CRLF; the line count and the line ends stay.
func TestTextWrapped(t *testing.T) {
	raw := "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n" +
		"/interface pppoe-client\r\n" +
		"add add-default-route=yes disabled=no interface=vlan6 name=pppoe-out1 \\\r\n" +
		"    password=wrappedpw use-peer-dns=yes user=user\r\n" +
		"/interface wireguard\r\n" +
		"add listen-port=13231 mtu=1420 name=wg-mgmt private-key=\"KFJ2aW5nIGEgbG9uZyBr\\\r\n" +
		"    ZXkgdGhhdCB3cmFwcw==\"\r\n" +
		"/snmp\r\n" +
		"set contact=user enabled=yes location=\"Riga, LATIVA\" trap-community=\\\r\n" +
		"    splitcomm\r\n" +
		"/ppp secret\r\n" +
		"add name=a password=\"apass\\\r\n" +
		"    word with spaces\" profile=x service=\\\r\n" +
		"    pppoe\r\n"
	got := Text(raw)
	if strings.Count(got, "\n") != strings.Count(raw, "\n") || strings.Count(got, "\r\n") != strings.Count(raw, "\r\n") {
		t.Fatalf("line ends changed:\n%s", got)
	}
	for _, s := range []string{"wrappedpw", "KFJ2", "ZXkgdGhh", "splitcomm", "apass", "word with spaces"} {
		if strings.Contains(got, s) {
			t.Errorf("secret part %q survived:\n%s", s, got)
		}
	}
	for _, keep := range []string{"password=<redacted> use-peer-dns=yes user=user", "private-key=\\", "    <redacted>\r\n", "trap-community=\\", "    <redacted> profile=x service=\\", "    pppoe"} {
		if !strings.Contains(got, keep) {
			t.Errorf("missing %q in:\n%s", keep, got)
		}
	}
	// The normalised export reads the same once joined.
	norm := string(routeros.Normalize([]byte(raw)))
	gotNorm := Text(norm)
	if strings.Count(gotNorm, "\n") != strings.Count(norm, "\n") {
		t.Fatalf("normalised: line count changed")
	}
	for _, want := range []string{
		"add add-default-route=yes disabled=no interface=vlan6 name=pppoe-out1 password=<redacted> use-peer-dns=yes user=user",
		"add listen-port=13231 mtu=1420 name=wg-mgmt private-key=<redacted>",
		`set contact=user enabled=yes location="Riga, LATIVA" trap-community=<redacted>`,
		"add name=a password=<redacted> profile=x service=pppoe",
	} {
		if !slices.Contains(strings.Split(gotNorm, "\n"), want) {
			t.Errorf("normalised view lacks %q:\n%s", want, gotNorm)
		}
	}
}

func TestPair(t *testing.T) {
	o, n := Pair("/ppp secret", "add name=a password=old1 profile=x", "/ppp secret", "add name=a password=new2 profile=x")
	if o != "add name=a password=<redacted:changed> profile=x" || n != "add name=a password=<redacted:changed> profile=x" {
		t.Errorf("secret-only change: %q / %q", o, n)
	}
	o, n = Pair("/ppp secret", "add name=a password=same profile=x", "/ppp secret", "add name=a password=same profile=y")
	if o != "add name=a password=<redacted> profile=x" || n != "add name=a password=<redacted> profile=y" {
		t.Errorf("unchanged secret: %q / %q", o, n)
	}
	o, n = Pair("/snmp community", "add name=c1 authentication-password=p", "/snmp community", "add name=c1 authentication-password=p encryption-password=q")
	if o != "add name=<redacted> authentication-password=<redacted>" || n != "add name=<redacted> authentication-password=<redacted> encryption-password=<redacted:changed>" {
		t.Errorf("added secret: %q / %q", o, n)
	}
}

// secretValue is an oracle independent of find: KEY=VALUE with VALUE bare
// or quoted, for the keys of the rules.
var secretValue = regexp.MustCompile(`(?:^| |\.)([a-z0-9-]+)=("(?:[^"\\]|\\.)*"|[^ "]+)`)

// plainSecrets lists the secret values of a normalised export by the
// oracle above.
func plainSecrets(norm string) []string {
	var out []string
	lines := strings.Split(norm, "\n")
	menus := routeros.Menus(lines)
	for i, l := range lines {
		for _, m := range secretValue.FindAllStringSubmatch(l, -1) {
			if _, ok := Keys[m[1]]; ok || MenuKeys[menus[i]][m[1]] {
				if m[2] != `""` {
					out = append(out, m[2])
				}
			}
		}
	}
	return out
}

// assertMasked checks the redacted view of plain (raw or normalised):
// the line count stays, a line changes only to take a mask (or, raw, to
// drop the part of a secret before a wrap), the oracle finds only masks,
// no long secret survives anywhere, and redacting commutes with
// normalising.
func assertMasked(t *testing.T, name, plain string, secrets []string) {
	t.Helper()
	red := Text(plain)
	pl, rl := strings.Split(plain, "\n"), strings.Split(red, "\n")
	if len(pl) != len(rl) {
		t.Fatalf("%s: %d lines became %d", name, len(pl), len(rl))
	}
	for i := range pl {
		if pl[i] != rl[i] && !strings.Contains(rl[i], Mask) && !strings.HasSuffix(strings.TrimRight(rl[i], "\r"), `\`) {
			t.Errorf("%s line %d changed without a mask: %q -> %q", name, i+1, pl[i], rl[i])
		}
	}
	normRed := string(routeros.Normalize([]byte(red)))
	for _, v := range plainSecrets(normRed) {
		if v != Mask {
			t.Errorf("%s: secret value %q left in the view", name, v)
		}
	}
	if got, want := len(plainSecrets(normRed)), len(plainSecrets(string(routeros.Normalize([]byte(plain))))); got != want {
		t.Errorf("%s: %d masked values, the plain text has %d secrets", name, got, want)
	}
	for _, s := range secrets {
		if len(s) >= 6 && strings.Contains(red, s) {
			t.Errorf("%s: secret %q survives", name, s)
		}
	}
	if want := Text(string(routeros.Normalize([]byte(plain)))); normRed != want {
		t.Errorf("%s: Normalize(Text(x)) != Text(Normalize(x))", name)
	}
}

// TestCaptures runs the real exports of the shared fixtures, raw and
// normalised, with the secrets they hold and more planted into them.
func TestCaptures(t *testing.T) {
	dir := testfixtures.Dir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*#simulation.yaml"))
	if len(files) < 3 {
		t.Fatalf("%d captures in %s", len(files), dir)
	}
	planted := "/ip ipsec identity\r\nadd peer=p1 secret=\"planted ipsec \\\"psk\\\"\"\r\n" +
		"/interface wireless security-profiles\r\nadd name=p wpa2-pre-shared-key=\\\r\n    plantedwpa2\r\n"
	total := 0
	for _, f := range files {
		replies, err := routeros.LoadCapture(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := replies["/export show-sensitive"]
		if !ok {
			t.Fatalf("%s: no export", f)
		}
		raw = append(raw, planted...)
		norm := string(routeros.Normalize(raw))
		// The real secrets are words like "password" and "community" that
		// are also key and menu names, so the oracle's view of the masked
		// text checks them rather than a substring search.
		total += len(plainSecrets(norm))
		assertMasked(t, filepath.Base(f)+" normalised", norm, nil)
		assertMasked(t, filepath.Base(f)+" raw", string(raw), nil)
		for _, s := range []string{"plantedwpa2", "planted ipsec"} {
			if strings.Contains(Text(string(raw)), s) || strings.Contains(Text(norm), s) {
				t.Errorf("%s: planted %q survives", f, s)
			}
		}
	}
	// The L009 capture has a PPPoE password and an SNMP community (twice).
	if total < 3*2+3 {
		t.Errorf("only %d secrets found in the captures", total)
	}
}

// TestDevicesim checks every secret the simulator generates is masked: its
// secrets are the attributes present with show-sensitive and absent
// without.
func TestDevicesim(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	specs := devicesim.DefaultFleet(8, false)
	fleet, err := devicesim.Start(ctx, devicesim.Config{StateDir: t.TempDir()}, specs)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	checked := 0
	for _, d := range fleet.Devices() {
		if d.Fixture != "" {
			// A capture replays the real device, whose export without
			// secrets is not in the fixture; TestCaptures covers it.
			continue
		}
		show, err := fleet.Export(d.Tenant, d.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		hide, err := fleet.Export(d.Tenant, d.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		sl := strings.Split(string(routeros.Normalize(show)), "\n")
		hl := strings.Split(string(routeros.Normalize(hide)), "\n")
		if len(sl) != len(hl) {
			t.Fatalf("%s/%s: exports differ in lines", d.Tenant, d.ID)
		}
		var secrets []string
		for i := range sl {
			if sl[i] == hl[i] {
				continue
			}
			for _, m := range secretValue.FindAllStringSubmatch(sl[i], -1) {
				if strings.Contains(hl[i], " "+m[1]+"=") {
					continue
				}
				if m[1] == "source" {
					// A script is kept readable; the credentials in its
					// upload URL are the secret.
					_, rest, _ := strings.Cut(m[2], "sftp://backup:")
					pw, _, _ := strings.Cut(rest, "@")
					if pw == "" {
						t.Fatalf("no URL password in %q", m[2])
					}
					secrets = append(secrets, pw)
					continue
				}
				secrets = append(secrets, m[2])
			}
		}
		if len(secrets) == 0 {
			t.Errorf("%s/%s (%s): no secrets found", d.Tenant, d.ID, d.Version)
		}
		checked += len(secrets)
		assertMasked(t, d.Tenant+"/"+d.ID+" normalised", string(routeros.Normalize(show)), secrets)
		assertMasked(t, d.Tenant+"/"+d.ID+" raw", string(show), secrets)
	}
	if checked < 25 {
		t.Errorf("only %d generated secrets checked", checked)
	}
}

// FuzzText: any input keeps its line count and never crashes; a planted
// secret after a known key never survives.
func FuzzText(f *testing.F) {
	f.Add("/ppp secret\nadd name=a password=x\n")
	f.Add("add password=\"a\\\n    b\" x=\\\n")
	f.Add("\"\\")
	f.Add("/system script\nadd source=\"password=\\\"x\\\\\\\"y\\\" url=\\\"ftp://a:b@c\\\"\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		if strings.Count(got, "\n") != strings.Count(s, "\n") {
			t.Fatalf("line count %d -> %d", strings.Count(s, "\n"), strings.Count(got, "\n"))
		}
		planted := "/ppp secret\nadd password=ZZsecretZZ name=x\n"
		if strings.Contains(s, "ZZsecretZZ") {
			return
		}
		if strings.Contains(Text(s+"\n"+planted), "ZZsecretZZ") {
			t.Fatalf("planted secret survives after %q", s)
		}
	})
}
