package lock

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// raceEnv, when set in a re-executed test binary, holds "dir name": the
// data dir to race in and the name of this contender.
const raceEnv = "CFGSNAP_LOCK_RACE"

const raceKeys = 50

// TestTwoProcessesRaceAcquire starts two copies of this test binary that
// acquire the same keys at the same moment: for every key exactly one of
// them must win and the other must be told who holds it.
func TestTwoProcessesRaceAcquire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if env := os.Getenv(raceEnv); env != "" {
		dir, name, _ := strings.Cut(env, " ")
		contend(ctx, t, dir, name)
		return
	}

	dir := t.TempDir()
	l := newLocker(t, dir) // creates the store and the locks table
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		out    *bufio.Scanner
		stderr bytes.Buffer
		lines  []string
	}
	var children []*child
	for _, name := range []string{"p1", "p2"} {
		c := &child{cmd: exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTwoProcessesRaceAcquire$", "-test.count=1")}
		c.cmd.Env = append(os.Environ(), raceEnv+"="+dir+" "+name)
		c.cmd.Stderr = &c.stderr
		var err error
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		c.out = bufio.NewScanner(stdout)
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, c)
	}
	for _, c := range children { // both have opened the database
		for c.out.Scan() && c.out.Text() != "ready" {
			c.lines = append(c.lines, c.out.Text())
		}
	}
	for _, c := range children {
		if _, err := c.stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
	}
	winners := map[string][]string{}
	helds := map[string][]string{}
	for i, c := range children {
		name := []string{"p1", "p2"}[i]
		for c.out.Scan() {
			line := c.out.Text()
			c.lines = append(c.lines, line)
			if k, ok := strings.CutPrefix(line, "won "); ok {
				winners[k] = append(winners[k], name)
			}
			if k, ok := strings.CutPrefix(line, "held "); ok {
				helds[k] = append(helds[k], name)
			}
		}
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("contender %s: %v\nstdout:\n%s\nstderr:\n%s", name, err, strings.Join(c.lines, "\n"), c.stderr.String())
		}
	}
	for i := range raceKeys {
		k := fmt.Sprintf("acme/r%d", i)
		if len(winners[k]) != 1 || len(helds[k]) != 1 {
			t.Errorf("%s: won by %v, held for %v; want exactly one winner and one refused", k, winners[k], helds[k])
			continue
		}
		h, err := l.Holder(ctx, k)
		if want := "job-" + winners[k][0] + "-" + k; err != nil || h == nil || h.JobID != want {
			t.Errorf("%s: Holder = %+v, %v; want job %s", k, h, err, want)
		}
	}
}

// contend is the child's side: acquire every key once and say what happened.
func contend(ctx context.Context, t *testing.T, dir, name string) {
	l := newLocker(t, dir)
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("%s: wait for start: %v", name, err)
	}
	for i := range raceKeys {
		k := fmt.Sprintf("acme/r%d", i)
		_, err := l.Acquire(ctx, k, Info{Holder: name + "@test", PID: os.Getpid(), JobID: "job-" + name + "-" + k}, time.Minute)
		var held *HeldError
		switch {
		case err == nil:
			fmt.Println("won " + k)
		case errors.As(err, &held) && held.Info.JobID != "job-"+name+"-"+k:
			fmt.Println("held " + k)
		default:
			t.Errorf("%s: acquire %s: %v", name, k, err)
		}
	}
}
