package retention

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// series returns snapshots every step back from newest, newest first, with
// IDs s000 (oldest) upwards so that ID order is time order.
func series(newest time.Time, step time.Duration, n int) []Snapshot {
	out := make([]Snapshot, n)
	for i := range n {
		out[i] = Snapshot{ID: fmt.Sprintf("s%03d", n-1-i), At: newest.Add(-time.Duration(i) * step)}
	}
	return out
}

func kept(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.ID)
		}
	}
	return out
}

func TestEmptyPolicyKeepsEverything(t *testing.T) {
	ds := Apply(Policy{}, series(time.Now(), time.Hour, 5), time.UTC)
	if len(kept(ds)) != 5 {
		t.Fatalf("empty policy kept %v, want all 5", kept(ds))
	}
}

func TestNewestAndPinnedAlwaysKept(t *testing.T) {
	snaps := series(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Hour, 6)
	snaps[4].Pinned = true // s001
	// within 1ns keeps only the newest; last=0 is off.
	ds := Apply(Policy{Within: time.Nanosecond}, snaps, time.UTC)
	if got, want := kept(ds), []string{"s005", "s001"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if !slices.Contains(ds[0].Reasons, ReasonNewest) || !slices.Contains(ds[4].Reasons, ReasonPinned) {
		t.Fatalf("reasons: %v / %v", ds[0].Reasons, ds[4].Reasons)
	}
	for _, d := range ds {
		if !d.Keep && len(d.Reasons) != 0 {
			t.Fatalf("%s removed with reasons %v", d.ID, d.Reasons)
		}
	}
}

func TestLast(t *testing.T) {
	ds := Apply(Policy{Last: 3}, series(time.Now(), time.Minute, 10), time.UTC)
	if got, want := kept(ds), []string{"s009", "s008", "s007"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

func TestDailyKeepsNewestPerDay(t *testing.T) {
	// Every 6 hours over 5 days, newest 2026-03-05 18:00 UTC.
	snaps := series(time.Date(2026, 3, 5, 18, 0, 0, 0, time.UTC), 6*time.Hour, 20)
	ds := Apply(Policy{Daily: 3}, snaps, time.UTC)
	var days []string
	for _, d := range ds {
		if d.Keep {
			days = append(days, d.At.Format("01-02 15"))
		}
	}
	if want := []string{"03-05 18", "03-04 18", "03-03 18"}; !slices.Equal(days, want) {
		t.Fatalf("daily kept %v, want %v", days, want)
	}
}

func TestBucketsInLocalTime(t *testing.T) {
	loc := time.FixedZone("UTC+10", 10*3600)
	// 13:00 and 15:00 UTC are different UTC days from 23:00 UTC... use two
	// snapshots on one UTC day that fall on two local days.
	snaps := []Snapshot{
		{ID: "b", At: time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC)}, // 01:00 on the 2nd, local
		{ID: "a", At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, // 22:00 on the 1st, local
	}
	if got := kept(Apply(Policy{Daily: 2}, snaps, time.UTC)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("UTC buckets kept %v, want [b]", got)
	}
	if got := kept(Apply(Policy{Daily: 2}, snaps, loc)); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("local buckets kept %v, want [b a]", got)
	}
}

func TestWeeklyMonthlyYearlyAndUnion(t *testing.T) {
	// Daily snapshots for 400 days.
	newest := time.Date(2026, 6, 30, 3, 0, 0, 0, time.UTC)
	snaps := series(newest, 24*time.Hour, 400)
	ds := Apply(Policy{Daily: 7, Weekly: 4, Monthly: 6, Yearly: All}, snaps, time.UTC)
	n := len(kept(ds))
	// 7 daily; weekly: newest 4 ISO weeks, 1-2 of them beyond the 7 days;
	// monthly 6 (June's is the newest daily); yearly 2026, 2025 (2026's is
	// the newest).
	if n < 12 || n > 16 {
		t.Fatalf("kept %d snapshots: %v", n, kept(ds))
	}
	for _, d := range ds {
		if d.Keep && d.At.Before(newest.AddDate(0, -6, 0)) && !slices.Contains(d.Reasons, ReasonYearly) {
			t.Fatalf("%s kept beyond 6 months for %v", d.At, d.Reasons)
		}
	}
	for _, d := range ds {
		if d.At.Format("2006-01-02") == "2025-12-31" && (!d.Keep || !slices.Equal(d.Reasons, []string{ReasonYearly})) {
			t.Fatalf("newest snapshot of 2025: keep %v for %v, want yearly only", d.Keep, d.Reasons)
		}
	}
	if ds[len(ds)-1].Keep {
		t.Fatalf("oldest snapshot kept for %v", ds[len(ds)-1].Reasons)
	}
}

func TestWithinRelativeToNewest(t *testing.T) {
	// Backups stopped a year ago: within=48h still keeps the last two days of them.
	snaps := series(time.Now().AddDate(-1, 0, 0), 12*time.Hour, 10)
	if got := len(kept(Apply(Policy{Within: 48 * time.Hour}, snaps, time.UTC))); got != 5 {
		t.Fatalf("within 48h kept %d, want 5 (0h..48h)", got)
	}
}

func TestParse(t *testing.T) {
	p, err := Parse("last=3, daily=7,keep-weekly=4,monthly=all,within=30d")
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{Last: 3, Daily: 7, Weekly: 4, Monthly: All, Within: 30 * 24 * time.Hour}
	if p != want {
		t.Fatalf("Parse = %+v, want %+v", p, want)
	}
	if q, err := Parse(p.String()); err != nil || q != p {
		t.Fatalf("round trip %q = %+v, %v", p.String(), q, err)
	}
	for _, bad := range []string{"daily", "daily=x", "fortnightly=2", "within=-1h", "within=0", "last=-2", "within=1.5d"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if d, err := ParseDuration("1w2d3h"); err != nil || d != 9*24*time.Hour+3*time.Hour {
		t.Fatalf("ParseDuration = %v, %v", d, err)
	}
}

func TestConfigFor(t *testing.T) {
	c := Config{Default: Policy{Daily: 7}, Tenants: map[string]Policy{"acme": {Monthly: 12}}}
	if c.For("acme") != (Policy{Monthly: 12}) || c.For("other") != (Policy{Daily: 7}) {
		t.Fatalf("For: %+v %+v", c.For("acme"), c.For("other"))
	}
	if c.Empty() || !(Config{}).Empty() {
		t.Fatal("Empty wrong")
	}
}
