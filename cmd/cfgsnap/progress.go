package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
	"github.com/charmbracelet/x/ansi"
)

// progressLine is the live status line of `backup` on a terminal's stderr:
// how many are done, and the running jobs with their stage. Redrawn at most
// ten times a second; silent when stderr is not a terminal.
type progressLine struct {
	w        io.Writer
	live     bool
	total    int
	mu       sync.Mutex
	finished int
	running  map[string]api.ProgressEvent
	shown    bool
	quit     chan struct{}
	stopped  sync.Once
}

func newProgressLine(w io.Writer, live bool, total int) *progressLine {
	p := &progressLine{w: w, live: live, total: total, running: map[string]api.ProgressEvent{}, quit: make(chan struct{})}
	if live {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-p.quit:
					return
				case <-t.C:
					p.redraw()
				}
			}
		}()
	}
	return p
}

func (p *progressLine) event(ev api.ProgressEvent) {
	p.mu.Lock()
	p.running[ev.TenantID+"/"+ev.DeviceID] = ev
	p.mu.Unlock()
}

func (p *progressLine) done(target string) {
	p.mu.Lock()
	delete(p.running, target)
	p.finished++
	p.mu.Unlock()
}

func (p *progressLine) clear() {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r"+ansi.EraseEntireLine)
		p.shown = false
	}
}

func (p *progressLine) redraw() {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for k := range p.running {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d]", p.finished, p.total)
	for i, n := range names {
		if i == 3 {
			fmt.Fprintf(&b, " +%d more", len(names)-3)
			break
		}
		ev := p.running[n]
		fmt.Fprintf(&b, "  %s %s", n, ev.Stage)
		if ev.Bytes > 0 {
			fmt.Fprintf(&b, " %s", textfmt.Bytes(ev.Bytes))
		}
	}
	line := b.String()
	if len(line) > 120 {
		line = line[:119] + "…"
	}
	fmt.Fprint(p.w, "\r"+ansi.EraseEntireLine+line)
	p.shown = true
}

func (p *progressLine) stop() {
	p.stopped.Do(func() { close(p.quit) })
	p.clear()
}
