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
