package fleet

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
)

// The device table never draws wider than the pane, whatever the width.
func TestDeviceTableFitsItsWidth(t *testing.T) {
	st := common.NewStyles(false, true)
	row := deviceRow{name: strings.Repeat("n", 80), host: strings.Repeat("h", 80), version: "6.49.10", age: "59m ago",
		hash: "0123456789ab", changed: "yes", state: jobs.RowState{Kind: jobs.StFailed, Err: api.KindHostKeyMismatch}, spin: "⠋"}
	for w := 50; w <= 260; w++ {
		c := deviceColumns(w)
		if got := ansi.StringWidth(renderDeviceRow(row, c, true, true, true, &st)); got > w {
			t.Fatalf("device row is %d cells at width %d", got, w)
		}
		if got := ansi.StringWidth(renderDeviceHeader(c, sortName, false, &st)); got > w {
			t.Fatalf("device header is %d cells at width %d", got, w)
		}
	}
}

// The row cache gives what renderDeviceRow gives, follows every input
// (cursor, mark, focus, state, styles) and keeps only the last frame's
// lines.
func TestRowCacheFollowsItsInputs(t *testing.T) {
	dark, light := common.NewStyles(false, true), common.NewStyles(false, false)
	c := deviceColumns(120)
	a := deviceRow{name: "r1", host: "10.0.0.1", age: "never", never: true}
	b := a
	b.state = jobs.RowState{Kind: jobs.StFailed, Err: api.KindAuthFailed}
	var rc rowCache
	for frame := range 3 {
		for _, tc := range []struct {
			r                       deviceRow
			cursor, marked, focused bool
			st                      *common.Styles
		}{
			{a, false, false, true, &dark}, {a, true, false, true, &dark}, {a, true, false, false, &dark},
			{a, false, true, true, &dark}, {b, false, false, true, &dark}, {a, true, false, true, &light},
		} {
			want := renderDeviceRow(tc.r, c, tc.cursor, tc.marked, tc.focused, tc.st)
			if got := rc.render(tc.r, c, tc.cursor, tc.marked, tc.focused, tc.st); got != want {
				t.Fatalf("frame %d: cached row %q, want %q", frame, got, want)
			}
		}
		rc.endFrame()
		if len(rc.prev) != 6 || len(rc.cur) != 0 {
			t.Fatalf("frame %d: cache holds %d+%d lines, want the 6 of the last frame", frame, len(rc.prev), len(rc.cur))
		}
	}
	if dark.ID() == light.ID() {
		t.Fatal("two NewStyles calls share an ID")
	}
}
