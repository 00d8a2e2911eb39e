// Package ui is cfgsnap's terminal UI: the fleet of tenants and devices,
// backups running with live progress, their results and errors, snapshot
// history, diffs and a snapshot viewer. It talks to the backend only
// through client.Client, so it works the same in remote (NATS) and direct
// (SSH) mode.
package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
	"github.com/cfgsnap/cfgsnap/ui/changes"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/diffview"
	"github.com/cfgsnap/cfgsnap/ui/fleet"
	"github.com/cfgsnap/cfgsnap/ui/history"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
	"github.com/cfgsnap/cfgsnap/ui/logpane"
	"github.com/cfgsnap/cfgsnap/ui/overlay"
	"github.com/cfgsnap/cfgsnap/ui/search"
	"github.com/cfgsnap/cfgsnap/ui/snapview"
	"github.com/cfgsnap/cfgsnap/ui/statusbar"
)

// Options configure the TUI.
type Options struct {
	Client client.Client
	// NoColor turns colour off; a non-empty NO_COLOR does too.
	NoColor bool
	// User is sent as requested_by with each backup, e.g. "ops@jump1".
	User string
	// Concurrency bounds the backups this TUI runs at once (default 4).
	Concurrency int
	Version     string
	// Now is the clock; tests inject a fixed one. Default time.Now.
	Now func() time.Time
	// StaleAfter is how long without a successful backup makes a device
	// stale in the fleet (default 24 h).
	StaleAfter time.Duration
	// SearchDebounce is the pause in typing after which the fleet search
	// runs (default search.Debounce).
	SearchDebounce time.Duration
	// NoShell turns off the ssh-to-device key: a TUI served over SSH runs
	// on the service's host as the service's user, whose ssh client, keys
	// and agent are not the session user's to use.
	NoShell bool
}

// Timing of the one tick that animates spinners, ages job timers, expires
// footer tasks and polls the connection state.
const (
	tickFast = 100 * time.Millisecond
	tickSlow = time.Second
)

type screen int

const (
	screenFleet screen = iota
	screenHistory
	screenDiff
	screenSnapshot
	screenLog
	screenSearch
	screenChanges
)

// Model is the root Bubble Tea model. Screens keep their own state here and
// render through pure functions; only this model returns a tea.View.
type Model struct {
	opts    Options
	c       *common.Common
	cancel  context.CancelFunc
	noColor bool
	isDark  bool
	bar     *statusbar.Model

	conn     client.ConnState
	tickGen  int
	tickFast bool
	// syncMode is for model tests: no bridge listener and no ticks are
	// returned as commands; the test drains the bridge itself.
	syncMode bool
	// stillSpinner keeps the spinner on one frame (tests, byte counts).
	stillSpinner bool

	bridge *bridge

	fleet *fleet.Model
	jobs  *jobs.Model
	hist  *history.Model
	diff  *diffview.Model
	snap  *snapview.Model
	logv  *logpane.Model
	srch  *search.Model
	chg   *changes.Model

	// The fleet search's pattern and case, and the changes' window, are
	// kept for the session: reopening the screen asks the same question.
	lastPattern    string
	lastIgnoreCase bool
	lastWindow     int

	screens []screen
	ov      *overlay.Model

	contents common.ContentCache
}

// New returns the root model without starting anything; Init does that.
func New(opts Options) *Model { return newModel(context.Background(), opts) }

// NewSession returns a root model bound to ctx and the function that stops
// its watchers and jobs, for hosts that run the tea.Program themselves
// (the TUI served over SSH, backend/tuiserver).
func NewSession(ctx context.Context, opts Options) (*Model, func()) {
	m := newModel(ctx, opts)
	return m, m.shutdown
}

func newModel(ctx context.Context, opts Options) *Model {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = common.DefaultStaleAfter
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Model{
		opts:    opts,
		cancel:  cancel,
		noColor: opts.NoColor || textfmt.NoColor(),
		isDark:  true, // most terminals on jump hosts; the query corrects it
		bridge:  newBridge(),
		screens: []screen{screenFleet},
		// RouterOS exports are lower case but names and comments are
		// not: a search as you type finds more ignoring case.
		lastIgnoreCase: true,
		lastWindow:     changes.DefaultWindow,
	}
	m.c = &common.Common{
		Ctx: ctx, Client: opts.Client, Keys: common.NewKeyMap(), Now: opts.Now, Loc: time.Local,
		User: opts.User, Concurrency: opts.Concurrency, Version: opts.Version, StaleAfter: opts.StaleAfter,
		Spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		Log:     m.addLog,
	}
	m.bar = statusbar.New(m.c)
	m.c.Tasks = m.bar.Tasks
	m.logv = logpane.New(m.c)
	m.ov = overlay.New(m.c)
	m.jobs = jobs.New(m.c, m.bridge)
	m.fleet = fleet.New(m.c, m.jobs, m.bridge)
	m.setStyles()
	if m.c.Client != nil {
		m.conn = m.c.Client.ConnState()
	}
	return m
}

func (m *Model) setStyles() {
	m.c.Styles = common.NewStyles(m.noColor, m.isDark)
	m.bar.SetStyles()
}

// Run runs the TUI in the alternate screen with the mouse on and returns
// when the user quits or ctx ends. In direct mode backups still running are
// cancelled on the way out; in remote mode the service finishes them.
func Run(ctx context.Context, opts Options) error {
	if opts.Client == nil {
		return errors.New("ui: no client")
	}
	m := newModel(ctx, opts)
	defer m.shutdown()
	popts := []tea.ProgramOption{tea.WithContext(ctx)}
	if m.noColor {
		// The renderer would otherwise keep the colours of the bubbles'
		// own styles; ASCII keeps bold and reverse.
		popts = append(popts, tea.WithColorProfile(colorprofile.ASCII))
	}
	if _, err := tea.NewProgram(m, popts...).Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("run tui: %w", err)
	}
	return nil
}

// shutdown stops watchers and cancels what runs on the user's behalf.
func (m *Model) shutdown() {
	m.fleet.Shutdown()
	m.jobs.Shutdown()
	m.cancel()
}

// Init loads the tenants and starts the bridge listener and the tick.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.fleet.LoadTenants(), tea.RequestBackgroundColor}
	if !m.syncMode {
		cmds = append(cmds, m.bridge.listen(m.c.Ctx), m.startTick(false))
	}
	return tea.Batch(cmds...)
}

type tickMsg struct {
	gen int
	at  time.Time
}

func (m *Model) startTick(fast bool) tea.Cmd {
	if m.syncMode {
		return nil
	}
	m.tickGen++
	m.tickFast = fast
	gen := m.tickGen
	d := tickSlow
	if fast {
		d = tickFast
	}
	return tea.Tick(d, func(t time.Time) tea.Msg { return tickMsg{gen: gen, at: t} })
}

// ensureTick speeds the tick up as soon as something animates, rather than
// waiting up to a second for the slow tick.
func (m *Model) ensureTick() tea.Cmd {
	if m.animating() && !m.tickFast {
		return m.startTick(true)
	}
	return nil
}

func (m *Model) animating() bool {
	return m.jobs.ActiveCount() > 0 || m.bar.Tasks.Running() > 0 || m.fleet.Loading() ||
		(m.hist != nil && m.hist.Loading()) || (m.diff != nil && m.diff.Loading()) || (m.snap != nil && m.snap.Loading()) ||
		(m.srch != nil && m.srch.Loading()) || (m.chg != nil && m.chg.Loading())
}

func (m *Model) onTick(msg tickMsg) tea.Cmd {
	if msg.gen != m.tickGen {
		return nil // a tick of an older cadence
	}
	if m.animating() && !m.stillSpinner {
		// The spinner's own tick would run at its own pace even when
		// nothing animates; our one tick drives it instead.
		m.c.Spinner, _ = m.c.Spinner.Update(m.c.Spinner.Tick())
	}
	m.pollConn()
	m.bar.Tasks.Expire(m.c.Now())
	return m.startTick(m.animating())
}

func (m *Model) pollConn() {
	if m.c.Client == nil {
		return
	}
	c := m.c.Client.ConnState()
	if c == m.conn {
		return
	}
	switch c {
	case client.ConnConnected:
		m.addLog(common.LogInfo, "connection to %s restored", common.Clean(m.c.Client.Where()))
	case client.ConnReconnecting:
		m.addLog(common.LogWarn, "connection to %s lost, reconnecting", common.Clean(m.c.Client.Where()))
	case client.ConnDisconnected:
		m.addLog(common.LogError, "disconnected from %s", common.Clean(m.c.Client.Where()))
	}
	m.conn = c
}

func (m *Model) screen() screen { return m.screens[len(m.screens)-1] }

func (m *Model) push(s screen) { m.screens = append(m.screens, s) }

func (m *Model) pop() {
	if len(m.screens) > 1 {
		top := m.screens[len(m.screens)-1]
		m.screens = m.screens[:len(m.screens)-1]
		switch top {
		case screenHistory:
			m.hist = nil
		case screenDiff:
			m.diff = nil
		case screenSnapshot:
			m.snap = nil
		case screenSearch:
			m.lastPattern, m.lastIgnoreCase = m.srch.Pattern()
			m.srch.Close()
			m.srch = nil
		case screenChanges:
			m.lastWindow = m.chg.Window()
			m.chg.Close()
			m.chg = nil
		}
	}
}

// Update routes messages: async results to the screen that asked for
// them (by request or job ID), keys to the overlay or screen in front.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmds := []tea.Cmd{m.update(msg)}
	// What components sent while handling msg is handled now, in order,
	// before the frame is drawn.
	for out := m.c.TakeOutbox(); len(out) > 0; out = m.c.TakeOutbox() {
		for _, o := range out {
			cmds = append(cmds, m.update(o))
		}
	}
	return m, tea.Batch(append(cmds, m.ensureTick())...)
}

// addLog records an entry in the session log.
func (m *Model) addLog(level common.LogLevel, format string, args ...any) {
	m.logv.Add(level, format, args...)
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.Width, m.c.Height, m.c.Sized = msg.Width, msg.Height, true
		m.clampAll()
		return nil
	case tea.BackgroundColorMsg:
		m.isDark = msg.IsDark()
		m.setStyles()
		return nil
	case tickMsg:
		return m.onTick(msg)
	case bridgeMsg:
		cmd := m.onBridge(msg)
		if m.syncMode {
			return cmd
		}
		return tea.Batch(cmd, m.bridge.listen(m.c.Ctx))
	case history.LoadedMsg, history.PinnedMsg:
		if m.hist != nil {
			return m.hist.Update(msg)
		}
		return nil
	case common.OpenDiffMsg:
		var cmd tea.Cmd
		m.diff, cmd = diffview.Open(m.c, &m.contents, msg.Tenant, msg.Device, msg.DevName, msg.From, msg.To)
		m.push(screenDiff)
		return cmd
	case common.OpenSnapshotMsg:
		var cmd tea.Cmd
		m.snap, cmd = snapview.Open(m.c, &m.contents, msg.Tenant, msg.Device, msg.DevName, msg.Rec)
		m.snap.GoTo(msg.Line)
		m.push(screenSnapshot)
		return cmd
	case common.OpenSearchMsg:
		if m.srch != nil {
			return nil
		}
		var cmd tea.Cmd
		m.srch, cmd = search.Open(m.c, m.lastPattern, m.lastIgnoreCase, m.opts.SearchDebounce)
		m.push(screenSearch)
		return cmd
	case common.OpenChangesMsg:
		if m.chg != nil {
			return nil
		}
		var cmd tea.Cmd
		m.chg, cmd = changes.Open(m.c, m.lastWindow)
		m.push(screenChanges)
		return cmd
	case search.DebounceMsg, search.ResultMsg:
		if m.srch != nil {
			return m.srch.Update(msg)
		}
		return nil
	case changes.LoadedMsg:
		if m.chg != nil {
			return m.chg.Update(msg)
		}
		return nil
	case common.OpenHistoryMsg:
		var cmd tea.Cmd
		m.hist, cmd = history.Open(m.c, msg.Tenant, msg.TenantName, msg.Device)
		m.push(screenHistory)
		return cmd
	case snapview.LoadedMsg:
		if msg.Err == nil {
			m.contents.Put(msg.Rec.SHA256, msg.Content)
		}
		if m.snap != nil {
			return m.snap.Update(msg)
		}
		return nil
	case diffview.LoadedMsg:
		for h, b := range msg.Contents {
			m.contents.Put(h, b)
		}
		if m.diff != nil {
			return m.diff.Update(msg)
		}
		return nil
	case overlay.QuitMsg:
		return tea.Quit
	case overlay.RequestQuitMsg:
		return m.requestQuit()
	case overlay.BackupAllMsg:
		return m.fleet.BackupAll(msg.Tenant)
	case overlay.ForgetMsg:
		return m.fleet.Forget(msg.Tenant, msg.Device)
	case overlay.PickMsg:
		return m.fleet.SelectTenant(msg.Index)
	case overlay.AskMsg:
		m.ov.OpenConfirm(msg.Q)
		return nil
	case overlay.PickTenantMsg:
		m.ov.OpenPicker(msg.Tenants, msg.Current)
		return nil
	case overlay.AskReasonMsg:
		m.ov.OpenReason(msg)
		return nil
	case overlay.ReasonMsg:
		return m.fleet.BackupWithReason(msg.Tenant, msg.Devices, msg.Reason)
	case overlay.RevealMsg:
		m.reveal(msg)
		return nil
	case common.ShellMsg:
		if m.opts.NoShell {
			m.c.Tasks.Fail("ssh to devices is not available in a served session: ssh from your own machine")
			m.addLog(common.LogWarn, "ssh to %s/%s refused: served session", common.Clean(msg.Tenant), common.Clean(msg.Device.ID))
			return nil
		}
		return m.openShell(msg)
	case shellDoneMsg:
		m.shellDone(msg)
		return nil
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case common.BackMsg:
		m.pop()
		return nil
	case common.CopyMsg:
		return m.copyText(msg.Text, msg.What)
	case tea.MouseClickMsg:
		return m.onClick(msg.Mouse())
	case tea.MouseWheelMsg:
		return m.onWheel(msg.Mouse())
	case tea.PasteMsg:
		if m.ov.Kind() == overlay.Prompt {
			return m.ov.Update(msg)
		}
		return m.onPaste(msg.Content)
	}
	return tea.Batch(m.fleet.Update(msg), m.jobs.Update(msg))
}

// onBridge applies client callbacks: progress first (it precedes the
// events that were queued with it), then events in order.
func (m *Model) onBridge(msg bridgeMsg) tea.Cmd {
	for _, p := range msg.progress {
		m.jobs.OnProgress(p.job, p.ev, p.reached)
	}
	var cmds []tea.Cmd
	for _, ev := range msg.events {
		switch ev := ev.(type) {
		case fleet.SnapshotMsg:
			m.fleet.Update(ev)
			if m.hist != nil && m.hist.Shows(ev.Tenant, ev.Rec.DeviceID) {
				m.hist.Add(ev.Rec)
			}
		case jobs.WatchFinalMsg:
			cmds = append(cmds, m.jobs.Update(ev))
		}
	}
	if msg.dropped > 0 {
		// Notifications were lost under load: reload rather than show a
		// stale fleet.
		m.addLog(common.LogWarn, "%d notifications dropped under load; reloading", msg.dropped)
		cmds = append(cmds, m.fleet.Reload())
		if m.hist != nil {
			cmds = append(cmds, m.hist.Reload())
		}
	}
	return tea.Batch(cmds...)
}

func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.c.Keys
	if m.ov.Active() {
		return m.ov.Update(msg)
	}
	if m.inputActive() {
		if key.Matches(msg, k.Interrupt) {
			return m.requestQuit()
		}
		return m.inputKey(msg)
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.requestQuit()
	case key.Matches(msg, k.Help):
		m.ov.OpenHelp()
		return nil
	case key.Matches(msg, k.Log):
		if m.screen() == screenLog {
			m.pop()
		} else {
			m.push(screenLog)
			m.logv.Open()
		}
		return nil
	}
	switch m.screen() {
	case screenFleet:
		return m.fleet.Update(msg)
	case screenHistory:
		if m.hist != nil {
			return m.hist.Update(msg)
		}
	case screenDiff:
		if m.diff != nil {
			return m.diff.Update(msg)
		}
	case screenSnapshot:
		if m.snap != nil {
			return m.snap.Update(msg)
		}
	case screenLog:
		return m.logv.Update(msg)
	case screenSearch:
		if m.srch != nil {
			return m.srch.Update(msg)
		}
	case screenChanges:
		if m.chg != nil {
			return m.chg.Update(msg)
		}
	}
	return nil
}

func (m *Model) inputActive() bool {
	switch m.screen() {
	case screenFleet:
		return m.fleet.Filtering()
	case screenSnapshot:
		return m.snap != nil && m.snap.Searching()
	case screenSearch:
		return m.srch != nil && m.srch.Editing()
	}
	return false
}

func (m *Model) onPaste(s string) tea.Cmd {
	if !m.inputActive() {
		return nil
	}
	switch m.screen() {
	case screenFleet:
		m.fleet.Update(tea.PasteMsg{Content: s})
	case screenSnapshot:
		m.snap.Update(tea.PasteMsg{Content: s})
	case screenSearch:
		return m.srch.Update(tea.PasteMsg{Content: s})
	}
	return nil
}

func (m *Model) inputKey(msg tea.KeyPressMsg) tea.Cmd {
	switch m.screen() {
	case screenFleet:
		m.fleet.Update(msg)
	case screenSnapshot:
		m.snap.Update(msg)
	case screenSearch:
		return m.srch.Update(msg)
	}
	return nil
}

// requestQuit quits at once unless backups of ours are still running.
func (m *Model) requestQuit() tea.Cmd {
	if m.ov.AskingQuit() {
		return tea.Quit // a second ctrl+c means it
	}
	if n := m.jobs.MineActive(); n > 0 {
		them := "them"
		if n == 1 {
			them = "it"
		}
		what := "Quitting cancels " + them + ": the devices are left as they were."
		if m.c.Client != nil && m.c.Client.Mode() == client.ModeRemote {
			what = "The backup service finishes " + them + " and keeps the result."
		}
		m.ov.OpenConfirm(&overlay.Question{
			Ask:   overlay.AskQuit,
			Title: "Quit?",
			Lines: []string{common.Plural(n, "backup is", "backups are") + " still running.", what},
			Yes:   "quit",
		})
		return nil
	}
	return tea.Quit
}

// clampAll keeps cursors and offsets valid after a resize.
func (m *Model) clampAll() {
	m.fleet.Resize()
	if m.hist != nil {
		m.hist.Clamp()
	}
}

// Minimum size below which the layout cannot work at all; the brief's
// target is 80×24, this is only to never draw garbage.
const minWidth, minHeight = 40, 10

// View draws the whole screen: status bar, the screen in front (or an
// overlay on it), the footer task line and the key help.
func (m *Model) View() tea.View {
	var v tea.View
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "cfgsnap"
	if !m.c.Sized {
		// The size is not known yet: anything wider would wrap.
		v.SetContent("cfgsnap")
		return v
	}
	if m.c.Width < minWidth || m.c.Height < minHeight {
		v.SetContent(common.Trunc(fmt.Sprintf("too small: %d×%d, need %d×%d", m.c.Width, m.c.Height, minWidth, minHeight), m.c.Width))
		return v
	}
	v.SetContent(m.render())
	return v
}

func (m *Model) render() string {
	w, bh := m.c.Width, m.c.BodyHeight()
	var body []string
	if m.ov.Kind() != overlay.Help {
		body = m.screenView(w, bh)
	}
	body = m.ov.View(body, w, bh)
	lines := make([]string, 0, m.c.Height)
	lines = append(lines, m.bar.Bar(m.statusInfo(), w))
	lines = append(lines, common.Block(body, w, bh)...)
	lines = append(lines, common.Fit(m.bar.TaskLine(w), w), common.Fit(m.bar.Footer(m.shortHelp(), w), w))
	return strings.Join(lines, "\n")
}

func (m *Model) screenView(w, h int) []string {
	switch m.screen() {
	case screenHistory:
		if m.hist != nil {
			return strings.Split(m.hist.View(), "\n")
		}
		return nil
	case screenDiff:
		if m.diff != nil {
			return strings.Split(m.diff.View(), "\n")
		}
		return nil
	case screenSnapshot:
		if m.snap != nil {
			return strings.Split(m.snap.View(), "\n")
		}
		return nil
	case screenLog:
		return strings.Split(m.logv.View(), "\n")
	case screenSearch:
		if m.srch != nil {
			return strings.Split(m.srch.View(), "\n")
		}
		return nil
	case screenChanges:
		if m.chg != nil {
			return strings.Split(m.chg.View(), "\n")
		}
		return nil
	}
	return m.fleet.View(w, h)
}

// copyText copies through OSC 52, which the terminal on the user's side
// handles: it works over SSH where no local clipboard exists.
func (m *Model) copyText(s, what string) tea.Cmd {
	m.c.Tasks.Done("copied %s to the clipboard (%s)", what, common.ShortHash(s))
	m.c.Log(common.LogInfo, "copied %s: %s", what, s)
	return tea.SetClipboard(s)
}

// reveal shows the secrets of the viewer in front, if it is still the one
// the confirmation was about.
func (m *Model) reveal(msg overlay.RevealMsg) {
	switch m.screen() {
	case screenDiff:
		if m.diff != nil && m.diff.Shows(msg.Tenant, msg.Device) {
			m.diff.Reveal()
		}
	case screenSnapshot:
		if m.snap != nil && m.snap.Shows(msg.Tenant, msg.Device) {
			m.snap.Reveal()
		}
	}
}
