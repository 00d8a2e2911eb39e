package search

import (
	"regexp"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

func TestHighlightKeepsTheFirstMatchInView(t *testing.T) {
	st := common.NewStyles(true, true)
	text := strings.Repeat("x", 100) + " secret-word tail"
	re := regexp.MustCompile("secret-word")
	got := Highlight(text, re, 40, &st)
	if w := ansi.StringWidth(got); w != 40 {
		t.Fatalf("width %d, want 40", w)
	}
	plain := ansi.Strip(got)
	if !strings.HasPrefix(plain, "…") || !strings.Contains(plain, "secret-word") {
		t.Fatalf("match not brought into view: %q", plain)
	}
	// A match that fits is not moved; an empty match (^) styles nothing.
	if p := ansi.Strip(Highlight("set name=r1", regexp.MustCompile("^"), 20, &st)); p != "set name=r1         " {
		t.Fatalf("empty match changed the text: %q", p)
	}
	if p := ansi.Strip(Highlight("set name=r1", nil, 5, &st)); p != "set …" {
		t.Fatalf("no regexp: %q", p)
	}
}

func TestColumnsDropTheMenuWhenNarrow(t *testing.T) {
	ms := []api.SearchMatch{{TenantID: "acme", DeviceID: "core-rtr-1", Line: 120, Menu: "/interface wireguard peers"}}
	c := Columns(200, ms)
	if c.loc != len("acme/core-rtr-1:120") || c.menu != len("/interface wireguard peers") {
		t.Fatalf("wide columns %+v", c)
	}
	if c := Columns(40, ms); c.menu != 0 || c.text < 20 {
		t.Fatalf("narrow columns %+v: the menu goes first", c)
	}
	for _, w := range []int{40, 80, 120} {
		c := Columns(w, ms)
		row := RenderRow(ms[0], nil, c, true, &common.Styles{})
		if got := ansi.StringWidth(row); got != w {
			t.Fatalf("row at %d is %d cells", w, got)
		}
	}
}
