package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func openStore(t testing.TB) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// config is a small export with a secret that differs per version.
func config(device string, version int) string {
	return fmt.Sprintf("/ppp secret\nadd name=vpn-%s password=\"s3cret-%d\" service=l2tp\n/system identity\nset name=%s-v%d\n", device, version, device, version)
}

func record(t testing.TB, st store.Store, tenant, device, content, by, reason string, at time.Time) api.SnapshotRecord {
	t.Helper()
	rec, err := st.Record(context.Background(), api.SnapshotRecord{TenantID: tenant, DeviceID: device,
		Trigger: api.TriggerManual, RequestedBy: by, Reason: reason, RouterOSVersion: "7.16.2", CollectedAt: at}, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

func export(t testing.TB, st Source, opt Options) Result {
	t.Helper()
	res, err := Export(context.Background(), st, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type commitInfo struct {
	hash, author, email, subject, snapHash, snapID string
	authorAt, commitAt                             int64
}

func commits(t testing.TB, dir string) []commitInfo {
	t.Helper()
	out := git(t, dir, "log", "--reverse", "--format=%H%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%s%x1f%(trailers:key=Cfgsnap-Hash,valueonly,separator=)%x1f%(trailers:key=Cfgsnap-Snapshot,valueonly,separator=)%x1e")
	var cs []commitInfo
	for _, rec := range strings.Split(out, "\x1e") {
		rec = strings.TrimSpace(rec)
		if rec == "" {
			continue
		}
		f := strings.Split(rec, "\x1f")
		if len(f) != 8 {
			t.Fatalf("log record %q", rec)
		}
		var c commitInfo
		c.hash, c.author, c.email, c.subject, c.snapHash, c.snapID = f[0], f[1], f[2], f[5], f[6], f[7]
		fmt.Sscan(f[3], &c.authorAt)
		fmt.Sscan(f[4], &c.commitAt)
		cs = append(cs, c)
	}
	return cs
}

func TestExportOneCommitPerChangeInCollectionOrder(t *testing.T) {
	st := openStore(t)
	// Interleaved across two tenants; unchanged snapshots in between.
	var want []api.SnapshotRecord
	add := func(rec api.SnapshotRecord) {
		if rec.Changed {
			want = append(want, rec)
		}
	}
	add(record(t, st, "acme", "r1", config("r1", 1), "ops@jump1", "first", t0))
	add(record(t, st, "globex", "edge", config("edge", 1), "", "", t0.Add(time.Minute)))
	add(record(t, st, "acme", "r1", config("r1", 1), "scheduler", "", t0.Add(2*time.Minute)))
	add(record(t, st, "acme", "r2", config("r2", 1), "alice", "CHG-1234 before", t0.Add(3*time.Minute)))
	add(record(t, st, "acme", "r1", config("r1", 2), "ops@jump1", "CHG-1234\nafter the change", t0.Add(4*time.Minute)))
	add(record(t, st, "globex", "edge", config("edge", 1), "", "", t0.Add(5*time.Minute)))
	if len(want) != 4 {
		t.Fatalf("setup: %d changed snapshots, want 4", len(want))
	}
	dir := filepath.Join(t.TempDir(), "mirror")
	res := export(t, st, Options{Dir: dir})
	if res.Commits != 4 || res.Devices != 3 || res.Ref != "refs/heads/main" {
		t.Fatalf("result %+v, want 4 commits over 3 devices on refs/heads/main", res)
	}
	cs := commits(t, dir)
	if len(cs) != 4 {
		t.Fatalf("%d commits, want 4", len(cs))
	}
	for i, c := range cs {
		w := want[i]
		name, email := Author(w.RequestedBy)
		if c.author != name || c.email != email {
			t.Errorf("commit %d author %q <%s>, want %q <%s>", i, c.author, c.email, name, email)
		}
		if c.authorAt != w.CollectedAt.Unix() || c.commitAt != w.CollectedAt.Unix() {
			t.Errorf("commit %d dates %d/%d, want %d", i, c.authorAt, c.commitAt, w.CollectedAt.Unix())
		}
		if c.snapHash != w.SHA256 || c.snapID != w.SnapshotID {
			t.Errorf("commit %d trailers %q %q, want %s %s", i, c.snapHash, c.snapID, w.SHA256, w.SnapshotID)
		}
		if !strings.HasPrefix(c.subject, w.TenantID+"/"+w.DeviceID+": manual backup") {
			t.Errorf("commit %d subject %q", i, c.subject)
		}
		content, err := st.Content(context.Background(), w.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got := git(t, dir, "show", c.hash+":"+w.TenantID+"/"+w.DeviceID+".rsc") + "\n"
		if got != redact.Text(string(content)) {
			t.Errorf("commit %d file:\n%s\nwant what show prints:\n%s", i, got, redact.Text(string(content)))
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("commit %d holds a secret:\n%s", i, got)
		}
	}
	if cs[0].author != "ops@jump1" || cs[0].email != "ops@jump1" || cs[2].email != "alice@cfgsnap.invalid" || cs[1].author != "cfgsnap" {
		t.Errorf("authors: %+v", cs)
	}
	if cs[3].subject != "acme/r1: manual backup: CHG-1234 after the change" {
		t.Errorf("subject %q", cs[3].subject)
	}
	// The working tree shows the latest of each device.
	b, err := os.ReadFile(filepath.Join(dir, "acme", "r1.rsc"))
	if err != nil || string(b) != redact.Text(config("r1", 2)) {
		t.Errorf("working tree acme/r1.rsc = %q, %v", b, err)
	}
	if s := git(t, dir, "status", "--porcelain"); s != "" {
		t.Errorf("working tree not clean after export:\n%s", s)
	}
	git(t, dir, "fsck", "--strict")
}

func TestExportIsIncremental(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0)
	record(t, st, "acme", "r2", config("r2", 1), "ops", "", t0.Add(time.Second))
	dir := filepath.Join(t.TempDir(), "mirror")
	if res := export(t, st, Options{Dir: dir}); res.Commits != 2 {
		t.Fatalf("first run: %+v", res)
	}
	first := git(t, dir, "rev-parse", "HEAD")
	// Nothing new: nothing written, by a new exporter as by the same one.
	exp := NewExporter(st, Options{Dir: dir})
	for i := range 2 {
		res, err := exp.Export(context.Background())
		if err != nil || res.Commits != 0 || res.Head != first {
			t.Fatalf("run %d without news: %+v %v", i, res, err)
		}
	}
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0.Add(2*time.Second)) // unchanged
	r2 := record(t, st, "acme", "r2", config("r2", 2), "ops", "", t0.Add(3*time.Second))
	record(t, st, "acme", "r2", config("r2", 2), "ops", "", t0.Add(4*time.Second)) // unchanged
	r1 := record(t, st, "acme", "r1", config("r1", 1)+"# back\n", "ops", "", t0.Add(5*time.Second))
	res, err := exp.Export(context.Background())
	if err != nil || res.Commits != 2 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	cs := commits(t, dir)
	if len(cs) != 4 || cs[1].hash != first || cs[2].snapID != r2.SnapshotID || cs[3].snapID != r1.SnapshotID {
		t.Errorf("history after the second run: %+v", cs)
	}
	// A fresh exporter (a new process) reads the state from the repository.
	if res := export(t, st, Options{Dir: dir}); res.Commits != 0 {
		t.Errorf("third run added %d commits", res.Commits)
	}
	// A configuration that goes back to an earlier one is a change too.
	record(t, st, "acme", "r2", config("r2", 1), "ops", "", t0.Add(6*time.Second))
	if res := export(t, st, Options{Dir: dir}); res.Commits != 1 {
		t.Errorf("a revert added %d commits, want 1", res.Commits)
	}
}

func TestExportTenantFilter(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0)
	record(t, st, "globex", "r1", config("g1", 1), "ops", "", t0.Add(time.Second))
	dir := filepath.Join(t.TempDir(), "mirror")
	if res := export(t, st, Options{Dir: dir, Tenant: "globex"}); res.Commits != 1 {
		t.Fatalf("%+v", res)
	}
	if files := git(t, dir, "ls-files"); files != ".cfgsnap/mode\n.cfgsnap/state/globex/r1.json\nglobex/r1.rsc" {
		t.Errorf("files:\n%s", files)
	}
	// The other tenant can join the same mirror later.
	if res := export(t, st, Options{Dir: dir}); res.Commits != 1 {
		t.Errorf("adding acme: %+v", res)
	}
}

func TestExportSecrets(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0)
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Export(context.Background(), st, Options{Dir: open, Secrets: true})
	if err == nil || api.KindOf(err) != api.KindBadRequest || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("--secrets into a 0755 directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(open, ".git")); err == nil {
		t.Error("the refused export created a repository")
	}
	private := filepath.Join(t.TempDir(), "private") // created 0700
	export(t, st, Options{Dir: private, Secrets: true})
	if got := git(t, private, "show", "HEAD:acme/r1.rsc") + "\n"; got != config("r1", 1) {
		t.Errorf("--secrets content %q, want the stored text", got)
	}
	// A masked export into the unmasked mirror, and the reverse, are refused.
	if _, err := Export(context.Background(), st, Options{Dir: private}); err == nil || !strings.Contains(err.Error(), "never mixes") {
		t.Errorf("redacted export into a secrets mirror: %v", err)
	}
	masked := filepath.Join(t.TempDir(), "masked")
	export(t, st, Options{Dir: masked})
	os.Chmod(masked, 0o700)
	if _, err := Export(context.Background(), st, Options{Dir: masked, Secrets: true}); err == nil || !strings.Contains(err.Error(), "never mixes") {
		t.Errorf("secrets export into a redacted mirror: %v", err)
	}
}

func TestExportRefusesAForeignDirectory(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	if _, err := Export(context.Background(), st, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("export into a non-empty directory: %v", err)
	}
	// A subdirectory of another repository is not that repository.
	outer := t.TempDir()
	git(t, outer, "init", "-q")
	sub := filepath.Join(outer, "sub")
	if res := export(t, st, Options{Dir: sub}); res.Commits != 1 {
		t.Fatalf("%+v", res)
	}
	if git(t, sub, "rev-parse", "--show-toplevel") != sub && !sameDir(git(t, sub, "rev-parse", "--show-toplevel"), sub) {
		t.Error("the mirror was written into the outer repository")
	}
}

func TestExportCrashBeforeUpdateRefLeavesTheRepositoryValid(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0)
	dir := filepath.Join(t.TempDir(), "mirror")
	crash := errors.New("killed")
	exp := NewExporter(st, Options{Dir: dir})
	exp.beforeUpdateRef = func() error { return crash }
	if _, err := exp.Export(context.Background()); !errors.Is(err, crash) {
		t.Fatalf("err %v", err)
	}
	if _, err := exec.Command("git", "-C", dir, "rev-parse", "-q", "--verify", "refs/heads/main").Output(); err == nil {
		t.Error("the branch exists after a crash before update-ref")
	}
	git(t, dir, "fsck", "--strict")
	// The next run completes.
	if res := export(t, st, Options{Dir: dir}); res.Commits != 1 {
		t.Fatalf("after the crash: %+v", res)
	}
	tip := git(t, dir, "rev-parse", "HEAD")
	// A crash on top of existing history leaves the branch where it was.
	record(t, st, "acme", "r1", config("r1", 2), "ops", "", t0.Add(time.Second))
	record(t, st, "acme", "r2", config("r2", 1), "ops", "", t0.Add(2*time.Second))
	exp = NewExporter(st, Options{Dir: dir})
	exp.beforeUpdateRef = func() error { return crash }
	if _, err := exp.Export(context.Background()); !errors.Is(err, crash) {
		t.Fatalf("err %v", err)
	}
	if got := git(t, dir, "rev-parse", "HEAD"); got != tip {
		t.Errorf("branch moved to %s by a crashed run", got)
	}
	if s := git(t, dir, "status", "--porcelain"); s != "" {
		t.Errorf("a crashed run touched the working tree:\n%s", s)
	}
	git(t, dir, "fsck", "--strict")
	if res := export(t, st, Options{Dir: dir}); res.Commits != 2 {
		t.Fatalf("after the second crash: %+v", res)
	}
	if n := len(commits(t, dir)); n != 3 {
		t.Errorf("%d commits, want 3", n)
	}
}

func TestExportCompareAndSwap(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0)
	dir := filepath.Join(t.TempDir(), "mirror")
	export(t, st, Options{Dir: dir})
	record(t, st, "acme", "r1", config("r1", 2), "ops", "", t0.Add(time.Second))
	// Another writer moves the branch while this export builds its commits.
	exp := NewExporter(st, Options{Dir: dir})
	exp.beforeUpdateRef = func() error {
		git(t, dir, "commit", "-q", "--allow-empty", "-m", "someone else")
		return nil
	}
	if _, err := exp.Export(context.Background()); err == nil || !strings.Contains(err.Error(), "another export") {
		t.Fatalf("export over a moved branch: %v", err)
	}
	if s := git(t, dir, "log", "-1", "--format=%s"); s != "someone else" {
		t.Errorf("the other writer's commit was lost: tip %q", s)
	}
}

func TestAuthor(t *testing.T) {
	cases := []struct{ in, name, email string }{
		{"ops@jump1", "ops@jump1", "ops@jump1"},
		{"alice", "alice", "alice@cfgsnap.invalid"},
		{"", "cfgsnap", "cfgsnap@cfgsnap.invalid"},
		{"Bob <evil>\nX", "Bob evil X", "Bob-evil-X@cfgsnap.invalid"},
	}
	for _, c := range cases {
		if n, e := Author(c.in); n != c.name || e != c.email {
			t.Errorf("Author(%q) = %q, %q; want %q, %q", c.in, n, e, c.name, c.email)
		}
	}
}

func TestMirrorFollowsStoredSnapshots(t *testing.T) {
	st := openStore(t)
	record(t, st, "acme", "r1", config("r1", 1), "ops", "", t0)
	dir := filepath.Join(t.TempDir(), "mirror")
	m := NewMirror(st, Options{Dir: dir}, 50*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go m.Run(ctx)
	defer func() { cancel(); <-m.Done() }()
	waitCommits := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			out, _ := exec.Command("git", "-C", dir, "rev-list", "--count", "HEAD").Output()
			if strings.TrimSpace(string(out)) == fmt.Sprint(n) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("mirror never reached %d commits (has %q)", n, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitCommits(1) // the catch-up export at start
	for i := 2; i <= 4; i++ {
		m.Stored(record(t, st, "acme", "r1", config("r1", i), "ops", "", t0.Add(time.Duration(i)*time.Second)))
	}
	waitCommits(4)
}

// TestExportTiming reports how long an export of many snapshots takes
// (go test -v -run Timing).
func TestExportTiming(t *testing.T) {
	st := openStore(t)
	const devices, versions = 10, 20
	for v := range versions {
		for d := range devices {
			dev := fmt.Sprintf("r%d", d)
			record(t, st, "acme", dev, config(dev, v), "ops", "", t0.Add(time.Duration(v*devices+d)*time.Second))
		}
	}
	dir := filepath.Join(t.TempDir(), "mirror")
	start := time.Now()
	res := export(t, st, Options{Dir: dir})
	took := time.Since(start)
	if res.Commits != devices*versions {
		t.Fatalf("%+v", res)
	}
	start = time.Now()
	if res := export(t, st, Options{Dir: dir}); res.Commits != 0 {
		t.Fatalf("%+v", res)
	}
	t.Logf("export git: %d snapshots in %s (%.1f ms each); a run with nothing new %s",
		res.Commits, took.Round(time.Millisecond), float64(took.Milliseconds())/float64(res.Commits), time.Since(start).Round(time.Millisecond))
}
