package routeros

import (
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in                  string
		major, minor, patch int
		pre, str            string
	}{
		{"6.49.10", 6, 49, 10, "", "6.49.10"},
		{"7.16.2", 7, 16, 2, "", "7.16.2"},
		{"7.16", 7, 16, 0, "", "7.16"},
		{"7.10rc1", 7, 10, 0, "rc1", "7.10rc1"},
		{"7.16 (stable)", 7, 16, 0, "", "7.16"},
		{"7.15.2 (stable)", 7, 15, 2, "", "7.15.2"},
		{"6.49.10 (long-term)", 6, 49, 10, "", "6.49.10"},
		{"7.18beta2 (testing)", 7, 18, 0, "beta2", "7.18beta2"},
		{"7.1beta4", 7, 1, 0, "beta4", "7.1beta4"},
		{"7.0alpha3", 7, 0, 0, "alpha3", "7.0alpha3"},
		{"7.12.1rc2", 7, 12, 1, "rc2", "7.12.1rc2"},
		{"v7.16", 7, 16, 0, "", "7.16"},
		{"  7.16\t(stable)\r\n", 7, 16, 0, "", "7.16"},
		{"7.16.0", 7, 16, 0, "", "7.16"},
	}
	for _, tc := range cases {
		v, err := ParseVersion(tc.in)
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", tc.in, err)
			continue
		}
		if v.Major != tc.major || v.Minor != tc.minor || v.Patch != tc.patch || v.Pre != tc.pre {
			t.Errorf("ParseVersion(%q) = %+v, want %d.%d.%d %q", tc.in, v, tc.major, tc.minor, tc.patch, tc.pre)
		}
		if v.Raw != strings.TrimSpace(tc.in) {
			t.Errorf("ParseVersion(%q).Raw = %q", tc.in, v.Raw)
		}
		if s := v.String(); s != tc.str {
			t.Errorf("ParseVersion(%q).String() = %q, want %q", tc.in, s, tc.str)
		}
	}
}

func TestParseVersionRejects(t *testing.T) {
	for _, in := range []string{
		"", "7", "7.", "seven", "7.x", ".16", "7..16", "7.16.", "-7.16", "+7.16",
		"7.16foo", "7.16rc", "7.16rc1x", "7.16 stable", "7.16 (stable", "7.16 ()",
		"7.16 (stable) extra", "vv7.16", "1234567.1", "7.16.2.1", "7,16",
	} {
		if v, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", in, v)
		}
	}
}

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVersionCompare(t *testing.T) {
	// Each version is older than the next.
	order := []string{"6.48.6", "6.49", "6.49.10", "7.0alpha3", "7.1beta2", "7.1beta10", "7.1rc1", "7.1",
		"7.9.2", "7.10beta8", "7.10rc1", "7.10rc2", "7.10", "7.10.1", "7.15.2", "7.16", "7.16.1", "8.0"}
	for i := range order {
		for j := range order {
			got := mustVersion(t, order[i]).Compare(mustVersion(t, order[j]))
			if want := sign(i - j); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if got := mustVersion(t, "7.16 (stable)").Compare(mustVersion(t, "v7.16")); got != 0 {
		t.Errorf("7.16 (stable) vs v7.16: %d, want 0", got)
	}
}

func TestVersionStringZero(t *testing.T) {
	if s := (Version{}).String(); s != "" {
		t.Errorf("zero Version prints %q, want empty", s)
	}
}

func TestParseResourceCaptures(t *testing.T) {
	for _, c := range captures {
		out, ok := loadCapture(t, c.name)[ResourceCommand]
		if !ok {
			t.Fatalf("%s has no %q reply", c.name, ResourceCommand)
		}
		for _, form := range [][]byte{out, lf(out)} {
			v, err := ParseResource(form)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if v.String() != c.version || !strings.HasSuffix(v.Raw, "(stable)") {
				t.Errorf("%s: version %q (raw %q), want %s (stable)", c.name, v, v.Raw, c.version)
			}
		}
	}
}

// resourceV6 is /system resource print of a RouterOS 6 device.
const resourceV6 = "                   uptime: 3w2d4h11m52s\r\n" +
	"                  version: 6.49.10 (long-term)\r\n" +
	"               build-time: Sep/06/2023 10:45:04\r\n" +
	"         factory-software: 6.44.6\r\n" +
	"              free-memory: 210.5MiB\r\n" +
	"             total-memory: 256.0MiB\r\n" +
	"                      cpu: ARMv7\r\n" +
	"                cpu-count: 4\r\n" +
	"            cpu-frequency: 896MHz\r\n" +
	"                 cpu-load: 1%\r\n" +
	"           free-hdd-space: 100.4MiB\r\n" +
	"          total-hdd-space: 128.0MiB\r\n" +
	"  write-sect-since-reboot: 2201\r\n" +
	"         write-sect-total: 110291\r\n" +
	"               bad-blocks: 0%\r\n" +
	"        architecture-name: arm\r\n" +
	"               board-name: RB4011iGS+\r\n" +
	"                 platform: MikroTik\r\n\r\n"

func TestParseResource(t *testing.T) {
	cases := []struct{ name, out, want string }{
		{"RouterOS 6", resourceV6, "6.49.10"},
		{"release candidate, LF", "  uptime: 1m\n  version: 7.10rc1 (testing)\n", "7.10rc1"},
		{"version first, no padding", "version: 7.16.2 (stable)", "7.16.2"},
	}
	for _, tc := range cases {
		v, err := ParseResource([]byte(tc.out))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if v.String() != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, v, tc.want)
		}
	}
	for name, out := range map[string]string{
		"empty":             "",
		"error reply":       "bad command name resource (line 1 column 9)\r\n",
		"package print":     "           channel: stable\r\n installed-version: 7.16\r\n",
		"unreadable number": "  version: seven (stable)\r\n",
	} {
		if v, err := ParseResource([]byte(out)); err == nil {
			t.Errorf("%s: got %s, want an error", name, v)
		} else if !strings.Contains(err.Error(), ResourceCommand) {
			t.Errorf("%s: error %q does not name the command", name, err)
		}
	}
}

func TestExportCommand(t *testing.T) {
	cases := []struct {
		version string
		secrets bool
		want    string
	}{
		{"7.16", true, "/export show-sensitive"},
		{"7.16", false, "/export"},
		{"7.10rc1", true, "/export show-sensitive"},
		{"7.0alpha3", false, "/export"},
		{"8.0", true, "/export show-sensitive"},
		{"6.49.10", true, "/export"},
		{"6.49.10", false, "/export hide-sensitive"},
		{"6.0", false, "/export hide-sensitive"},
	}
	for _, tc := range cases {
		if got := ExportCommand(mustVersion(t, tc.version), tc.secrets); got != tc.want {
			t.Errorf("ExportCommand(%s, %v) = %q, want %q", tc.version, tc.secrets, got, tc.want)
		}
	}
	if got := ExportCommand(Version{}, true); got != "/export" {
		t.Errorf("unknown version with secrets: %q, want the v6 form /export", got)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"6.49.10", "7.16.2", "7.10rc1", "7.16 (stable)", "7.1beta4", "v7.16", "7.16 (", "7.1rc99999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		if v.Compare(v) != 0 {
			t.Fatalf("%q does not compare equal to itself", s)
		}
		again, err := ParseVersion(v.String())
		if err != nil {
			t.Fatalf("%q parses, but its String %q does not: %v", s, v.String(), err)
		}
		if again.Compare(v) != 0 || again.String() != v.String() {
			t.Fatalf("%q: String %q parses back as %+v", s, v.String(), again)
		}
		_ = ExportCommand(v, true) // must not panic on any parsed version
	})
}
