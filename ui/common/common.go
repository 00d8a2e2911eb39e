// Package common is what every component of the TUI shares: one Common
// context (styles, keymap, window size, client, clock, session log and
// footer notices, and the bus that carries messages to the root model),
// the keymap, the styles and the text helpers that make outside text safe
// and fit it into cells.
package common

import (
	"context"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

// DefaultStaleAfter is the stale threshold: a device not backed up
// successfully for a day is worth a look.
const DefaultStaleAfter = 24 * time.Hour

// RequestTimeout bounds inventory, history and snapshot requests: the user
// must never wait on a dead link without being told.
const RequestTimeout = 20 * time.Second

// LogLevel is the mark of a session log entry.
type LogLevel int

// The levels of the session log.
const (
	LogInfo LogLevel = iota
	LogOK
	LogWarn
	LogError
)

// Notifier is the footer's task line: what the tool just did or is doing.
type Notifier interface {
	Start(text string) int
	Finish(id int, ok bool, text string)
	Done(format string, args ...any)
	Fail(format string, args ...any)
}

// Common is handed to every component. The root owns it and updates the
// size and styles; components read them and never keep copies.
type Common struct {
	Ctx    context.Context
	Client client.Client
	Styles Styles
	Keys   KeyMap
	Width  int
	Height int
	Sized  bool
	Now    func() time.Time
	Loc    *time.Location

	// User is sent as requested_by; Concurrency bounds our backups;
	// Version is shown in the help.
	User        string
	Concurrency int
	Version     string

	// StaleAfter is how long a device may go without a successful backup
	// before the fleet shows it as stale (default DefaultStaleAfter).
	StaleAfter time.Duration
	// LastReason is the backup reason given last in this session: the
	// reason prompt starts with it, since a change window backs up
	// several devices under one ticket.
	LastReason string

	// Log records an entry in the session log (the L pane); callers
	// Clean what came from outside.
	Log func(level LogLevel, format string, args ...any)
	// Tasks is the footer's task line.
	Tasks Notifier
	// Spinner is the one spinner of the TUI; the root's tick advances it.
	Spinner spinner.Model

	seq    int
	outbox []tea.Msg
}

// Send queues msg for the root model, which handles it right after the
// component's Update returns, in order and on the event loop: a component
// asks for another screen, a backup or a copy this way without knowing
// who provides it, and without a goroutine round trip.
func (c *Common) Send(msg tea.Msg) { c.outbox = append(c.outbox, msg) }

// TakeOutbox returns and clears what components sent.
func (c *Common) TakeOutbox() []tea.Msg {
	out := c.outbox
	c.outbox = nil
	return out
}

// NextReq numbers a request, so that only the reply to the latest one of
// a screen is applied.
func (c *Common) NextReq() int {
	c.seq++
	return c.seq
}

// Spin is the current spinner frame.
func (c *Common) Spin() string { return c.Spinner.View() }

// Mode is the client's mode; direct when there is no client.
func (c *Common) Mode() client.Mode {
	if c.Client == nil {
		return client.ModeDirect
	}
	return c.Client.Mode()
}

// Where is where the client talks to: a NATS URL or a data directory.
func (c *Common) Where() string {
	if c.Client == nil {
		return ""
	}
	return c.Client.Where()
}

// BodyHeight is the height between the status bar and the two footer
// lines.
func (c *Common) BodyHeight() int { return max(c.Height-3, 1) }

// Wide reports whether the window has room for the tenant pane.
func (c *Common) Wide() bool { return c.Width >= 100 }

// Messages components send to the root (through Send or as commands).

// BackMsg closes the screen in front.
type BackMsg struct{}

// WheelMsg is a mouse wheel notch over a component, in body coordinates;
// Delta is negative upwards.
type WheelMsg struct{ X, Y, Delta int }

// ClickMsg is a left click in body coordinates.
type ClickMsg struct{ X, Y int }

// CopyMsg asks the root to copy Text to the clipboard; What says what it
// is, for the footer and the log.
type CopyMsg struct{ Text, What string }

// OpenDiffMsg opens the diff screen on two snapshots of a device.
type OpenDiffMsg struct {
	Tenant, Device, DevName string
	From, To                api.SnapshotRecord
}

// OpenSnapshotMsg opens the snapshot screen; at Line (1-based) when
// set, as fleet search does.
type OpenSnapshotMsg struct {
	Tenant, Device, DevName string
	Rec                     api.SnapshotRecord
	Line                    int
}

// OpenSearchMsg opens the fleet search screen.
type OpenSearchMsg struct{}

// OpenChangesMsg opens the screen of what changed.
type OpenChangesMsg struct{}

// BackupMsg asks for a backup of one device of the fleet in front.
type BackupMsg struct{ Tenant, Device string }

// OpenHistoryMsg opens the history screen of a device.
type OpenHistoryMsg struct {
	Tenant, TenantName string
	Device             api.Device
}

// ShellMsg asks the root to open an interactive ssh session to Device.
type ShellMsg struct {
	Tenant string
	Device api.Device
}
