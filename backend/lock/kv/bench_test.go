package kv

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/lock"
)

// BenchmarkLease is a backup's use of the lock on an R3 bucket: acquire,
// one renewal, release, by 16 concurrent jobs on different devices.
func BenchmarkLease(b *testing.B) {
	l := open(b, 0, newBucket())
	ctx := context.Background()
	var i atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := i.Add(1)
			ls, err := l.Acquire(ctx, fmt.Sprintf("acme/r%d", n), lock.Info{Holder: "bench", JobID: fmt.Sprint(n)}, 30*time.Second)
			if err == nil {
				err = ls.Renew(ctx, api.StageExporting, 30*time.Second)
			}
			if err == nil {
				err = ls.Release(ctx)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
