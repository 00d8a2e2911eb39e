package redact

import (
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/textdiff"
)

// TestHunksSecretOnlyChange: a diff whose only change is a secret shows
// the line as changed, masked on both sides, and nothing else leaks.
func TestHunksSecretOnlyChange(t *testing.T) {
	old := textdiff.SplitLines("/ppp secret\nadd name=a password=oldpw1 service=pppoe\nadd name=b password=same service=pppoe\n/snmp community\nadd name=comm-old security=private\n/ip address\nadd address=192.0.2.1/24 interface=ether1\n")
	nw := textdiff.SplitLines("/ppp secret\nadd name=a password=newpw2 service=pppoe\nadd name=b password=same service=any\n/snmp community\nadd name=comm-new security=private\n/ip address\nadd address=192.0.2.1/24 interface=ether1\nadd address=198.51.100.1/24 interface=ether2\n")
	hs := Hunks(textdiff.Hunks(textdiff.Edits(old, nw), textdiff.Options{Context: 1}), old, nw)
	got := textdiff.Unified("a", "b", hs)
	for _, want := range []string{
		"-add name=a password=<redacted:changed> service=pppoe\n",
		"+add name=a password=<redacted:changed> service=pppoe\n",
		"-add name=b password=<redacted> service=pppoe\n",
		"+add name=b password=<redacted> service=any\n",
		"-add name=<redacted:changed> security=private\n",
		"+add name=<redacted:changed> security=private\n",
		"+add address=198.51.100.1/24 interface=ether2\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	for _, s := range []string{"oldpw1", "newpw2", "same", "comm-old", "comm-new"} {
		if strings.Contains(got, s) {
			t.Errorf("%q leaks:\n%s", s, got)
		}
	}
}
