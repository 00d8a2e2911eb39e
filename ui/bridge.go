package ui

import (
	"context"
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// maxBridgeEvents bounds the events (not progress) waiting for the event
// loop. Progress is coalesced per job, so only snapshot notifications and
// watch results count here; beyond the bound they are dropped and the UI
// reloads instead of buffering without limit.
const maxBridgeEvents = 1024

// bridge carries client callbacks into the Bubble Tea event loop. Callbacks
// run on the client's goroutines and must never block, and p.Send blocks,
// so callbacks only record what happened here; one tea.Cmd at a time waits
// on the wake channel and delivers everything pending as one message.
// Progress keeps only the latest event per job, plus when each stage
// began (at most six numbers), so a slow terminal sees the newest stage and
// a complete timeline, never a backlog.
type bridge struct {
	mu       sync.Mutex
	progress map[int]*jobProgress // by local job id
	order    []int
	events   []tea.Msg
	dropped  int
	wake     chan struct{}
}

// bridgeMsg is everything that arrived since the last delivery.
type bridgeMsg struct {
	progress []jobProgress
	events   []tea.Msg
	dropped  int
}

type jobProgress struct {
	job     int
	ev      api.ProgressEvent   // the latest
	reached map[api.Stage]int64 // elapsed ms at which each stage was first seen
}

func newBridge() *bridge {
	return &bridge{progress: map[int]*jobProgress{}, wake: make(chan struct{}, 1)}
}

// PushProgress records the latest progress of job.
func (b *bridge) PushProgress(job int, ev api.ProgressEvent) {
	b.mu.Lock()
	p := b.progress[job]
	if p == nil {
		p = &jobProgress{job: job, reached: map[api.Stage]int64{}}
		b.progress[job] = p
		b.order = append(b.order, job)
	}
	p.ev = ev
	if _, ok := p.reached[ev.Stage]; !ok {
		p.reached[ev.Stage] = ev.ElapsedMS
	}
	b.mu.Unlock()
	b.signal()
}

// Push records an event.
func (b *bridge) Push(msg tea.Msg) {
	b.mu.Lock()
	if len(b.events) >= maxBridgeEvents {
		b.dropped++
	} else {
		b.events = append(b.events, msg)
	}
	b.mu.Unlock()
	b.signal()
}

func (b *bridge) signal() {
	select {
	case b.wake <- struct{}{}:
	default: // a wake-up is already pending; it will take this too
	}
}

// take returns what is pending, or false when nothing is.
func (b *bridge) take() (bridgeMsg, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.order) == 0 && len(b.events) == 0 && b.dropped == 0 {
		return bridgeMsg{}, false
	}
	m := bridgeMsg{events: b.events, dropped: b.dropped}
	m.progress = make([]jobProgress, 0, len(b.order))
	for _, id := range b.order {
		m.progress = append(m.progress, *b.progress[id])
	}
	b.progress = map[int]*jobProgress{}
	b.order = nil
	b.events = nil
	b.dropped = 0
	return m, true
}

// listen is the tea.Cmd that waits for the next delivery. The model issues
// it again after each bridgeMsg, so exactly one is outstanding.
func (b *bridge) listen(ctx context.Context) tea.Cmd {
	return func() tea.Msg {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-b.wake:
				if m, ok := b.take(); ok {
					return m
				}
			}
		}
	}
}
