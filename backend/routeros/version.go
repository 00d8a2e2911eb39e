package routeros

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ResourceCommand is what cfgsnap runs to learn a device's version before
// choosing the export command; ParseResource reads its reply.
const ResourceCommand = "/system resource print"

// Version is a RouterOS version such as 6.49.10, 7.16 or 7.10rc1.
type Version struct {
	Major, Minor, Patch int
	Pre                 string // "rc1", "beta2", "alpha3" or "" for a release
	Raw                 string // the text it was parsed from, trimmed
}

// preKinds orders pre-release kinds; a release sorts after all of them.
var preKinds = []string{"alpha", "beta", "rc"}

// maxVersionDigits keeps a number field small enough never to overflow.
const maxVersionDigits = 6

// ParseVersion reads a version as RouterOS prints it: "7.16.2", "7.10rc1",
// "7.16 (stable)", "6.49.10 (long-term)", "7.1beta4", and also "v7.16".
func ParseVersion(s string) (Version, error) {
	v := Version{Raw: strings.TrimSpace(s)}
	rest := v.Raw
	if i := strings.IndexAny(rest, " \t"); i >= 0 {
		channel := strings.TrimSpace(rest[i:])
		if !isChannel(channel) {
			return Version{}, fmt.Errorf("RouterOS version %q: unexpected %q after the number", v.Raw, channel)
		}
		rest = rest[:i]
	}
	if strings.HasPrefix(rest, "v") || strings.HasPrefix(rest, "V") {
		rest = rest[1:]
	}
	var err error
	if v.Major, rest, err = versionNumber(rest); err != nil {
		return Version{}, fmt.Errorf("RouterOS version %q: major: %w", v.Raw, err)
	}
	if rest, err = expectDot(rest); err != nil {
		return Version{}, fmt.Errorf("RouterOS version %q: %w", v.Raw, err)
	}
	if v.Minor, rest, err = versionNumber(rest); err != nil {
		return Version{}, fmt.Errorf("RouterOS version %q: minor: %w", v.Raw, err)
	}
	if strings.HasPrefix(rest, ".") {
		if v.Patch, rest, err = versionNumber(rest[1:]); err != nil {
			return Version{}, fmt.Errorf("RouterOS version %q: patch: %w", v.Raw, err)
		}
	}
	if rest != "" {
		if _, _, ok := splitPre(rest); !ok {
			return Version{}, fmt.Errorf("RouterOS version %q: unexpected %q (want alpha, beta or rc and a number)", v.Raw, rest)
		}
		v.Pre = rest
	}
	return v, nil
}

// isChannel accepts the release channel RouterOS prints after a version,
// such as "(stable)", "(long-term)" or "(testing)".
func isChannel(s string) bool {
	if len(s) < 3 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	for _, c := range s[1 : len(s)-1] {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' {
			return false
		}
	}
	return true
}

func versionNumber(s string) (int, string, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	switch {
	case i == 0:
		return 0, s, errors.New("not a number")
	case i > maxVersionDigits:
		return 0, s, errors.New("number too long")
	}
	n, _ := strconv.Atoi(s[:i]) // only digits, and few of them
	return n, s[i:], nil
}

func expectDot(s string) (string, error) {
	if !strings.HasPrefix(s, ".") {
		return s, errors.New("want major.minor")
	}
	return s[1:], nil
}

// splitPre splits "rc1" into its kind's rank and its number.
func splitPre(pre string) (rank, num int, ok bool) {
	for i, kind := range preKinds {
		if digits, found := strings.CutPrefix(pre, kind); found {
			n, rest, err := versionNumber(digits)
			return i, n, err == nil && rest == ""
		}
	}
	return 0, 0, false
}

// String is the canonical form, "7.16", "6.49.10" or "7.10rc1", or "" for
// the zero Version (version unknown).
func (v Version) String() string {
	if v == (Version{}) {
		return ""
	}
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
	if v.Patch != 0 {
		s += "." + strconv.Itoa(v.Patch)
	}
	return s + v.Pre
}

// Compare returns -1, 0 or +1 as v is older than, the same as or newer than
// o. A pre-release sorts before its release: 7.10rc1 < 7.10 < 7.10.1.
func (v Version) Compare(o Version) int {
	for _, d := range [...]int{v.Major - o.Major, v.Minor - o.Minor, v.Patch - o.Patch} {
		if d != 0 {
			return sign(d)
		}
	}
	switch {
	case v.Pre == o.Pre:
		return 0
	case v.Pre == "":
		return 1
	case o.Pre == "":
		return -1
	}
	vr, vn, _ := splitPre(v.Pre)
	or, on, _ := splitPre(o.Pre)
	if vr != or {
		return sign(vr - or)
	}
	return sign(vn - on)
}

func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

// ParseResource reads the version from the reply to ResourceCommand, whose
// lines look like "             version: 7.16 (stable)" with CRLF or LF
// ends.
func ParseResource(out []byte) (Version, error) {
	for rest := out; len(rest) > 0; {
		var line []byte
		line, rest = nextSegment(rest)
		value, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("version:"))
		if !ok {
			continue
		}
		v, err := ParseVersion(string(value))
		if err != nil {
			return Version{}, fmt.Errorf("read %s: %w", ResourceCommand, err)
		}
		return v, nil
	}
	return Version{}, fmt.Errorf("read %s: no \"version:\" line in the reply", ResourceCommand)
}

// ExportCommand is the export command for v. RouterOS 7 hides secrets
// unless asked with show-sensitive; RouterOS 6 shows them unless asked
// with hide-sensitive and rejects show-sensitive. An unknown (zero)
// version gets the v6 form, which is what older devices understand.
func ExportCommand(v Version, showSecrets bool) string {
	if v.Major >= 7 {
		if showSecrets {
			return "/export show-sensitive"
		}
		return "/export"
	}
	if showSecrets {
		return "/export"
	}
	return "/export hide-sensitive"
}
