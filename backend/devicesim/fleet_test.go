package devicesim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

func TestThousandDevices(t *testing.T) {
	specs := DefaultFleet(1000, true)
	if len(specs) != 1000 {
		t.Fatalf("DefaultFleet(1000) gave %d specs", len(specs))
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f := startFleet(t, Config{}, specs...)
	took := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("1000 devices started in %v; HeapInuse %.1f MB after start (+%.1f MB), StackInuse %.1f MB, %d goroutines",
		took, float64(after.HeapInuse)/(1<<20), float64(heap)/(1<<20), float64(after.StackInuse)/(1<<20), runtime.NumGoroutine())
	limit := 2 * time.Second
	if raceEnabled {
		limit = 6 * time.Second
	}
	if took > limit {
		t.Errorf("starting 1000 devices took %v, want under %v", took, limit)
	}
	if heap > 64<<20 {
		t.Errorf("1000 idle devices use %.1f MB of heap, want far less", float64(heap)/(1<<20))
	}
	devs := f.Devices()
	ports := map[int]bool{}
	for _, d := range devs {
		if ports[d.Port] {
			t.Fatalf("port %d used twice", d.Port)
		}
		ports[d.Port] = true
	}
	// A sample of devices, from both ends and the middle, answer in parallel.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 1000; i += 53 {
		d := devs[i]
		if d.Fault != FaultNone {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ssh.Dial("tcp", net.JoinHostPort(d.Host, fmt.Sprint(d.Port)), clientConfig(f, nil))
			if err != nil {
				errs <- fmt.Errorf("%s/%s: %w", d.Tenant, d.ID, err)
				return
			}
			defer c.Close()
			s, err := c.NewSession()
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			out, err := s.Output("/system identity print")
			if err != nil || string(out) != "  name: "+d.ID+"\r\n" {
				errs <- fmt.Errorf("%s/%s: identity %q, %v", d.Tenant, d.ID, out, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLargeExportArrivesWhole(t *testing.T) {
	f := startFleet(t, Config{Now: fixedClock}, Spec{Tenant: "acme", ID: "core-rtr-2", Version: "7.16.2", SizeBytes: 4 << 20})
	want, err := f.Export("acme", "core-rtr-2", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4<<20*98/100 || len(want) > 4<<20*102/100 {
		t.Fatalf("export is %d bytes, want about 4 MiB", len(want))
	}
	c := dial(t, f, "acme", "core-rtr-2")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("/export show-sensitive"); err != nil {
		t.Fatal(err)
	}
	got, reads, err := readAll(stdout)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if len(got) != len(want) || !bytes.Equal(got, want) {
		t.Fatalf("received %d bytes, want %d equal to Fleet.Export", len(got), len(want))
	}
	if reads < 64 {
		t.Errorf("4 MiB arrived in %d reads: not streamed", reads)
	}
	norm := routeros.Normalize(got)
	if err := routeros.Validate(norm); err != nil {
		t.Errorf("Validate: %v", err)
	}
	t.Logf("4 MiB export: %d bytes in %d reads, sha256 %s", len(got), reads, routeros.Hash(norm)[:12])
}

func TestExportSizes(t *testing.T) {
	sizes := []int{2 << 10, 5 << 10, 10 << 10, 30 << 10, 60 << 10, 1 << 20}
	var specs []Spec
	for i, size := range sizes {
		for j, v := range []string{"6.49.10", "7.16.2"} {
			specs = append(specs, Spec{Tenant: "acme", ID: fmt.Sprintf("d%d-%d", i, j), Version: v, Model: boards[(i+j)%len(boards)].name, SizeBytes: size})
		}
	}
	f := startFleet(t, Config{}, specs...)
	for _, s := range specs {
		exp, err := f.Export(s.Tenant, s.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := float64(s.SizeBytes)*0.9, float64(s.SizeBytes)*1.15
		if s.SizeBytes < 4<<10 {
			// The smallest device still carries every kind of secret.
			lo, hi = 2<<10, 4<<10
		}
		if n := float64(len(exp)); n < lo || n > hi {
			t.Errorf("%s (%s, %s): %d bytes for SizeBytes %d", s.ID, s.Version, s.Model, len(exp), s.SizeBytes)
		}
	}
}

func TestExportsAreDeterministic(t *testing.T) {
	spec := Spec{Tenant: "acme", ID: "r1", Version: "7.16.2", SizeBytes: 50 << 10, Seed: 7}
	f1 := startFleet(t, Config{}, spec)
	f2 := startFleet(t, Config{}, spec)
	other := spec
	other.Seed = 8
	f3 := startFleet(t, Config{}, other)
	body := func(f *Fleet) []byte {
		b, err := f.Export("acme", "r1", true)
		if err != nil {
			t.Fatal(err)
		}
		return routeros.Normalize(b)
	}
	if !bytes.Equal(body(f1), body(f2)) {
		t.Errorf("the same seed gives different configurations")
	}
	if bytes.Equal(body(f1), body(f3)) {
		t.Errorf("different seeds give the same configuration")
	}
	// Two exports a second apart differ only in the header line, which
	// normalisation removes.
	now := fixedNow
	f4 := startFleet(t, Config{Now: func() time.Time { return now }}, spec)
	a, _ := f4.Export("acme", "r1", true)
	now = now.Add(time.Second)
	b, _ := f4.Export("acme", "r1", true)
	if bytes.Equal(a, b) || !bytes.Equal(routeros.Normalize(a), routeros.Normalize(b)) {
		t.Errorf("exports a second apart: raw equal %v, normalised equal %v; want false, true",
			bytes.Equal(a, b), bytes.Equal(routeros.Normalize(a), routeros.Normalize(b)))
	}
}

func TestDrift(t *testing.T) {
	var mu sync.Mutex
	now := fixedNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := startFleet(t, Config{Now: clock},
		Spec{Tenant: "acme", ID: "r1", Version: "7.16.2", SizeBytes: 20 << 10},
		Spec{Tenant: "acme", ID: "lab-drift-1", Version: "6.49.10", SizeBytes: 20 << 10, DriftEvery: time.Minute})
	norm := func(id string) []byte {
		b, err := f.Export("acme", id, true)
		if err != nil {
			t.Fatal(err)
		}
		return routeros.Normalize(b)
	}
	g0 := norm("r1")
	if err := f.Drift("acme", "r1"); err != nil {
		t.Fatal(err)
	}
	g1 := norm("r1")
	if bytes.Equal(g0, g1) {
		t.Fatal("Drift did not change the export")
	}
	if n := changedLines(g0, g1); n < 1 || n > 4 {
		t.Errorf("drift changed %d lines, want a few", n)
	}
	if gen, _ := f.Generation("acme", "r1"); gen != 1 {
		t.Errorf("generation %d after one drift", gen)
	}
	// The drift reaches a client over SSH too.
	c := dial(t, f, "acme", "r1")
	out, err := run(t, c, "/export show-sensitive")
	if err != nil || !bytes.Equal(routeros.Normalize(out), g1) {
		t.Errorf("SSH export after drift differs from Fleet.Export: %v", err)
	}

	d0 := norm("lab-drift-1")
	mu.Lock()
	now = now.Add(59 * time.Second)
	mu.Unlock()
	if !bytes.Equal(d0, norm("lab-drift-1")) {
		t.Errorf("config changed before DriftEvery passed")
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if bytes.Equal(d0, norm("lab-drift-1")) {
		t.Errorf("config did not change after DriftEvery")
	}
	if !bytes.Equal(g1, norm("r1")) {
		t.Errorf("a device without DriftEvery changed with time")
	}
	if err := f.Drift("acme", "nope"); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("Drift on unknown device: %v", err)
	}
}

// changedLines counts lines of b not in a plus lines of a not in b.
func changedLines(a, b []byte) int {
	count := func(x []byte) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(string(x), "\n") {
			m[l]++
		}
		return m
	}
	ma, mb := count(a), count(b)
	n := 0
	for l, c := range ma {
		n += max(0, c-mb[l])
	}
	for l, c := range mb {
		n += max(0, c-ma[l])
	}
	return n
}

func TestHostKeysPersistAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	specs := []Spec{{Tenant: "acme", ID: "r1"}, {Tenant: "globex", ID: "r2"}, {Tenant: "acme", ID: "lab-rekey-1", Fault: FaultRotateHostKey}}
	fingerprints := func() map[string]string {
		f, err := Start(context.Background(), Config{StateDir: dir}, specs)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m := map[string]string{}
		for _, d := range f.Devices() {
			// What a client sees is what Devices reports.
			var key ssh.PublicKey
			c, err := ssh.Dial("tcp", addr(t, f, d.Tenant, d.ID), clientConfig(f, &key))
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if got := ssh.FingerprintSHA256(key); got != d.HostKeyFingerprint {
				t.Errorf("%s: client saw %s, Devices says %s", d.ID, got, d.HostKeyFingerprint)
			}
			if key.Type() != ssh.KeyAlgoED25519 {
				t.Errorf("%s: host key type %s", d.ID, key.Type())
			}
			m[d.ID] = d.HostKeyFingerprint
		}
		return m
	}
	first, second := fingerprints(), fingerprints()
	for _, id := range []string{"r1", "r2"} {
		if first[id] != second[id] {
			t.Errorf("%s: host key changed across restart with StateDir", id)
		}
	}
	if first["lab-rekey-1"] == second["lab-rekey-1"] {
		t.Errorf("rotate_hostkey device kept its key across restart")
	}
	if first["r1"] == first["r2"] {
		t.Errorf("two devices share a host key")
	}
	// Secrets on disk: a 0700 directory, a 0600 file.
	for p, want := range map[string]fs.FileMode{dir: 0o700, filepath.Join(dir, hostKeysFile): 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	// A damaged key file stops the fleet rather than silently replacing
	// identities that clients trust.
	if err := os.WriteFile(filepath.Join(dir, hostKeysFile), []byte("acme/r1 not-base64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := Start(context.Background(), Config{StateDir: dir}, specs); err == nil {
		f.Close()
		t.Errorf("Start accepted a damaged host key file")
	} else if strings.Contains(err.Error(), "not-base64") {
		t.Errorf("the error quotes the key file: %v", err)
	}
	// Without a StateDir, keys live in memory: a restart changes them.
	f1 := startFleet(t, Config{}, specs[0])
	f2 := startFleet(t, Config{}, specs[0])
	if f1.Devices()[0].HostKeyFingerprint == f2.Devices()[0].HostKeyFingerprint {
		t.Errorf("in-memory host keys repeat across fleets")
	}
}

func TestRotateHostKey(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "r1"})
	var k1, k2 ssh.PublicKey
	c, err := ssh.Dial("tcp", addr(t, f, "acme", "r1"), clientConfig(f, &k1))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := f.RotateHostKey("acme", "r1"); err != nil {
		t.Fatal(err)
	}
	c, err = ssh.Dial("tcp", addr(t, f, "acme", "r1"), clientConfig(f, &k2))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if ssh.FingerprintSHA256(k1) == ssh.FingerprintSHA256(k2) {
		t.Errorf("RotateHostKey kept the key")
	}
	if got := f.Devices()[0].HostKeyFingerprint; got != ssh.FingerprintSHA256(k2) {
		t.Errorf("Devices reports %s, device presents %s", got, ssh.FingerprintSHA256(k2))
	}
}

func TestFixtureDevicesServeCapturesVerbatim(t *testing.T) {
	files := map[string]string{
		"chr-7-10": "routeros#CHR_7.10.1#simulation.yaml",
		"chr-7-16": "routeros#CHR_7.16#simulation.yaml",
		"l009":     "routeros#L009UiGS_7.15.2#simulation.yaml",
	}
	hashes := map[string]string{ // spec/normalization.md "Test vectors"
		"chr-7-10": "93c634b48d2127c9a8447daa8980e7d30d6f7c5e1f6593ada9d13824cca0ea87",
		"chr-7-16": "91ccd341dff3b0ab2e58a7c32dfcde8e4b73e9323cb04927a29e2fc441918970",
		"l009":     "57c048592885747e2114a729476c769897e5a4012fa251e6951dba045825ff6b",
	}
	versions := map[string]string{"chr-7-10": "7.10.1", "chr-7-16": "7.16", "l009": "7.15.2"}
	var specs []Spec
	for id, file := range files {
		specs = append(specs, Spec{Tenant: "globex", ID: id, Fixture: BuiltinCapture + file})
	}
	f := startFleet(t, Config{}, specs...)
	for id, file := range files {
		replies := builtinReplies(t, file)
		c := dial(t, f, "globex", id)
		for cmd, want := range replies {
			out, err := run(t, c, cmd)
			if err != nil {
				t.Errorf("%s: %q: %v", id, cmd, err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s: %q: reply differs from the capture", id, cmd)
			}
		}
		out, _ := run(t, c, "/export show-sensitive")
		if got := routeros.Hash(routeros.Normalize(out)); got != hashes[id] {
			t.Errorf("%s: hash %s, want %s", id, got, hashes[id])
		}
		exp, err := f.Export("globex", id, true)
		if err != nil || !bytes.Equal(exp, replies["/export show-sensitive"]) {
			t.Errorf("%s: Fleet.Export differs from the capture: %v", id, err)
		}
		// Commands the capture lacks fall back to generated replies.
		if out, err := run(t, c, "/system identity print"); err != nil || string(out) != "  name: "+id+"\r\n" {
			t.Errorf("%s: identity print %q, %v", id, out, err)
		}
		if out, err := run(t, c, "/export"); err != nil || !bytes.Contains(out, []byte("by RouterOS "+versions[id]+"\r\n")) {
			t.Errorf("%s: generated /export: %v, %q", id, err, tail(string(out)))
		}
	}
	for _, d := range f.Devices() {
		if d.Version != versions[d.ID] {
			t.Errorf("%s: version %q from the capture, want %q", d.ID, d.Version, versions[d.ID])
		}
	}
	if _, err := Start(context.Background(), Config{}, []Spec{{Tenant: "globex", ID: "x", Fixture: "/nonexistent#simulation.yaml"}}); err == nil {
		t.Errorf("Start accepted a missing fixture")
	}
}

func TestWriteInventory(t *testing.T) {
	f := startFleet(t, Config{},
		Spec{Tenant: "acme", TenantName: "ACME Networks", ID: "core-rtr-1", Version: "7.16.2"},
		Spec{Tenant: "acme", ID: "old-1", Version: "6.49.10", Name: "Old one"},
		Spec{Tenant: "globex", ID: "r1", Password: "own-secret"},
		Spec{Tenant: "initech", ID: "lab-hang-1", Fault: FaultHangAfterAuth},
	)
	path := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := f.WriteInventory(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{path: "", path + ".password": f.Password(), path + ".globex.r1.password": "own-secret"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
		if want != "" {
			if b, _ := os.ReadFile(p); string(b) != want {
				t.Errorf("%s holds the wrong password", filepath.Base(p))
			}
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(f.Password())) || bytes.Contains(raw, []byte("own-secret")) {
		t.Fatalf("the inventory holds a password inline")
	}
	var doc inventory.FileDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Defaults == nil || doc.Defaults.Username != "admin" || doc.Defaults.PasswordFile != path+".password" {
		t.Fatalf("defaults %+v", doc.Defaults)
	}
	if len(doc.Tenants) != 3 || doc.Tenants[0].ID != "acme" || doc.Tenants[0].Name != "ACME Networks" || len(doc.Tenants[0].Devices) != 2 {
		t.Fatalf("tenants %+v", doc.Tenants)
	}
	for _, tn := range doc.Tenants {
		for _, d := range tn.Devices {
			host, port, _ := f.Addr(tn.ID, d.ID)
			if d.Host != host || d.Port != port {
				t.Errorf("%s/%s at %s:%d, fleet says %s:%d", tn.ID, d.ID, d.Host, d.Port, host, port)
			}
		}
	}
	if d := doc.Tenants[1].Devices[0]; d.PasswordFile != path+".globex.r1.password" {
		t.Errorf("device with its own password: password_file %q", d.PasswordFile)
	}
	if d := doc.Tenants[0].Devices[1]; d.Name != "Old one" || !strings.Contains(strings.Join(d.Tags, ","), "routeros6") {
		t.Errorf("old-1: %+v", d)
	}
	if d := doc.Tenants[2].Devices[0]; !strings.Contains(strings.Join(d.Tags, ","), "hang-after-auth") {
		t.Errorf("faulty device not tagged: %+v", d.Tags)
	}
	// cfgsnap's own loader accepts the file, and its credentials log in.
	inv, warnings, err := inventory.Load(path)
	if err != nil {
		t.Fatalf("inventory.Load: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("inventory warnings: %v", warnings)
	}
	for _, d := range inv.Devices() {
		pw, err := d.Credentials.ResolvePassword()
		if err != nil {
			t.Fatalf("%s/%s: %v", d.TenantID, d.ID, err)
		}
		if d.ID == "lab-hang-1" {
			continue
		}
		cfg := clientConfig(f, nil)
		cfg.User, cfg.Auth = d.Username, []ssh.AuthMethod{ssh.Password(pw)}
		c, err := ssh.Dial("tcp", net.JoinHostPort(d.Host, fmt.Sprint(d.Port)), cfg)
		if err != nil {
			t.Errorf("%s/%s with the inventory's credentials: %v", d.TenantID, d.ID, err)
			continue
		}
		c.Close()
	}
}

func TestCloseEndsEverythingPromptly(t *testing.T) {
	before := runtime.NumGoroutine()
	f, err := Start(context.Background(), Config{}, []Spec{
		{Tenant: "acme", ID: "lab-hang-1", Fault: FaultHangAfterAuth},
		{Tenant: "acme", ID: "lab-slowssh-1", Fault: FaultSlowHandshake},
		{Tenant: "acme", ID: "lab-slow-1", Fault: FaultSlowOutput, SizeBytes: 1 << 20, BytesPerSecond: 1024},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, f, "acme", "lab-hang-1")
	s, _ := c.NewSession()
	s.Start("/export")
	c2 := dial(t, f, "acme", "lab-slow-1")
	s2, _ := c2.NewSession()
	s2.Start("/export")
	raw, err := net.Dial("tcp", addr(t, f, "acme", "lab-slowssh-1")) // stuck in the 30s delay
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %v", el)
	}
	c.Close()
	c2.Close()
	raw.Close()
	waitGoroutines(t, before)
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr(t, f, "acme", "lab-hang-1"), time.Second); err == nil {
		t.Errorf("device still accepts connections after Close")
	}
}

func TestContextEndsFleet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f, err := Start(ctx, Config{}, []Spec{{Tenant: "acme", ID: "r1"}})
	if err != nil {
		t.Fatal(err)
	}
	a := addr(t, f, "acme", "r1")
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("fleet still listening after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.Close()
}

func TestStartRejectsBadSpecs(t *testing.T) {
	for name, specs := range map[string][]Spec{
		"bad tenant":    {{Tenant: "ac me", ID: "r1"}},
		"bad id":        {{Tenant: "acme", ID: "../../etc"}},
		"empty id":      {{Tenant: "acme"}},
		"duplicate":     {{Tenant: "acme", ID: "r1"}, {Tenant: "acme", ID: "r1"}},
		"unknown fault": {{Tenant: "acme", ID: "r1", Fault: "explode"}},
		"bad version":   {{Tenant: "acme", ID: "r1", Version: "seven"}},
		"v5":            {{Tenant: "acme", ID: "r1", Version: "5.26"}},
		"negative size": {{Tenant: "acme", ID: "r1", SizeBytes: -1}},
		"huge size":     {{Tenant: "acme", ID: "r1", SizeBytes: 1 << 30}},
		"negative rate": {{Tenant: "acme", ID: "r1", BytesPerSecond: -5}},
	} {
		f, err := Start(context.Background(), Config{}, specs)
		if err == nil {
			f.Close()
			t.Errorf("%s: Start accepted %+v", name, specs)
		}
	}
	if _, err := Start(context.Background(), Config{BasePort: 65530}, DefaultFleet(10, false)); err == nil {
		t.Errorf("Start accepted ports past 65535")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Config{}, []Spec{{Tenant: "acme", ID: "r1"}}); err == nil {
		t.Errorf("Start ignored a cancelled context")
	}
}

func TestBasePort(t *testing.T) {
	// Find a free range by asking for one port and hoping its neighbours
	// are free too; retry a few times on collision.
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base+3 > 65535 {
			continue
		}
		f, err := Start(context.Background(), Config{BasePort: base}, DefaultFleet(3, false))
		if err != nil {
			if attempt < 5 {
				continue
			}
			t.Fatal(err)
		}
		defer f.Close()
		for i, d := range f.Devices() {
			if d.Port != base+i {
				t.Errorf("device %d on port %d, want %d", i, d.Port, base+i)
			}
		}
		return
	}
}

func TestDefaultFleet(t *testing.T) {
	specs := DefaultFleet(60, true)
	if len(specs) != 60 {
		t.Fatalf("%d specs", len(specs))
	}
	if specs[0].Tenant != "acme" || specs[0].ID != "core-rtr-1" {
		t.Errorf("first device %s/%s, want acme/core-rtr-1", specs[0].Tenant, specs[0].ID)
	}
	seen := map[string]bool{}
	tenants := map[string]int{}
	faults := map[Fault]string{}
	var v6, v7, early, big, fixtures, drift int
	for _, s := range specs {
		key := s.Tenant + "/" + s.ID
		if seen[key] {
			t.Errorf("%s twice", key)
		}
		seen[key] = true
		tenants[s.Tenant]++
		if s.Fault != FaultNone {
			faults[s.Fault] = s.ID
		}
		if s.Fixture != "" {
			fixtures++
			if s.Tenant != "globex" {
				t.Errorf("capture device %s not in globex", key)
			}
			continue
		}
		switch v, _ := parseVersion(s.Version); {
		case v.v6():
			v6++
		case !v.isoDates():
			early++
		default:
			v7++
		}
		if s.SizeBytes >= 1<<20 {
			big++
		} else if s.Fault == FaultNone && s.DriftEvery == 0 && (s.SizeBytes < 5<<10 || s.SizeBytes > 60<<10) {
			t.Errorf("%s: size %d outside 5-60 KB", key, s.SizeBytes)
		}
		if s.DriftEvery > 0 {
			drift++
		}
	}
	if len(tenants) != 3 || tenants["acme"] < 10 || tenants["globex"] < 10 || tenants["initech"] < 10 {
		t.Errorf("tenants %v", tenants)
	}
	if len(faults) != len(Faults) {
		t.Errorf("faulty devices %v, want one per fault", faults)
	}
	for fault, id := range faults {
		if !strings.HasPrefix(id, "lab-") {
			t.Errorf("fault %s on %q: the ID should say it is a lab device", fault, id)
		}
	}
	if v6 < 5 || v7 < 10 || early != 1 || big != 2 || drift != 1 {
		t.Errorf("v6 %d, v7.10+ %d, early v7 %d, large %d, drifting %d", v6, v7, early, big, drift)
	}
	if fixtures != 3 {
		t.Errorf("%d capture devices, want the 3 the simulator carries", fixtures)
	}
	// A fleet grows without renaming its devices.
	small := DefaultFleet(10, false)
	if small[0].ID != "core-rtr-1" || len(DefaultFleet(0, true)) != 0 {
		t.Errorf("DefaultFleet(10) starts with %s", small[0].ID)
	}
	for _, s := range small {
		if s.Fault != FaultNone {
			t.Errorf("DefaultFleet(n, false) has faulty %s", s.ID)
		}
	}
	// Every default device starts and serves an export.
	f := startFleet(t, Config{}, DefaultFleet(20, true)...)
	for _, d := range f.Devices() {
		if d.SizeBytes > 1<<20 {
			continue
		}
		if _, err := f.Export(d.Tenant, d.ID, true); err != nil {
			t.Errorf("%s/%s: %v", d.Tenant, d.ID, err)
		}
	}
}

func TestUnknownDevice(t *testing.T) {
	f := startFleet(t, Config{}, Spec{Tenant: "acme", ID: "r1"})
	if _, _, ok := f.Addr("acme", "nope"); ok {
		t.Errorf("Addr found an unknown device")
	}
	if _, err := f.Export("acme", "nope", true); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("Export: %v", err)
	}
	if err := f.RotateHostKey("nope", "r1"); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("RotateHostKey: %v", err)
	}
}

func TestLogsNeverShowPasswords(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&logs, format+"\n", args...)
	}
	f := startFleet(t, Config{Logf: logf, Password: "hunter2-fleet"}, Spec{Tenant: "acme", ID: "r1"})
	cfg := clientConfig(f, nil)
	cfg.Auth = []ssh.AuthMethod{ssh.Password("hunter2-typo")}
	if _, err := ssh.Dial("tcp", addr(t, f, "acme", "r1"), cfg); err == nil {
		t.Fatal("wrong password accepted")
	}
	c := dial(t, f, "acme", "r1")
	run(t, c, "/export show-sensitive")
	f.Close()
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("a password reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "failed") || !strings.Contains(logs.String(), "/export show-sensitive") {
		t.Errorf("the log does not say what happened:\n%s", logs.String())
	}
}
