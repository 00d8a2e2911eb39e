package diffview

import (
	"fmt"
	"strings"
	"testing"
)

func render(res Result) string {
	var got []string
	for _, l := range res.Lines {
		got = append(got, fmt.Sprintf("%c%d/%d %s", l.Kind, l.OldNo, l.NewNo, l.Text))
	}
	return strings.Join(got, "\n")
}

func TestComputeIsALineDiffWithMenusInHeaders(t *testing.T) {
	old := "/ip address\na\nb\nc\nd\ne\nf\ng\nh\n/ip dns\ni\nj\nk\n"
	new := "/ip address\na\nB\nc\nd\ne\nf\ng\nh\n/ip dns\ni\nj\nk\nl\n"
	res := Compute(old, new).Build(false)
	if res.Adds != 2 || res.Dels != 1 || len(res.Hunks) != 2 {
		t.Fatalf("+%d −%d in %d hunks, want +2 −1 in 2:\n%s", res.Adds, res.Dels, len(res.Hunks), render(res))
	}
	want := strings.Join([]string{
		"@0/0 @@ -1,6 +1,6 @@ /ip address", " 1/1 /ip address", " 2/2 a", "-3/0 b", "+0/3 B", " 4/4 c", " 5/5 d", " 6/6 e",
		"@0/0 @@ -11,3 +11,4 @@ /ip dns", " 11/11 i", " 12/12 j", " 13/13 k", "+0/14 l",
	}, "\n")
	if got := render(res); got != want {
		t.Fatalf("diff lines:\n%s\nwant:\n%s", got, want)
	}
	if len(res.Sections) != 2 || res.Lines[res.Sections[0]].Text != "b" || res.Lines[res.Sections[1]].Text != "l" {
		t.Fatalf("sections at %v, want the first change of each menu", res.Sections)
	}
	if same := Compute(old, old).Build(false); len(same.Lines) != 0 {
		t.Fatal("identical inputs gave a diff")
	}
}

// An insertion is one "+" line, never a line removed and added again.
func TestOneLineInsertionIsOneAddedLine(t *testing.T) {
	old := "/ip firewall address-list\nadd address=192.0.2.1 list=a\nadd address=192.0.2.3 list=a\n"
	new := "/ip firewall address-list\nadd address=192.0.2.1 list=a\nadd address=192.0.2.2 list=a\nadd address=192.0.2.3 list=a\n"
	res := Compute(old, new).Build(false)
	if res.Adds != 1 || res.Dels != 0 {
		t.Fatalf("+%d −%d, want +1 −0:\n%s", res.Adds, res.Dels, render(res))
	}
}

func TestSecretsAreMaskedUnlessRevealed(t *testing.T) {
	old := "/ppp secret\nadd name=alice password=hunter2 service=pppoe\nadd name=bob password=same\n"
	new := "/ppp secret\nadd name=alice password=s3cret service=pppoe\nadd name=bob password=same\nadd name=carol password=x\n"
	d := Compute(old, new)
	masked := render(d.Build(false))
	for _, s := range []string{"hunter2", "s3cret", "password=x"} {
		if strings.Contains(masked, s) {
			t.Fatalf("secret %q shown in the redacted diff:\n%s", s, masked)
		}
	}
	if !strings.Contains(masked, "-2/0 add name=alice password=<redacted:changed> service=pppoe") ||
		!strings.Contains(masked, "+0/2 add name=alice password=<redacted:changed> service=pppoe") {
		t.Fatalf("a secret-only change is not a changed pair:\n%s", masked)
	}
	if shown := render(d.Build(true)); !strings.Contains(shown, "hunter2") || !strings.Contains(shown, "s3cret") {
		t.Fatalf("revealed diff lacks the secrets:\n%s", shown)
	}
}

func TestSectionJumps(t *testing.T) {
	secs := []int{4, 10, 20}
	for _, c := range []struct {
		off, next, prev  int
		hasNext, hasPrev bool
	}{{0, 4, 0, true, false}, {4, 10, 0, true, false}, {5, 10, 4, true, true}, {20, 0, 10, false, true}, {25, 0, 20, false, true}} {
		n, okN := NextSection(secs, c.off)
		p, okP := PrevSection(secs, c.off)
		if n != c.next || okN != c.hasNext || p != c.prev || okP != c.hasPrev {
			t.Errorf("at %d: next %d,%v prev %d,%v; want %d,%v %d,%v", c.off, n, okN, p, okP, c.next, c.hasNext, c.prev, c.hasPrev)
		}
	}
}
