package ui

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

// harness drives the model like the Bubble Tea runtime does, but
// deterministically: commands run on goroutines, and settle waits until
// every command has returned except the ones the fake client holds for
// the test (running backups, gated requests). Client callbacks go through
// the model's real bridge, which the harness drains.
type harness struct {
	t           testing.TB
	m           *Model
	f           *fakeClient
	msgs        chan tea.Msg
	outstanding atomic.Int32
	quit        bool
	clipboard   string
}

func newHarness(t testing.TB, f *fakeClient, w, h int, tweak ...func(*Options)) *harness {
	t.Helper()
	opts := Options{Client: f, User: "ops@jump1", Concurrency: 4, Version: "v1.0.0-test", Now: func() time.Time { return fixedNow }}
	for _, fn := range tweak {
		fn(&opts)
	}
	m := New(opts)
	m.syncMode = true
	m.c.Loc = time.UTC
	hs := &harness{t: t, m: m, f: f, msgs: make(chan tea.Msg, 4096)}
	t.Cleanup(m.shutdown)
	hs.run(m.Init())
	if w > 0 {
		hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	}
	hs.settle()
	return hs
}

func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	h.outstanding.Add(1)
	go func() {
		msg := cmd()
		h.msgs <- msg
		h.outstanding.Add(-1)
	}()
}

func (h *harness) deliver(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
		return
	case tea.QuitMsg:
		h.quit = true
		return
	}
	if fmt.Sprintf("%T", msg) == "tea.setClipboardMsg" {
		h.clipboard = fmt.Sprint(msg)
		return
	}
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

// settle processes messages until nothing is left to do but what the test
// itself must release.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case msg := <-h.msgs:
			h.deliver(msg)
			continue
		default:
		}
		if bm, ok := h.m.bridge.take(); ok {
			h.deliver(bm)
			continue
		}
		if h.outstanding.Load() == h.f.parked.Load() && len(h.msgs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("settle: %d commands outstanding, %d held by the fake", h.outstanding.Load(), h.f.parked.Load())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	h.deliver(msg)
	h.settle()
}

// keys types each key: "b", "enter", "ctrl+c", or a run of plain text
// with type("core").
func (h *harness) keys(keys ...string) {
	h.t.Helper()
	for _, k := range keys {
		h.send(keyPress(k))
	}
}

func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.send(keyPress(string(r)))
	}
}

func keyPress(k string) tea.KeyPressMsg {
	special := map[string]rune{
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "up": tea.KeyUp, "down": tea.KeyDown,
		"pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "home": tea.KeyHome, "end": tea.KeyEnd,
		"tab": tea.KeyTab, "backspace": tea.KeyBackspace, "left": tea.KeyLeft, "right": tea.KeyRight,
	}
	if r, ok := special[k]; ok {
		return tea.KeyPressMsg{Code: r}
	}
	if k == "space" {
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	}
	if mod, rest, ok := strings.Cut(k, "+"); ok && mod == "ctrl" {
		return tea.KeyPressMsg{Code: []rune(rest)[0], Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

func (h *harness) view() string { return h.m.View().Content }

var trailingSpace = regexp.MustCompile(`[ \t]+\n`)

// plain is the screen as text: what a person reads, without styling.
func plain(s string) string {
	s = ansi.Strip(s)
	s = trailingSpace.ReplaceAllString(s+"\n", "\n")
	return strings.TrimRight(s, "\n") + "\n"
}

// golden compares the plain screen with testdata/<test name>.golden and
// checks that the frame is exactly the window's size.
func (h *harness) golden() {
	h.t.Helper()
	v := h.view()
	h.checkFrame(v)
	golden.RequireEqual(h.t, plain(v))
}

func (h *harness) checkFrame(v string) {
	h.t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) != h.m.c.Height {
		h.t.Fatalf("frame has %d lines, window is %d high", len(lines), h.m.c.Height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > h.m.c.Width {
			h.t.Fatalf("line %d is %d cells wide, window is %d: %q", i, w, h.m.c.Width, ansi.Strip(l))
		}
	}
}

func (h *harness) mustShow(subs ...string) {
	h.t.Helper()
	p := plain(h.view())
	for _, s := range subs {
		if !strings.Contains(p, s) {
			h.t.Fatalf("screen does not show %q:\n%s", s, p)
		}
	}
}

func (h *harness) mustNotShow(subs ...string) {
	h.t.Helper()
	p := plain(h.view())
	for _, s := range subs {
		if strings.Contains(p, s) {
			h.t.Fatalf("screen shows %q but should not:\n%s", s, p)
		}
	}
}

// line returns the first screen line containing s.
func (h *harness) line(s string) string {
	h.t.Helper()
	for _, l := range strings.Split(plain(h.view()), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	h.t.Fatalf("no line contains %q:\n%s", s, plain(h.view()))
	return ""
}

// selectDevice moves the cursor to the device with ID id.
func (h *harness) selectDevice(id string) {
	h.t.Helper()
	if !h.m.fleet.Select(id) {
		h.t.Fatalf("device %s is not in the list", id)
	}
}

// keyScreen is a golden screen reached by keys alone: on a w×h harness,
// device (when set) is selected, keys pressed, typed typed, then pressed;
// the screen must show show and none of hide before it is compared with
// testdata/<test>/<name>.golden.
type keyScreen struct {
	name       string
	w, h       int
	device     string
	keys       []string
	typed      string
	then       []string
	show, hide []string
}

// goldenScreens runs each screen as a subtest on a harness from open.
func goldenScreens(t *testing.T, open func(t *testing.T, w, h int) *harness, screens []keyScreen) {
	t.Helper()
	for _, sc := range screens {
		t.Run(sc.name, func(t *testing.T) {
			h := open(t, sc.w, sc.h)
			if sc.device != "" {
				h.selectDevice(sc.device)
			}
			h.keys(sc.keys...)
			if sc.typed != "" {
				h.typeText(sc.typed)
			}
			h.keys(sc.then...)
			h.mustShow(sc.show...)
			h.mustNotShow(sc.hide...)
			h.golden()
		})
	}
}

// stockHarness is a harness on the stock fake, for goldenScreens.
func stockHarness(t *testing.T, w, h int) *harness { return newHarness(t, newFake(), w, h) }
