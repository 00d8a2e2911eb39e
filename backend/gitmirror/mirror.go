package gitmirror

import (
	"context"
	"log/slog"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// DefaultDebounce is how long a mirror waits for more snapshots before it
// exports: a scheduled round stores many in a burst, and one export with
// many commits costs far less than many exports of one.
const DefaultDebounce = 2 * time.Second

// Mirror keeps a repository current as snapshots arrive (serve
// --git-mirror). One goroutine (Run) does every export, so this process
// never races itself on the repository; another process writing the same
// repository is caught by update-ref's compare-and-swap and retried.
type Mirror struct {
	exp      *Exporter
	debounce time.Duration
	log      *slog.Logger
	kick     chan struct{}
	done     chan struct{}
}

// NewMirror returns a mirror of src into opt.Dir; debounce <= 0 means
// DefaultDebounce.
func NewMirror(src Source, opt Options, debounce time.Duration, log *slog.Logger) *Mirror {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mirror{exp: NewExporter(src, opt), debounce: debounce, log: log,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// Stored is the pipeline's OnStored: it asks for an export and never
// blocks.
func (m *Mirror) Stored(api.SnapshotRecord) {
	select {
	case m.kick <- struct{}{}:
	default: // an export is already asked for
	}
}

// Done is closed when Run has returned.
func (m *Mirror) Done() <-chan struct{} { return m.done }

// Run exports once at start (catching up on what arrived while no mirror
// ran), then after each burst of snapshots, until ctx ends.
func (m *Mirror) Run(ctx context.Context) {
	defer close(m.done)
	m.export(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		}
		// Wait until the burst is over, but not forever under a steady
		// stream of snapshots.
		quiet := time.NewTimer(m.debounce)
		limit := time.NewTimer(10 * m.debounce)
	wait:
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				limit.Stop()
				return
			case <-m.kick:
				quiet.Reset(m.debounce)
			case <-quiet.C:
				break wait
			case <-limit.C:
				break wait
			}
		}
		quiet.Stop()
		limit.Stop()
		m.export(ctx)
	}
}

func (m *Mirror) export(ctx context.Context) {
	start := time.Now()
	res, err := m.exp.Export(ctx)
	if err != nil && ctx.Err() == nil {
		// Another writer moved the branch: one more try on the new tip.
		res, err = m.exp.Export(ctx)
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("git mirror export failed; the next snapshot retries", "dir", m.exp.opt.Dir, "err", err)
		}
		return
	}
	if res.Commits > 0 {
		m.log.Info("git mirror updated", "dir", m.exp.opt.Dir, "commits", res.Commits, "devices", res.Devices,
			"head", res.Head, "took", time.Since(start).Round(time.Millisecond))
	}
}
