// Command benchstore fills a fresh store with DEVICES x SNAPSHOTS realistic
// snapshots (the simulator's generator, normalised; one in CHANGE_EVERY a
// new configuration, the rest unchanged) and measures the reads the CLI
// makes: history of one device, show, diff of two snapshots, the fleet
// list (latest of every device and the last errors), and what one more
// unchanged snapshot adds to the store. Run by scripts/bench-store.sh.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/natstest"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
	"github.com/cfgsnap/cfgsnap/backend/store"
	jsstore "github.com/cfgsnap/cfgsnap/backend/store/jetstream"
	"github.com/cfgsnap/cfgsnap/backend/textdiff"
)

func env(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-store:", err)
		os.Exit(1)
	}
}

const perTenant = 100 // devices per tenant

func run() error {
	devices, snaps := env("DEVICES", 10000), env("SNAPSHOTS", 100)
	changeEvery := env("CHANGE_EVERY", 20)
	size := env("SIZE_BYTES", 20<<10)
	samples := env("SAMPLES", 200)
	which := os.Getenv("STORE")
	if which == "" {
		which = "sqlite"
	}
	dir, err := os.MkdirTemp("", "bench-store-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	keys := store.NewKeys(filepath.Join(dir, "content.key"))

	var st store.Store
	var unchangedBytes func() (int64, error)
	var batch func([]api.SnapshotRecord, [][]byte) error
	switch which {
	case "sqlite":
		sq, err := store.OpenSQLite(ctx, filepath.Join(dir, "data"), store.WithKeys(keys))
		if err != nil {
			return err
		}
		defer sq.Close()
		st = sq
		batch = func(r []api.SnapshotRecord, c [][]byte) error { _, err := sq.RecordBatch(ctx, r, c); return err }
		unchangedBytes = func() (int64, error) {
			if _, err := sq.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				return 0, err
			}
			var pages, free, psize int64
			for q, v := range map[string]*int64{`PRAGMA page_count`: &pages, `PRAGMA freelist_count`: &free, `PRAGMA page_size`: &psize} {
				if err := sq.DB().QueryRow(q).Scan(v); err != nil {
					return 0, fmt.Errorf("%s: %w", q, err)
				}
			}
			return (pages - free) * psize, nil
		}
	case "jetstream":
		cl, err := natstest.New(1, filepath.Join(dir, "nats"))
		if err != nil {
			return err
		}
		defer cl.Shutdown()
		nc, err := nats.Connect(cl.URL())
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		s, err := jsstore.Open(ctx, js, jsstore.Options{Keys: keys})
		if err != nil {
			return err
		}
		st = s
		stream, _, _ := jsstore.Names("")
		batch = func(r []api.SnapshotRecord, c [][]byte) error {
			// One writer per device: a device's records chain in order.
			byDev := map[string][]int{}
			for i := range r {
				byDev[r[i].DeviceID+"/"+r[i].TenantID] = append(byDev[r[i].DeviceID+"/"+r[i].TenantID], i)
			}
			var wg sync.WaitGroup
			errs := make(chan error, len(byDev))
			sem := make(chan struct{}, 32)
			for _, idx := range byDev {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					for _, i := range idx {
						if _, err := s.Record(ctx, r[i], c[i]); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			return <-errs
		}
		unchangedBytes = func() (int64, error) {
			// The history stream and the device indexes beside it.
			var total int64
			for _, name := range []string{stream, "KV_" + jsstore.IndexBucket("")} {
				str, err := js.Stream(ctx, name)
				if err != nil {
					return 0, err
				}
				info, err := str.Info(ctx)
				if err != nil {
					return 0, err
				}
				total += int64(info.State.Bytes)
			}
			return total, nil
		}
	default:
		return fmt.Errorf("STORE=%q: use sqlite or jetstream", which)
	}

	// Fill, one snapshot round at a time across the fleet (as schedules
	// do), committing every batch of records.
	start := time.Now()
	base := time.Now().Add(-time.Duration(snaps) * time.Hour)
	key := func(d int) (string, string) { return fmt.Sprintf("tenant-%d", d/perTenant), fmt.Sprintf("rtr-%05d", d) }
	cache := map[[2]int][]byte{} // (device, generation) -> normalised export
	export := func(d, gen int) ([]byte, error) {
		if c, ok := cache[[2]int{d, gen}]; ok {
			return c, nil
		}
		t, id := key(d)
		raw, err := devicesim.Generate(devicesim.Spec{Tenant: t, ID: id, SizeBytes: size}, int64(gen), base)
		if err != nil {
			return nil, err
		}
		c := routeros.Normalize(raw)
		delete(cache, [2]int{d, gen - 1})
		cache[[2]int{d, gen}] = c
		return c, nil
	}
	const batchSize = 2000
	var recs []api.SnapshotRecord
	var contents [][]byte
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		err := batch(recs, contents)
		recs, contents = recs[:0], contents[:0]
		return err
	}
	// add queues device d's snapshot of round, collected at: devices
	// change at different rounds; most rounds are unchanged.
	add := func(d, round int, at time.Time) error {
		c, err := export(d, (round+d%changeEvery)/changeEvery)
		if err != nil {
			return err
		}
		t, id := key(d)
		recs = append(recs, api.SnapshotRecord{TenantID: t, DeviceID: id, Trigger: api.TriggerScheduled,
			RequestedBy: "bench", RouterOSVersion: "7.16.2", CollectedAt: at, DurationMS: 900})
		contents = append(contents, c)
		return nil
	}
	for i := range snaps {
		for d := range devices {
			if err := add(d, i, base.Add(time.Duration(i)*time.Hour)); err != nil {
				return err
			}
			if len(recs) == batchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for d := 0; d < devices; d += 50 { // some devices fail
		t, id := key(d)
		if err := st.SetLastError(ctx, t, id, &api.DeviceError{Kind: api.KindTimeout, Error: "ssh: timed out"}); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "filled %d x %d in %s\n", devices, snaps, time.Since(start).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(1, 2))
	p99 := func(f func(t, id string) error) (float64, error) {
		var ds []time.Duration
		for range samples {
			t, id := key(rng.IntN(devices))
			s := time.Now()
			if err := f(t, id); err != nil {
				return 0, err
			}
			ds = append(ds, time.Since(s))
		}
		slices.Sort(ds)
		return float64(ds[(len(ds)*99+99)/100-1].Microseconds()) / 1000, nil
	}
	hist, err := p99(func(t, id string) error { _, _, err := st.History(ctx, t, id, 20, ""); return err })
	if err != nil {
		return err
	}
	show, err := p99(func(t, id string) error {
		r, err := st.Find(ctx, t, id, "latest")
		if err != nil {
			return err
		}
		_, err = st.Content(ctx, r.SHA256)
		return err
	})
	if err != nil {
		return err
	}
	diff, err := p99(func(t, id string) error {
		h, _, err := st.History(ctx, t, id, store.MaxHistoryLimit, "")
		if err != nil || len(h) == 0 {
			return err
		}
		// The latest against the oldest, by hash prefix as `diff` does.
		var text [2][]string
		for i, r := range []api.SnapshotRecord{h[len(h)-1], h[0]} {
			f, err := st.Find(ctx, t, id, r.SHA256[:12])
			if err != nil {
				return err
			}
			c, err := st.Content(ctx, f.SHA256)
			if err != nil {
				return err
			}
			text[i] = textdiff.SplitLines(string(c))
		}
		_ = textdiff.Unified("a", "b", textdiff.Hunks(textdiff.Edits(text[0], text[1]), textdiff.Options{Context: 3}))
		return nil
	})
	if err != nil {
		return err
	}
	var fleet time.Duration
	for range 3 {
		s := time.Now()
		l, err := st.LatestAll(ctx, "")
		if err != nil {
			return err
		}
		if _, err := st.LastErrors(ctx, ""); err != nil {
			return err
		}
		if len(l) != devices {
			return fmt.Errorf("fleet list has %d devices, want %d", len(l), devices)
		}
		if d := time.Since(s); fleet == 0 || d < fleet {
			fleet = d
		}
	}
	// One more unchanged snapshot of many devices, averaged.
	n := min(devices, 1000)
	before, err := unchangedBytes()
	if err != nil {
		return err
	}
	for d := range n {
		// The last round's configuration again, an hour later.
		if err := add(d, snaps-1, base.Add(time.Duration(snaps)*time.Hour)); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	after, err := unchangedBytes()
	if err != nil {
		return err
	}
	fmt.Printf("store: %d devices x %d snapshots: history p99 %.1f ms, show p99 %.1f ms, diff p99 %.1f ms, fleet list %d ms, unchanged snapshot %d bytes\n",
		devices, snaps, hist, show, diff, fleet.Milliseconds(), (after-before)/int64(n))
	return nil
}
