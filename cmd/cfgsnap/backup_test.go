package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

func TestBackupV6AndV7UnchangedTwice(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("acme", "old-rtr-1", "6.49.10")})
	for _, dev := range []string{"core-rtr-1", "old-rtr-1"} {
		first, r := l.backupJSON("acme/" + dev)
		if r.code != 0 || first.Status != api.StatusSuccess {
			t.Fatalf("%s: exit %d, reply %+v, stderr %s", dev, r.code, first, r.stderr)
		}
		if !first.IsChanged() || first.PreviousHash != "" {
			t.Errorf("%s: first backup should be changed with no previous hash: %+v", dev, first)
		}
		// The hash is that of the device's export, normalised.
		raw, err := l.fleet.Export("acme", dev, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := routeros.Hash(routeros.Normalize(raw)); first.SHA256 != want {
			t.Errorf("%s: hash %s, want %s", dev, first.SHA256, want)
		}
		second, r := l.backupJSON("acme/" + dev)
		if r.code != 0 || second.SHA256 != first.SHA256 || second.IsChanged() || second.PreviousHash != first.SHA256 {
			t.Errorf("%s: second backup of an unchanged device: exit %d %+v", dev, r.code, second)
		}
	}
	v6 := l.run("history", "acme/old-rtr-1", "--json")
	if strings.Count(v6.stdout, "\n") != 2 || !strings.Contains(v6.stdout, `"routeros_version":"6.49.10"`) {
		t.Errorf("history of the v6 device: %s", v6.stdout)
	}
	if n := contentRows(t, l.dataDir); n != 2 {
		t.Errorf("content rows = %d, want 2 (one per distinct configuration)", n)
	}
}

func TestBackupFaultsGiveTheirKind(t *testing.T) {
	cases := []struct {
		fault devicesim.Fault
		kind  api.ErrorKind
	}{
		{devicesim.FaultWrongPassword, api.KindAuthFailed},
		{devicesim.FaultSlowHandshake, api.KindTimeout},
		{devicesim.FaultHangAfterAuth, api.KindTimeout},
		{devicesim.FaultDisconnect, api.KindTruncated},
		{devicesim.FaultNonZeroExit, api.KindInvalidOutput},
		{devicesim.FaultGarbage, api.KindInvalidOutput},
		{devicesim.FaultEndless, api.KindInvalidOutput},
		{devicesim.FaultSecretFail, api.KindInvalidOutput},
		{devicesim.FaultLegacyCrypto, api.KindSSHAlgorithms},
	}
	var specs []devicesim.Spec
	for _, c := range cases {
		s := spec("acme", strings.ReplaceAll(string(c.fault), "_", "-"), "7.16.2")
		s.Fault = c.fault
		s.Delay = time.Minute
		specs = append(specs, s)
	}
	l := newLab(t, specs)
	for _, c := range cases {
		t.Run(string(c.fault), func(t *testing.T) {
			t.Parallel()
			target := "acme/" + strings.ReplaceAll(string(c.fault), "_", "-")
			reply, r := l.backupJSON("--timeout", "3s", target)
			if r.code != 1 || reply.Status != api.StatusFailed || reply.ErrorKind != c.kind {
				t.Fatalf("exit %d, reply %+v, want exit 1 and %s", r.code, reply, c.kind)
			}
			if reply.Error == "" {
				t.Error("no error text for a person")
			}
			h := l.run("history", target, "--json")
			if h.code != exitFailed || strings.TrimSpace(h.stdout) != "" || !strings.Contains(h.stderr, "no snapshots yet") {
				t.Errorf("a failed backup stored something: exit %d %q", h.code, h.stdout)
			}
			d := l.run("devices", "--json")
			if !strings.Contains(d.stdout, `"kind":"`+string(c.kind)+`"`) {
				t.Errorf("devices does not show the last error %s: %s", c.kind, d.stdout)
			}
		})
	}
}

// TestSecretFailNothingOnTheTerminal: an export that prints secrets and
// fails puts none of them on the terminal (human and JSON output, the
// devices list with its last error) or in the log file.
func TestSecretFailNothingOnTheTerminal(t *testing.T) {
	s := spec("acme", "lab-leak-1", "7.16.2")
	s.Fault = devicesim.FaultSecretFail
	l := newLab(t, []devicesim.Spec{s})
	var seen strings.Builder
	for _, args := range [][]string{{"backup", "acme/lab-leak-1"}, {"backup", "--json", "acme/lab-leak-1"}, {"devices"}, {"devices", "--json"}} {
		r := l.run(args...)
		seen.WriteString(r.stdout + r.stderr)
		if args[0] == "backup" && (r.code != exitFailed || !strings.Contains(r.stdout, "not shown: exports may hold secrets")) {
			t.Errorf("%v: exit %d, stdout %q, want a failure that names what it does not show", args, r.code, r.stdout)
		}
	}
	if log, err := os.ReadFile(filepath.Join(l.dataDir, "..", "cfgsnap.log")); err == nil {
		seen.Write(log)
	}
	for _, secret := range devicesim.SecretFailSecrets {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("the secret %q reached the terminal or the log:\n%s", secret, seen.String())
		}
	}
}

func TestTwoProcessesOneSlowDevice(t *testing.T) {
	s := spec("acme", "slow-rtr-1", "7.16.2")
	s.Fault = devicesim.FaultSlowOutput
	s.BytesPerSecond = 4 << 10 // 8 KiB export: about two seconds
	l := newLab(t, []devicesim.Spec{s})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, out, errb := l.start(ctx, "backup", "acme/slow-rtr-1")
	// Wait until the first process holds the lock before starting the second.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(l.run("devices", "--json").stdout, `"busy":true`) {
		if time.Now().After(deadline) {
			t.Fatal("first backup never took the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := l.run("backup", "acme/slow-rtr-1")
	if second.code != exitLocked || !regexp.MustCompile(`locked\s+held by \S+@\S+`).MatchString(second.stdout) {
		t.Errorf("second process: exit %d, stdout %q, want exit 3 naming the holder", second.code, second.stdout)
	}
	r := wait(t, first, out, errb)
	if r.code != 0 || !strings.Contains(r.stdout, "success") {
		t.Errorf("first process: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestHostKeyTrustOnFirstUseThenRotation(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	if reply, r := l.backupJSON("acme/core-rtr-1"); r.code != 0 {
		t.Fatalf("first contact: exit %d %+v", r.code, reply)
	}
	old := l.fleet.Devices()[0].HostKeyFingerprint
	if err := l.fleet.RotateHostKey("acme", "core-rtr-1"); err != nil {
		t.Fatal(err)
	}
	presented := l.fleet.Devices()[0].HostKeyFingerprint
	reply, r := l.backupJSON("acme/core-rtr-1")
	if r.code != 1 || reply.ErrorKind != api.KindHostKeyMismatch {
		t.Fatalf("rotated key: exit %d %+v", r.code, reply)
	}
	for _, want := range []string{old, presented, "cfgsnap hostkey forget acme/core-rtr-1"} {
		if !strings.Contains(reply.Error, want) {
			t.Errorf("mismatch error does not name %q: %s", want, reply.Error)
		}
	}
	f := l.run("hostkey", "forget", "acme/core-rtr-1")
	if f.code != 0 || !strings.Contains(f.stdout, "forgot") {
		t.Fatalf("forget: exit %d %q %q", f.code, f.stdout, f.stderr)
	}
	if reply, r := l.backupJSON("acme/core-rtr-1"); r.code != 0 || reply.Status != api.StatusSuccess {
		t.Fatalf("after forget: exit %d %+v", r.code, reply)
	}
}

func TestLargeExportArrivesWhole(t *testing.T) {
	s := spec("acme", "big-rtr-1", "7.16.2")
	s.SizeBytes = 4 << 20
	l := newLab(t, []devicesim.Spec{s})
	reply, r := l.backupJSON("acme/big-rtr-1")
	if r.code != 0 {
		t.Fatalf("exit %d %+v %s", r.code, reply, r.stderr)
	}
	raw, err := l.fleet.Export("acme", "big-rtr-1", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 4<<20*9/10 {
		t.Fatalf("simulator export is only %d bytes", len(raw))
	}
	norm := routeros.Normalize(raw)
	if reply.SHA256 != routeros.Hash(norm) || reply.SizeBytes != int64(len(norm)) {
		t.Errorf("4 MB export: hash %s size %d, want %s %d", reply.SHA256, reply.SizeBytes, routeros.Hash(norm), len(norm))
	}
	show := l.run("show", "--secrets", "acme/big-rtr-1")
	if show.stdout != string(norm) {
		t.Errorf("show printed %d bytes, want the %d normalised bytes", len(show.stdout), len(norm))
	}
}

func TestHistoryShowDiffAfterDrift(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	first, _ := l.backupJSON("--reason", "before CHG-1", "acme/core-rtr-1")
	if err := l.fleet.Drift("acme", "core-rtr-1"); err != nil {
		t.Fatal(err)
	}
	second, _ := l.backupJSON("acme/core-rtr-1")
	if !second.IsChanged() || second.PreviousHash != first.SHA256 {
		t.Fatalf("after drift: %+v", second)
	}
	h := l.run("history", "acme/core-rtr-1")
	lines := strings.Split(strings.TrimSpace(h.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], second.SHA256[:12]) || !strings.Contains(lines[2], "before CHG-1") {
		t.Errorf("history, newest first:\n%s", h.stdout)
	}
	d := l.run("diff", "acme/core-rtr-1")
	if d.code != 0 || !strings.Contains(d.stdout, "@@") || !strings.Contains(d.stdout, first.SHA256[:12]) {
		t.Errorf("diff: exit %d\n%s", d.code, d.stdout)
	}
	old := l.run("show", "acme/core-rtr-1@"+first.SHA256[:7])
	if old.code != 0 || !strings.HasPrefix(old.stdout, "# software id") && !strings.Contains(old.stdout, "/interface") {
		t.Errorf("show by prefix: exit %d %q", old.code, old.stdout[:min(len(old.stdout), 200)])
	}
	bad := l.run("show", "acme/core-rtr-1@zz")
	if bad.code != exitUsage {
		t.Errorf("bad ref: exit %d", bad.code)
	}
	unknown := l.run("backup", "acme/nope")
	if unknown.code != exitUsage || !strings.Contains(unknown.stderr, "unknown device acme/nope") {
		t.Errorf("unknown device: exit %d %q", unknown.code, unknown.stderr)
	}
}

func TestInventoryWithFiveMistakes(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	bad := `tenants:
  - id: acme
    devices:
      - id: core-rtr-1
        host: 127.0.0.1
      - id: core-rtr-1
        host: 127.0.0.2
      - id: bad.id
        host: 127.0.0.3
      - id: nohost
      - id: typo
        host: 127.0.0.4
        hots: x
      - id: badport
        host: 127.0.0.5
        port: 70000
`
	if err := os.WriteFile(l.inv, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	r := l.run("backup", "--all")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want 2", r.code)
	}
	for _, line := range []string{":6:", ":8:", ":10:", ":13:", ":16:"} {
		if !strings.Contains(r.stderr, "inventory.yaml"+line) {
			t.Errorf("stderr does not report line %s:\n%s", line, r.stderr)
		}
	}
}
