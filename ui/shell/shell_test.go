package shell

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

func TestArgs(t *testing.T) {
	for _, c := range []struct {
		name string
		in   Login
		want []string
	}{
		{"inventory login", Login{Host: "192.0.2.1", Port: 2222, User: "backup", KnownHosts: []string{"/var/lib/cfgsnap/known_hosts", "/home/ops/.ssh/known_hosts"}},
			[]string{"-p", "2222", "-l", "backup", "-o", "UserKnownHostsFile=/var/lib/cfgsnap/known_hosts /home/ops/.ssh/known_hosts", "--", "192.0.2.1"}},
		{"default port, no user", Login{Host: "r1.example.net", Port: 22}, []string{"--", "r1.example.net"}},
		{"path with a blank", Login{Host: "::1", KnownHosts: []string{"/data dir/known_hosts"}},
			[]string{"-o", `UserKnownHostsFile="/data dir/known_hosts"`, "--", "::1"}},
		{"host like an option", Login{Host: "-oProxyCommand=x"}, []string{"--", "-oProxyCommand=x"}},
	} {
		got, err := Args(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	for _, bad := range []Login{{}, {Host: "a b"}, {Host: "root@x"}, {Host: "x", User: "a@b"}} {
		if _, err := Args(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if got := Display([]string{"-o", "UserKnownHostsFile=/a /b", "--", "h"}); got != "ssh -o 'UserKnownHostsFile=/a /b' -- h" {
		t.Errorf("display %q", got)
	}
}

type remoteOnly struct{ client.Client }

func (remoteOnly) Mode() client.Mode { return client.ModeRemote }

func TestRemoteModeUsesTheDeviceList(t *testing.T) {
	l, note, err := For(remoteOnly{}, "acme", api.Device{ID: "r1", Host: "192.0.2.9", Port: 2200})
	if err != nil || l.Host != "192.0.2.9" || l.Port != 2200 || l.User != "" || len(l.KnownHosts) != 0 {
		t.Fatalf("%+v %v", l, err)
	}
	if !strings.Contains(note, "remote mode") {
		t.Fatalf("note %q", note)
	}
	if _, _, err := For(remoteOnly{}, "acme", api.Device{ID: "r2"}); err == nil {
		t.Fatal("a device without a host gave a login")
	}
}
