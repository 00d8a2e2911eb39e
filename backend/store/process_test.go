package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// hammerEnv, when set in a re-executed test binary, names the data dir the
// child process writes to.
const hammerEnv = "CFGSNAP_STORE_HAMMER_DIR"

const (
	hammerWriters = 2  // goroutines per process
	hammerRecords = 40 // records per goroutine
	hammerDevices = 3  // shared by every writer, so they contend for each device's latest row
)

// hammer records hammerRecords snapshots spread over the shared devices,
// with contents that repeat so that both changed and unchanged backups occur.
func hammer(ctx context.Context, s *SQLite, who string) error {
	for i := range hammerRecords {
		rec := api.SnapshotRecord{TenantID: "acme", DeviceID: fmt.Sprintf("d%d", i%hammerDevices), RequestedBy: who}
		if _, err := s.Record(ctx, rec, []byte(fmt.Sprintf("config %d", i/hammerDevices%2))); err != nil {
			return fmt.Errorf("%s record %d: %w", who, i, err)
		}
	}
	return nil
}

func hammerAll(ctx context.Context, s *SQLite, proc string) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := range hammerWriters {
		wg.Go(func() {
			if err := hammer(ctx, s, fmt.Sprintf("%s-%d", proc, w)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// TestTwoProcessesRecord has this process and a second one (this test
// binary re-executed) record into one data dir at once: no write may fail
// with "database is locked", and every device's history must be one
// consistent chain (each record's previous hash is its predecessor's hash).
func TestTwoProcessesRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if dir := os.Getenv(hammerEnv); dir != "" {
		s := openStore(t, dir)
		fmt.Println("ready")
		// Start when the parent says so, so that both processes write at once.
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			t.Fatalf("child: wait for start: %v", err)
		}
		for _, err := range hammerAll(ctx, s, "child") {
			t.Error(err)
		}
		return
	}

	dir := t.TempDir()
	s := openStore(t, dir)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTwoProcessesRecord$", "-test.count=1")
	cmd.Env = append(os.Environ(), hammerEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
		out.WriteString(sc.Text() + "\n")
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatalf("start child: %v\n%s", err, out.String())
	}
	errs := hammerAll(ctx, s, "parent")
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child process: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	for _, err := range errs {
		t.Error(err)
	}
	if strings.Contains(out.String(), "locked") {
		t.Errorf("child saw a locked database:\n%s", out.String())
	}

	total := 0
	by := map[string]int{}
	for d := range hammerDevices {
		device := fmt.Sprintf("d%d", d)
		recs, more, err := s.History(ctx, "acme", device, MaxHistoryLimit, "")
		if err != nil || more {
			t.Fatalf("history of %s: more=%v err=%v", device, more, err)
		}
		slices.Reverse(recs)
		total += len(recs)
		for i, r := range recs {
			by[strings.SplitN(r.RequestedBy, "-", 2)[0]]++
			prev := ""
			if i > 0 {
				prev = recs[i-1].SHA256
			}
			if r.PreviousHash != prev || r.Changed != (r.SHA256 != prev) {
				t.Errorf("%s record %d (%s by %s): previous=%.8s changed=%v, but the record before it has hash %.8s",
					device, i, r.SnapshotID, r.RequestedBy, r.PreviousHash, r.Changed, prev)
			}
		}
		latest, err := s.Latest(ctx, "acme", device)
		if err != nil || latest == nil || *latest != recs[len(recs)-1] {
			t.Errorf("latest of %s = %+v, %v; want the newest of its history", device, latest, err)
		}
	}
	if want := 2 * hammerWriters * hammerRecords; total != want || by["parent"] != want/2 || by["child"] != want/2 {
		t.Errorf("stored %d records (%v), want %d, half from each process", total, by, want)
	}
	if n := count(t, s, "contents"); n != 2 {
		t.Errorf("%d content rows, want 2 (one per distinct config)", n)
	}
}
