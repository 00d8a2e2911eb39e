package service_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/service"
)

// BenchmarkTrigger measures trigger-to-final-reply latency of one backup of
// a device that answers at once (a 2 KB export over loopback SSH), in
// process (direct mode) and through the service over NATS; the difference
// is what the service and NATS add. It reports p50 and p99 in ms.
func BenchmarkTrigger(b *testing.B) {
	h := newHarness(b, []devicesim.Spec{{Tenant: "acme", ID: "fast-1", SizeBytes: 2 << 10}})
	st := h.stack()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.service(service.Config{Stack: st, Logger: quiet})
	direct := client.NewDirect(st)
	remote := h.remote(client.RemoteOptions{})
	ctx := context.Background()
	for _, c := range []struct {
		name string
		c    client.Client
	}{{"direct", direct}, {"nats", remote}} {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				rep, err := c.c.Backup(ctx, "acme", "fast-1", client.BackupOptions{}, nil)
				if err != nil || rep.Status != api.StatusSuccess {
					b.Fatalf("%+v %v", rep, err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}
