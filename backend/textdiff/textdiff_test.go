package textdiff

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSmall(t *testing.T) {
	a := SplitLines("/ip address\nadd address=192.0.2.1/24\n/ip firewall address-list\nadd list=a address=1\nadd list=a address=2\n")
	b := SplitLines("/ip address\nadd address=192.0.2.1/24\n/ip firewall address-list\nadd list=a address=1\nadd list=a address=15\nadd list=a address=2\n")
	menus := []string{"/ip address", "/ip address", "/ip firewall address-list", "/ip firewall address-list", "/ip firewall address-list", "/ip firewall address-list"}
	hs := Hunks(Edits(a, b), Options{Context: 1, Section: func(old bool, i int) string { return menus[i] }})
	got := Unified("a", "b", hs)
	want := "--- a\n+++ b\n@@ -4,2 +4,3 @@ /ip firewall address-list\n add list=a address=1\n+add list=a address=15\n add list=a address=2\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if Unified("a", "b", Hunks(Edits(a, a), Options{Context: 3})) != "" {
		t.Error("equal texts give a diff")
	}
}

// TestOneLineInsertion is the bug of issue 12: a character diff turned
// into line hunks showed an identical line removed and added again.
func TestOneLineInsertion(t *testing.T) {
	a := SplitLines("add chain=input action=accept\nadd chain=input action=drop\n")
	b := SplitLines("add chain=input action=accept\nadd chain=input action=accept in-interface=ether2\nadd chain=input action=drop\n")
	var ops []string
	for _, l := range Edits(a, b) {
		if l.Op != Equal {
			ops = append(ops, string(l.Op)+l.Text)
		}
	}
	if len(ops) != 1 || ops[0] != "+add chain=input action=accept in-interface=ether2" {
		t.Errorf("changes %q", ops)
	}
}

// gnuDiff runs /usr/bin/diff -U3 (with --minimal when asked) and returns
// its hunks, without the two file header lines.
func gnuDiff(t *testing.T, dir string, a, b []string, minimal bool) string {
	t.Helper()
	fa, fb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write := func(p string, ls []string) {
		s := strings.Join(ls, "\n")
		if len(ls) > 0 {
			s += "\n"
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fa, a)
	write(fb, b)
	args := []string{"-U3"}
	if minimal {
		args = append(args, "--minimal")
	}
	out, err := exec.Command("/usr/bin/diff", append(args, fa, fb)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("diff: %v", err)
		}
	}
	s := string(out)
	for range 2 {
		if _, rest, ok := strings.Cut(s, "\n"); ok {
			s = rest
		}
	}
	return s
}

func body(u string) string {
	for range 2 {
		if _, rest, ok := strings.Cut(u, "\n"); ok {
			u = rest
		}
	}
	return u
}

// genLine is a RouterOS-like line; with few distinct values many lines
// repeat, as "add bridge=bridge interface=etherN" does in a real export.
func genLine(r *rand.Rand, distinct int) string {
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("/ip firewall section%d", r.IntN(distinct))
	case 1:
		return fmt.Sprintf("add address=10.0.%d.1/24 interface=ether%d", r.IntN(distinct), r.IntN(3))
	default:
		return fmt.Sprintf("add action=accept chain=forward comment=rule%d", r.IntN(distinct))
	}
}

// mutate edits a: deletes, inserts and replaces lines, from fresh lines
// when fresh (so the longest common subsequence is the kept lines only).
func mutate(r *rand.Rand, a []string, fresh bool, distinct int, serial *int) []string {
	var b []string
	line := func() string {
		if fresh {
			*serial++
			return fmt.Sprintf("add list=new address=192.0.2.%d comment=n%d", *serial%250, *serial)
		}
		return genLine(r, distinct)
	}
	rate := 1 + r.IntN(30)
	for _, l := range a {
		switch p := r.IntN(100); {
		case p < rate/2:
			// deleted
		case p < rate:
			b = append(b, line())
		case p < rate+rate/2:
			b = append(b, line(), l)
		default:
			b = append(b, l)
		}
	}
	if r.IntN(4) == 0 {
		b = append(b, line())
	}
	return b
}

// TestAgainstGNUDiff is the property test: on many generated pairs the
// diff is what GNU diff -U3 prints. With unique lines the changed lines
// are determined, so the hunks must be identical, headers included; with
// many repeated lines several minimal diffs exist, so the output must
// patch a into b and change exactly as many lines as diff --minimal.
func TestAgainstGNUDiff(t *testing.T) {
	if _, err := os.Stat("/usr/bin/diff"); err != nil {
		t.Fatalf("GNU diff is needed for this test: %v", err)
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(12, 2026))
	serial := 0
	pairs := 400
	if testing.Short() {
		pairs = 60
	}
	for n := range pairs {
		size := r.IntN(80)
		if n%10 == 0 {
			size = r.IntN(600)
		}
		unique := n%2 == 0
		a := make([]string, size)
		for i := range a {
			if unique {
				a[i] = fmt.Sprintf("add list=old address=198.51.100.%d comment=o%d", i%250, i)
			} else {
				a[i] = genLine(r, 4+r.IntN(8))
			}
		}
		b := mutate(r, a, unique, 6, &serial)
		edits := Edits(a, b)
		got := body(Unified("a", "b", Hunks(edits, Options{Context: 3})))
		if unique {
			if want := gnuDiff(t, dir, a, b, false); got != want {
				t.Fatalf("pair %d (unique lines): got\n%s\nGNU diff -U3:\n%s", n, got, want)
			}
			continue
		}
		// Applying the edits to a gives b.
		var old, nw []string
		for _, l := range edits {
			if l.Op != Insert {
				old = append(old, l.Text)
			}
			if l.Op != Delete {
				nw = append(nw, l.Text)
			}
		}
		if strings.Join(old, "\n") != strings.Join(a, "\n") || strings.Join(nw, "\n") != strings.Join(b, "\n") {
			t.Fatalf("pair %d: the edit script does not turn a into b", n)
		}
		count := func(u string) (del, ins int) {
			for _, l := range strings.Split(u, "\n") {
				switch {
				case strings.HasPrefix(l, "-"):
					del++
				case strings.HasPrefix(l, "+"):
					ins++
				}
			}
			return
		}
		gd, gi := count(gnuDiff(t, dir, a, b, true))
		md, mi := count(got)
		if gd != md || gi != mi {
			t.Fatalf("pair %d: -%d +%d lines, GNU diff --minimal -%d +%d\na=%q\nb=%q", n, md, mi, gd, gi, a, b)
		}
	}
}

// FuzzEdits: any two texts give an edit script that turns one into the
// other and is no longer than GNU's minimal count would allow (checked by
// the property test); here: no crash and a valid script.
func FuzzEdits(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd\n")
	f.Add("", "x\n")
	f.Fuzz(func(t *testing.T, x, y string) {
		a, b := SplitLines(x), SplitLines(y)
		var old, nw []string
		for _, l := range Edits(a, b) {
			if l.Op != Insert {
				old = append(old, l.Text)
			}
			if l.Op != Delete {
				nw = append(nw, l.Text)
			}
		}
		if strings.Join(old, "\n") != strings.Join(a, "\n") || strings.Join(nw, "\n") != strings.Join(b, "\n") {
			t.Fatal("edit script does not turn a into b")
		}
		Hunks(Edits(a, b), Options{Context: 3})
	})
}

// BenchmarkExport1MB diffs a 1 MB export against itself with 1% of the
// lines changed, the shape of a real nightly change on a large router.
func BenchmarkExport1MB(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var a []string
	size := 0
	for size < 1<<20 {
		l := fmt.Sprintf("add action=accept chain=forward comment=rule%d dst-address=10.%d.%d.0/24 protocol=tcp", len(a), r.IntN(256), r.IntN(256))
		a = append(a, l)
		size += len(l) + 1
	}
	serial := 0
	nb := make([]string, 0, len(a))
	for i, l := range a {
		switch i % 100 {
		case 7:
			serial++
			nb = append(nb, fmt.Sprintf("add comment=changed%d", serial))
		case 50:
			nb = append(nb, l, "add comment=inserted")
		default:
			nb = append(nb, l)
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		Unified("a", "b", Hunks(Edits(a, nb), Options{Context: 3}))
	}
}

// BenchmarkDisjoint1MB is the worst case: two 1 MB exports without a line
// in common (another router's), every line changed.
func BenchmarkDisjoint1MB(b *testing.B) {
	var x, y []string
	size := 0
	for size < 1<<20 {
		l := fmt.Sprintf("add action=accept chain=forward comment=rule%d dst-address=10.0.0.0/24", len(x))
		x = append(x, l)
		y = append(y, "set "+l)
		size += len(l) + 1
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		Edits(x, y)
	}
}
