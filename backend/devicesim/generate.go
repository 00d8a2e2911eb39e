package devicesim

import (
	"bytes"
	"time"
)

// Generate renders, without a fleet or a listener, the export (with
// secrets) that a device of spec gives at configuration generation gen:
// what benchmarks of the store need by the thousand (scripts/bench-store.sh).
func Generate(s Spec, gen int64, now time.Time) ([]byte, error) {
	f := &Fleet{cfg: Config{Now: func() time.Time { return now }}, started: now}
	d, err := newDevice(f, 0, s)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := d.writeExport(&buf, exportOpts{showSecrets: true}, now, gen); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
