package store

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/testfixtures"
)

// fill stores perDevice snapshots for each of tenants×devices devices in one
// transaction, through Record's own transaction body.
func fill(b *testing.B, s *SQLite, tenants, devices, perDevice int) {
	ctx := context.Background()
	contents := [][]byte{[]byte("/system identity\nset name=a\n"), []byte("/system identity\nset name=b\n")}
	var packed [][]byte
	for _, c := range contents {
		p, err := s.keys.SealContent(Sum(c), c)
		if err != nil {
			b.Fatal(err)
		}
		packed = append(packed, p)
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	for t := range tenants {
		for d := range devices {
			for i := range perDevice {
				rec, err := Prepare(api.SnapshotRecord{TenantID: fmt.Sprintf("tenant-%d", t), DeviceID: fmt.Sprintf("rtr-%d", d),
					Trigger: api.TriggerScheduled, RouterOSVersion: "7.16"}, contents[i%2])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := insertRecord(ctx, tx, rec, packed[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLatestAll10k reads the latest snapshot of 10,000 devices (10
// tenants of 1,000, each with a history of 5), as the device list of every
// tenant does.
func BenchmarkLatestAll10k(b *testing.B) {
	s := openStore(b, b.TempDir())
	fill(b, s, 10, 1000, 5)
	ctx := context.Background()
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			m, err := s.LatestAll(ctx, "")
			if err != nil || len(m) != 10_000 {
				b.Fatalf("LatestAll: %d devices, %v", len(m), err)
			}
		}
	})
	b.Run("one-tenant", func(b *testing.B) {
		for b.Loop() {
			m, err := s.LatestAll(ctx, "tenant-3")
			if err != nil || len(m) != 1000 {
				b.Fatalf("LatestAll: %d devices, %v", len(m), err)
			}
		}
	})
}

// BenchmarkRecord stores a real RouterOS export, as every backup does:
// "changed" with new content each time, "unchanged" with the same content.
func BenchmarkRecord(b *testing.B) {
	export, err := os.ReadFile(testfixtures.Path(b, "routeros#L009UiGS_7.15.2#output.txt"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, changed := range []bool{true, false} {
		name := map[bool]string{true: "changed", false: "unchanged"}[changed]
		b.Run(name, func(b *testing.B) {
			s := openStore(b, b.TempDir())
			i := 0
			for b.Loop() {
				content := export
				if changed {
					content = fmt.Appendf(append([]byte(nil), export...), "# %d\n", i)
				}
				i++
				if _, err := s.Record(ctx, api.SnapshotRecord{TenantID: "acme", DeviceID: "core-rtr-1"}, content); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(export)))
		})
	}
}
