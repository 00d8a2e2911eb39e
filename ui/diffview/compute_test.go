package diffview

import (
	"fmt"
	"strings"
	"testing"
)

func TestComputeDiff(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	new := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl"
	res, err := Compute(old, new)
	if err != nil {
		t.Fatal(err)
	}
	if res.Adds != 2 || res.Dels != 1 || len(res.Hunks) != 2 {
		t.Fatalf("+%d −%d in %d hunks, want +2 −1 in 2", res.Adds, res.Dels, len(res.Hunks))
	}
	var got []string
	for _, l := range res.Lines {
		got = append(got, fmt.Sprintf("%c%d/%d %s", l.Kind, l.OldNo, l.NewNo, l.Text))
	}
	want := []string{
		"@0/0 @@ -1,5 +1,5 @@", " 1/1 a", "-2/0 b", "+0/2 B", " 3/3 c", " 4/4 d", " 5/5 e",
		"@0/0 @@ -9,3 +9,4 @@", " 9/9 i", " 10/10 j", " 11/11 k", "+0/12 l", `\0/0 \ No newline at end of file`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if same, _ := Compute(old, old); len(same.Lines) != 0 {
		t.Fatal("identical inputs gave a diff")
	}
}
