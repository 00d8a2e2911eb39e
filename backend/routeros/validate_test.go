package routeros

import (
	"errors"
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

func TestValidateCaptures(t *testing.T) {
	for _, c := range captures {
		if err := Validate(Normalize(captureExport(t, c.name))); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	for name, raw := range map[string]string{
		"minimal":                    "/system identity\r\nset name=r1\r\n",
		"error words inside a value": "/ip firewall filter\r\nadd action=drop chain=input comment=\"syntax error\"\r\n",
		"error words on a continuation": "/ip firewall filter\r\nadd action=drop chain=input comment=\\\r\n" +
			"    \"bad command name\" disabled=yes\r\n",
	} {
		if err := Validate(Normalize([]byte(raw))); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name, raw string
		msg       []string // the message must say these
	}{
		{"empty", "", []string{"empty"}},
		{"blank", "\r\n  \r\n", []string{"empty"}},
		{"header only", "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n", []string{"empty"}},
		{"comments only", "# 2024-10-25 12:09:43 by RouterOS 7.15.2\r\n# software id = A0AA-AAA0\r\n#\r\n# model = L009UiGS\r\n", []string{"no configuration section", `"/"`}},
		{"text without a section", "interrupted\r\n", []string{"no configuration section"}},
		{"bad command name", "bad command name exprot (line 1 column 2)\r\n", []string{`"bad command name exprot (line 1 column 2)"`, "RouterOS version"}},
		{"show-sensitive on RouterOS 6", "expected end of command (line 1 column 9)\r\n", []string{`"expected end of command (line 1 column 9)"`, "instead of an export"}},
		{"syntax error", "syntax error (line 1 column 5)\r\n", []string{`"syntax error (line 1 column 5)"`}},
		{"failure", "failure: configuration export failed\r\n", []string{`"failure: configuration export failed"`}},
		{"no such item", "no such item\r\n", []string{`"no such item"`}},
		{"permissions", "not enough permissions (9)\r\n", []string{`"not enough permissions (9)"`, "policy"}},
		{"error after part of an export", "# software id = A0AA-AAA0\r\n/system identity\r\nset name=r1\r\nfailure: out of memory\r\n", []string{`"failure: out of memory" (line 4)`}},
		{"indented error", "/system identity\r\n  syntax error (line 2 column 1)\r\n", []string{`"syntax error (line 2 column 1)"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(Normalize([]byte(tc.raw)))
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			var apiErr *api.Error
			if !errors.As(err, &apiErr) || apiErr.Kind != api.KindInvalidOutput {
				t.Fatalf("error %v (%T) is not an *api.Error of kind %s", err, err, api.KindInvalidOutput)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not say %q", err, m)
				}
			}
		})
	}
}

func TestValidateMessageBounded(t *testing.T) {
	err := Validate([]byte("failure: " + strings.Repeat("x", 10_000) + "\n"))
	if err == nil {
		t.Fatal("Validate accepted it")
	}
	if n := len(err.Error()); n > 400 {
		t.Fatalf("message of %d bytes: %.100s...", n, err)
	}
}
