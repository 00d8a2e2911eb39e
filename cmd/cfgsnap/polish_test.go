package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
)

// `--version`, `version` and the service's version in `nats micro info`
// are one string.
func TestVersionFlagCommandAndServiceAgree(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	flag := l.run("--version")
	cmd := l.run("version")
	if flag.code != 0 || flag.stdout != "cfgsnap "+version+"\n" || !strings.HasPrefix(cmd.stdout, flag.stdout) {
		t.Fatalf("--version: exit %d %q; version: %q", flag.code, flag.stdout, cmd.stdout)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serve, _, _ := l.start(ctx, "serve", "--listen", addr)
	t.Cleanup(func() { _ = serve.Process.Kill() })
	waitService(t, "nats://"+addr, l.clientSeed())
	nc, err := clientConn("nats://"+addr, l.clientSeed())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("$SRV.INFO.cfgsnap", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ Version string }
	if err := json.Unmarshal(msg.Data, &info); err != nil || "cfgsnap "+info.Version+"\n" != flag.stdout {
		t.Errorf("nats micro info version %q (%v), CLI %q", info.Version, err, flag.stdout)
	}
}

func TestCompletionRefusesUnknownShells(t *testing.T) {
	l := newLab(t, nil)
	if r := l.run("completion", "tcsh"); r.code != exitUsage || !strings.Contains(r.stderr, "tcsh") {
		t.Errorf("completion tcsh: exit %d %q", r.code, r.stderr)
	}
	if r := l.run("completion"); r.code != exitUsage || !strings.Contains(r.stderr, "bash, zsh, fish or powershell") {
		t.Errorf("completion without a shell: exit %d %q", r.code, r.stderr)
	}
	if r := l.run("completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion bash: exit %d", r.code)
	}
}

// history, show and diff of a device never backed up: the same words and
// exit status 1, on stderr.
func TestNoSnapshotsYetIsOneAnswer(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	want := "acme/core-rtr-1 has no snapshots yet: run `cfgsnap backup acme/core-rtr-1`"
	for _, args := range [][]string{{"history", "acme/core-rtr-1"}, {"history", "--json", "acme/core-rtr-1"},
		{"show", "acme/core-rtr-1"}, {"diff", "acme/core-rtr-1"}} {
		r := l.run(args...)
		if r.code != exitFailed || r.stdout != "" || strings.TrimSpace(r.stderr) != "cfgsnap: "+want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestUnknownDeviceOrTenantSuggestsNearest(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2"), spec("acme", "core-rtr-2", "7.16.2"), spec("globex", "edge-1", "7.16.2")})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "acme/core-rtr1"}, "unknown device acme/core-rtr1 (did you mean core-rtr-1, core-rtr-2?)"},
		{[]string{"history", "acme/cor-rtr-2"}, "unknown device acme/cor-rtr-2 (did you mean core-rtr-2"},
		{[]string{"show", "globx/edge-1"}, `unknown tenant "globx" (did you mean globex?)`},
		{[]string{"backup", "--all", "--tenant", "acmee"}, `unknown tenant "acmee" (did you mean acme?)`},
	} {
		r := l.run(c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// With --json, a bad target is a failed reply of its own and the valid
// targets are still backed up.
func TestBackupJSONReportsBadTargetsAndRunsTheRest(t *testing.T) {
	l := newLab(t, []devicesim.Spec{spec("acme", "core-rtr-1", "7.16.2")})
	r := l.run("backup", "--json", "acme/core-rtr-1", "acme/nope-1", "bad!id/x", "nosuch/x")
	if r.code != exitFailed {
		t.Errorf("exit %d, want 1 (some targets failed)\n%s", r.code, r.stderr)
	}
	kinds := map[string]api.ErrorKind{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var rep api.TriggerReply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			t.Fatalf("not a JSON reply: %q", sc.Text())
		}
		kinds[rep.TenantID+"/"+rep.DeviceID] = rep.ErrorKind
		if rep.DeviceID == "core-rtr-1" && rep.Status != api.StatusSuccess {
			t.Errorf("the valid target: %+v", rep)
		}
	}
	if len(kinds) != 4 || kinds["acme/nope-1"] != api.KindNotFound || kinds["bad!id/x"] != api.KindBadRequest || kinds["nosuch/x"] != api.KindNotFound {
		t.Errorf("replies by target: %v\n%s", kinds, r.stdout)
	}
}

// Ctrl-C during a backup exits 130; the job it stopped is cancelled, and
// is not recorded as the device's last error.
func TestCtrlCDuringBackupExits130Cancelled(t *testing.T) {
	s := spec("acme", "hang-1", "7.16.2")
	s.Fault = devicesim.FaultHangAfterAuth
	l := newLab(t, []devicesim.Spec{s})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, out, errb := l.start(ctx, "backup", "--json", "--timeout", "45s", "acme/hang-1")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(l.run("devices", "--json").stdout, `"busy":true`) {
		if time.Now().After(deadline) {
			t.Fatal("the backup never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r := wait(t, cmd, out, errb)
	var rep api.TriggerReply
	if r.code != exitInterrupted || json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &rep) != nil || rep.ErrorKind != api.KindCancelled {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 130 and a cancelled reply", r.code, r.stdout, r.stderr)
	}
	var dev api.Device
	if err := json.Unmarshal([]byte(strings.TrimSpace(l.run("devices", "--json").stdout)), &dev); err != nil {
		t.Fatal(err)
	}
	if dev.LastError != nil || dev.Busy {
		t.Errorf("after Ctrl-C: last error %+v, busy %v", dev.LastError, dev.Busy)
	}
}

// sim prints the ports its devices really listen on, and stops when the
// process that started it exits.
func TestSimPrintsItsPortsAndDiesWithItsParent(t *testing.T) {
	dir := t.TempDir()
	outFile := filepath.Join(dir, "sim.out")
	// A shell starts sim in the background and exits after a while, as a
	// script would; sim is then re-parented and must stop by itself.
	sh := exec.Command("sh", "-c", `"$0" --data-dir "$1" sim --devices 3 --listen 127.0.0.1 >"$2" 2>&1 & echo $!; sleep 3`,
		os.Args[0], filepath.Join(dir, "data"), outFile)
	sh.Env = append(os.Environ(), "CFGSNAP_TEST_MAIN=1", "NATS_URL=", "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	pidOut, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmtSscan(pidOut, &pid); err != nil {
		t.Fatal(err)
	}
	// The printed ports accept SSH connections.
	var line string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(outFile)
		if line = string(b); strings.Contains(line, "ports ") {
			break
		}
	}
	m := regexp.MustCompile(`simulating 3 RouterOS devices on 127\.0\.0\.1, ports ([0-9,-]+);`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("sim printed %q", line)
	}
	for _, p := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ',' || r == '-' }) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second)
		if err != nil {
			t.Errorf("printed port %s: %v", p, err)
			continue
		}
		c.Close()
	}
	if err := sh.Wait(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatal("sim outlived the process that started it")
		}
	}
}

func fmtSscan(r interface{ Read([]byte) (int, error) }, pid *int) (int, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, sc.Err()
	}
	return fmt.Sscan(sc.Text(), pid)
}
