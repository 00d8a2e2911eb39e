package routeros

import (
	"strings"
	"testing"
)

func TestMenuPath(t *testing.T) {
	for _, c := range []struct {
		line, want string
		ok         bool
	}{
		{"/ip firewall filter", "/ip firewall filter", true},
		{"/ip firewall filter add chain=input action=accept", "/ip firewall filter", true},
		{"/system identity set name=router", "/system identity", true},
		{"/interface wireless security-profiles", "/interface wireless security-profiles", true},
		{"/ip  address ", "/ip address", true},
		{"/interface set [ find default-name=ether1 ] comment=x", "/interface", true},
		{"/snmp community", "/snmp community", true},
		{"add address=192.0.2.1/24 interface=ether1", "", false},
		{"# /ip address", "", false},
		{"/", "", false},
		{"/set x=1", "", false},
		{"", "", false},
	} {
		got, ok := MenuPath(c.line)
		if got != c.want || ok != c.ok {
			t.Errorf("MenuPath(%q) = %q, %v; want %q, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestMenus(t *testing.T) {
	lines := strings.Split("# model = x\n/ip address\nadd address=192.0.2.1/24\n/ip firewall filter add chain=input\nadd chain=forward\n/snmp\nset enabled=yes", "\n")
	want := []string{"", "/ip address", "/ip address", "/ip firewall filter", "/ip firewall filter", "/snmp", "/snmp"}
	got := Menus(lines)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d %q: menu %q, want %q", i, lines[i], got[i], want[i])
		}
	}
}

// TestMenusOnCaptures checks every item line of the real exports sits in a menu.
func TestMenusOnCaptures(t *testing.T) {
	for _, c := range captures {
		lines := strings.Split(strings.TrimSuffix(string(Normalize(captureExport(t, c.name))), "\n"), "\n")
		menus := Menus(lines)
		for i, l := range lines {
			if (strings.HasPrefix(l, "add ") || strings.HasPrefix(l, "set ")) && menus[i] == "" {
				t.Errorf("%s line %d %q has no menu", c.name, i+1, l)
			}
		}
	}
}
