package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store/storetest"
)

// BenchmarkRecord stores 20 KB snapshots on R3 through the three-node
// cluster, as every backup does: "changed" with new content (an object put
// and a history record), "unchanged" with the same content (only the
// record). The parallel run has 16 writers on different devices: the
// throughput ceiling of the storage path, set by the stream leaders.
func BenchmarkRecord(b *testing.B) {
	export := storetest.ExportText(20 << 10)
	ctx := context.Background()
	for _, changed := range []bool{true, false} {
		name := map[bool]string{true: "changed", false: "unchanged"}[changed]
		b.Run(name, func(b *testing.B) {
			s := open(b, 0, newPrefix(), Options{})
			var i atomic.Int64
			b.SetBytes(int64(len(export)))
			b.SetParallelism(8) // 16 writers on two cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := i.Add(1)
					content := export
					if changed {
						content = fmt.Appendf(append([]byte(nil), export...), "# %d\n", n)
					}
					rec := api.SnapshotRecord{TenantID: "acme", DeviceID: fmt.Sprintf("r%d", n%64)}
					if _, err := s.Record(ctx, rec, content); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
