package textfmt

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{-1: "?", 0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 8 << 10: "8.0 KiB",
		120 << 10: "120 KiB", 3<<20 + 1<<19: "3.5 MiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAgeFitsSevenCells(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		-5 * time.Second: "now", 0: "now", 42 * time.Second: "42s ago", 59 * time.Minute: "59m ago",
		3 * time.Hour: "3h ago", 47 * time.Hour: "47h ago", 5 * day: "5d ago", 6 * week: "6w ago", 2*year + day: "2y ago",
	} {
		got := Age(now, now.Add(-d))
		if got != want || len(got) > 7 {
			t.Errorf("Age(%v) = %q, want %q (at most 7 cells)", d, got, want)
		}
	}
	if Age(now, time.Time{}) != "never" {
		t.Error("the zero time is not never")
	}
}

func TestShortHashAndNoColor(t *testing.T) {
	if ShortHash("0123456789abcdef") != "0123456789ab" || ShortHash("abc") != "abc" {
		t.Error("ShortHash")
	}
	t.Setenv("NO_COLOR", "")
	if NoColor() {
		t.Error("an empty NO_COLOR asks for no colour")
	}
	t.Setenv("NO_COLOR", "0")
	if !NoColor() {
		t.Error("NO_COLOR=0 (any non-empty value) does not turn colour off")
	}
}
