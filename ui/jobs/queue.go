// Package jobs is the backups this TUI runs or watches: the queue that
// starts at most Concurrency of them, their progress and results, the
// state a device row shows, and the jobs panel under the device list.
// Results go to the fleet as messages (ResultMsg); the queue never
// touches the device list itself.
package jobs

import (
	"cmp"
	"context"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Key names a device of a tenant.
type Key struct{ Tenant, Device string }

func (k Key) String() string { return k.Tenant + "/" + k.Device }

// Kind is whose job it is.
type Kind int

// The kinds of job.
const (
	Mine  Kind = iota // a backup this TUI asked for
	Watch             // someone else's job, followed with WatchDevice
)

// State is where a job is.
type State int

// The states of a job.
const (
	Waiting State = iota // in our queue, for a free slot
	Running
	Done
)

// job is one backup this TUI runs or watches. id is local (the service's
// job ID arrives with the first progress event) and routes progress and
// results back to it.
type job struct {
	id      int
	kind    Kind
	state   State
	key     Key
	devName string
	jobID   string
	holder  string // Watch: who started it
	reason  string // Mine: sent with the trigger, e.g. a change ticket

	stage     api.Stage
	reached   map[api.Stage]int64 // elapsed ms at which each stage began
	bytes     int64
	elapsedMS int64
	lastAt    time.Time // when the latest progress arrived
	started   time.Time
	finished  time.Time

	reply *api.TriggerReply
	err   error
	stop  func() // cancels the backup or ends the watch
}

// Result is the latest outcome of a device in this session.
type Result struct {
	Reply   *api.TriggerReply
	Err     error // no reply could be had
	At      time.Time
	Watched bool
	Holder  string
}

// Bridge carries client callbacks into the event loop without blocking
// the client's goroutines.
type Bridge interface {
	PushProgress(job int, ev api.ProgressEvent)
	Push(msg tea.Msg)
}

// Messages.
type (
	// ResultMsg tells the fleet a device's backup ended, so that its row
	// shows the new snapshot or error and the list re-sorts.
	ResultMsg struct {
		Key Key
		Res *Result
	}
	// QueuedMsg tells the fleet backups were queued: rows sorted by
	// state move.
	QueuedMsg struct{}
	// WatchFinalMsg is the result of a watched job (through the bridge).
	WatchFinalMsg struct {
		job   int
		reply api.TriggerReply
	}

	doneMsg struct {
		job   int
		reply api.TriggerReply
		err   error
	}
	watchStartedMsg struct {
		job  int
		stop func()
		err  error
	}
)

// Model is the queue and the results of this session.
type Model struct {
	c       *common.Common
	bridge  Bridge
	list    []*job
	byID    map[int]*job
	active  map[Key]*job // waiting or running, per device
	waiting []int
	running int // Mine running
	done    int
	next    int
	results map[Key]*Result
}

// keepJobs bounds the finished jobs kept for the jobs panel, and
// linger is how long the panel shows a finished one (the log pane
// keeps every result of the session).
const (
	keepJobs = 200
	linger   = 10 * time.Minute
)

// New returns an empty queue whose client callbacks go through b.
func New(c *common.Common, b Bridge) *Model {
	return &Model{c: c, bridge: b, byID: map[int]*job{}, active: map[Key]*job{}, results: map[Key]*Result{}}
}

func (q *Model) add(j *job) {
	q.next++
	j.id = q.next
	j.reached = map[api.Stage]int64{}
	q.list = append(q.list, j)
	q.byID[j.id] = j
	q.active[j.key] = j
}

func (q *Model) finish(j *job, now time.Time) {
	j.state = Done
	j.finished = now
	if q.active[j.key] == j {
		delete(q.active, j.key)
	}
	q.done++
	if q.done > keepJobs {
		if i := slices.IndexFunc(q.list, func(o *job) bool { return o.state == Done }); i >= 0 {
			delete(q.byID, q.list[i].id)
			q.list = slices.Delete(q.list, i, i+1)
			q.done--
		}
	}
}

// ActiveCount is how many jobs wait or run (they animate).
func (q *Model) ActiveCount() int { return len(q.active) }

// ActiveID is the local ID of the job active on k, 0 for none.
func (q *Model) ActiveID(k Key) int {
	if j := q.active[k]; j != nil {
		return j.id
	}
	return 0
}

// IDs are the local IDs of all jobs kept, oldest first.
func (q *Model) IDs() []int {
	ids := make([]int, 0, len(q.list))
	for _, j := range q.list {
		ids = append(ids, j.id)
	}
	return ids
}

// MineActive counts our backups that quitting would abandon.
func (q *Model) MineActive() int {
	n := 0
	for _, j := range q.active {
		if j.kind == Mine {
			n++
		}
	}
	return n
}

// Counts are the jobs by state.
func (q *Model) Counts() (running, waiting, watching, done int) {
	for _, j := range q.list {
		switch {
		case j.state == Done:
			done++
		case j.kind == Watch:
			watching++
		case j.state == Running:
			running++
		default:
			waiting++
		}
	}
	return
}

// Result is the latest result of k in this session, nil for none.
func (q *Model) Result(k Key) *Result { return q.results[k] }

// Forget drops the result of k (its host key was forgotten: the old
// failure no longer says anything).
func (q *Model) Forget(k Key) { delete(q.results, k) }

// Shutdown stops every backup and watch of ours.
func (q *Model) Shutdown() {
	for _, j := range q.list {
		if j.stop != nil {
			j.stop()
			j.stop = nil
		}
	}
}

func name(d api.Device) string { return cmp.Or(d.Name, d.ID) }

// Enqueue queues backups of devs of tenant and starts as many as the
// concurrency allows.
func (q *Model) Enqueue(tenant string, devs []api.Device) tea.Cmd {
	return q.EnqueueReason(tenant, devs, "")
}

// EnqueueReason is Enqueue with a reason sent as the trigger's, as
// "cfgsnap backup --reason" does: it reaches the snapshot's record.
func (q *Model) EnqueueReason(tenant string, devs []api.Device, reason string) tea.Cmd {
	added, skipped := 0, 0
	for _, d := range devs {
		key := Key{tenant, d.ID}
		if j := q.active[key]; j != nil && j.kind == Mine {
			skipped++
			continue
		}
		j := &job{kind: Mine, state: Waiting, key: key, devName: name(d), started: q.c.Now(), reason: reason}
		q.add(j)
		q.waiting = append(q.waiting, j.id)
		added++
	}
	if added > 1 {
		q.c.Log(common.LogInfo, "backup of %d devices of %s requested (%d at a time)", added, common.Clean(tenant), q.c.Concurrency)
	}
	if skipped > 0 {
		q.c.Tasks.Fail("%s already running", common.Plural(skipped, "backup", "backups"))
	}
	q.c.Send(QueuedMsg{})
	return q.schedule()
}

// schedule starts waiting backups while fewer than Concurrency run.
func (q *Model) schedule() tea.Cmd {
	var cmds []tea.Cmd
	for q.running < q.c.Concurrency && len(q.waiting) > 0 {
		j := q.byID[q.waiting[0]]
		q.waiting = q.waiting[1:]
		if j == nil || j.state != Waiting {
			continue
		}
		j.state = Running
		j.started = q.c.Now()
		q.running++
		cmds = append(cmds, q.runBackup(j))
	}
	return tea.Batch(cmds...)
}

func (q *Model) runBackup(j *job) tea.Cmd {
	ctx, cancel := context.WithCancel(q.c.Ctx)
	j.stop = cancel
	id, key, c, b := j.id, j.key, q.c.Client, q.bridge
	opts := client.BackupOptions{RequestedBy: q.c.User, Reason: j.reason}
	if j.reason != "" {
		q.c.Log(common.LogInfo, "backing up %s (requested by %s, reason %q)", key, common.Clean(q.c.User), common.Clean(j.reason))
	} else {
		q.c.Log(common.LogInfo, "backing up %s (requested by %s)", key, common.Clean(q.c.User))
	}
	return func() tea.Msg {
		defer cancel()
		reply, err := c.Backup(ctx, key.Tenant, key.Device, opts, func(ev api.ProgressEvent) {
			b.PushProgress(id, ev)
		})
		return doneMsg{job: id, reply: reply, err: err}
	}
}

// OnProgress applies a job's latest event; reached carries the stages the
// bridge coalesced away, so the timeline still shows when each began.
func (q *Model) OnProgress(id int, ev api.ProgressEvent, reached map[api.Stage]int64) {
	j := q.byID[id]
	if j == nil || j.state == Done {
		return // progress that was still in flight when the result came
	}
	if j.state == Waiting {
		j.state = Running
	}
	for s, at := range reached {
		if _, ok := j.reached[s]; !ok && s.Index() >= 0 {
			j.reached[s] = at
		}
	}
	if ev.Stage.Index() >= 0 {
		if _, ok := j.reached[ev.Stage]; !ok {
			j.reached[ev.Stage] = ev.ElapsedMS
		}
		if ev.Stage.Index() >= j.stage.Index() {
			j.stage = ev.Stage
		}
	}
	if ev.Bytes > j.bytes {
		j.bytes = ev.Bytes
	}
	j.elapsedMS = max(j.elapsedMS, ev.ElapsedMS)
	if ev.JobID != "" {
		j.jobID = ev.JobID
	}
	j.lastAt = q.c.Now()
}

// Update handles the queue's own messages.
func (q *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case doneMsg:
		return q.onDone(msg)
	case watchStartedMsg:
		q.onWatchStarted(msg)
	case WatchFinalMsg:
		q.onWatchFinal(msg)
	}
	return nil
}

func (q *Model) onDone(msg doneMsg) tea.Cmd {
	j := q.byID[msg.job]
	if j == nil || j.state == Done {
		return q.schedule()
	}
	if j.state == Running && j.kind == Mine {
		q.running--
	}
	j.stop = nil
	q.finish(j, q.c.Now())
	res := &Result{At: q.c.Now()}
	if msg.err != nil {
		j.err = msg.err
		res.Err = msg.err
	} else {
		r := msg.reply
		j.reply = &r
		res.Reply = &r
		if r.JobID != "" {
			j.jobID = r.JobID
		}
	}
	q.results[j.key] = res
	q.applyResult(j, res)
	return q.schedule()
}

// applyResult logs the result, shows it in the footer and tells the fleet.
func (q *Model) applyResult(j *job, res *Result) {
	who := ""
	if res.Watched {
		who = common.Clean(res.Holder) + "'s "
	}
	switch {
	case res.Err != nil:
		q.c.Log(common.LogError, "%sbackup of %s: no reply: %s", who, j.key, common.Clean(res.Err.Error()))
		q.c.Tasks.Fail("%s: no reply from the backup service", common.Clean(j.devName))
	case res.Reply.Status == api.StatusSuccess:
		r := res.Reply
		ch := "unchanged"
		if r.IsChanged() {
			ch = "changed"
		}
		q.c.Log(common.LogOK, "%sbackup of %s: %s, sha256 %s", who, j.key, ch, common.Clean(r.SHA256))
		q.c.Tasks.Done("%s backed up: %s, %s", common.Clean(j.devName), ch, common.ShortHash(common.Clean(r.SHA256)))
	case res.Reply.Status == api.StatusLocked:
		holder := "another job"
		if l := res.Reply.Lock; l != nil {
			holder = common.Clean(l.Holder)
		}
		q.c.Log(common.LogWarn, "backup of %s: locked by %s", j.key, holder)
		q.c.Tasks.Fail("%s is locked by %s: w watches that job", common.Clean(j.devName), holder)
	default:
		r := res.Reply
		q.c.Log(common.LogError, "%sbackup of %s failed (%s): %s", who, j.key, common.Clean(string(r.ErrorKind)), common.Clean(r.Error))
		q.c.Tasks.Fail("%s: %s", common.Clean(j.devName), KindTitle(r.ErrorKind))
	}
	q.c.Send(ResultMsg{Key: j.key, Res: res})
}

// ToggleWatch follows the job that holds a locked device of tenant until
// it ends, or stops following it.
func (q *Model) ToggleWatch(tenant string, d api.Device) tea.Cmd {
	key := Key{tenant, d.ID}
	if j := q.active[key]; j != nil {
		if j.kind == Watch {
			if j.stop != nil {
				j.stop()
			}
			q.finish(j, q.c.Now())
			q.c.Log(common.LogInfo, "stopped watching %s", key)
			q.c.Tasks.Done("stopped watching %s", common.Clean(name(d)))
			return nil
		}
		q.c.Tasks.Fail("%s is being backed up by you already", common.Clean(name(d)))
		return nil
	}
	var lock *api.LockInfo
	lost := false // no reply came: the job may still run on the service
	if r := q.results[key]; r != nil {
		if r.Reply != nil && r.Reply.Status == api.StatusLocked {
			lock = r.Reply.Lock
		}
		lost = r.Err != nil
	}
	if lock == nil && !d.Busy && !lost {
		q.c.Tasks.Fail("%s is not locked: nothing to watch (b backs it up)", common.Clean(name(d)))
		return nil
	}
	j := &job{kind: Watch, state: Running, key: key, devName: name(d), started: q.c.Now(), holder: "another job"}
	if lost {
		j.holder = cmp.Or(q.c.User, "your")
	}
	want := ""
	if lock != nil {
		j.holder = cmp.Or(lock.Holder, "another job")
		j.jobID, want = lock.JobID, lock.JobID
		j.stage = lock.Stage
		if !lock.Since.IsZero() {
			j.started = lock.Since
		}
	}
	q.add(j)
	q.c.Log(common.LogInfo, "watching %s (held by %s)", key, common.Clean(j.holder))
	id, c, ctx, b := j.id, q.c.Client, q.c.Ctx, q.bridge
	return func() tea.Msg {
		stop, err := c.WatchDevice(ctx, key.Tenant, key.Device, func(u client.Update) {
			switch {
			case u.Progress != nil:
				if want == "" || u.Progress.JobID == "" || u.Progress.JobID == want {
					b.PushProgress(id, *u.Progress)
				}
			case u.Final != nil:
				if want == "" || u.Final.JobID == "" || u.Final.JobID == want {
					b.Push(WatchFinalMsg{job: id, reply: *u.Final})
				}
			}
		})
		return watchStartedMsg{job: id, stop: stop, err: err}
	}
}

func (q *Model) onWatchStarted(msg watchStartedMsg) {
	j := q.byID[msg.job]
	if j == nil {
		if msg.stop != nil {
			msg.stop()
		}
		return
	}
	if msg.err != nil {
		q.finish(j, q.c.Now())
		j.err = msg.err
		q.c.Log(common.LogError, "watching %s: %s", j.key, common.Clean(msg.err.Error()))
		q.c.Tasks.Fail("cannot watch %s: %s", common.Clean(j.devName), common.Clean(msg.err.Error()))
		return
	}
	if j.state == Done { // ended (or was stopped) before the watch was up
		if msg.stop != nil {
			msg.stop()
		}
		return
	}
	j.stop = msg.stop
}

func (q *Model) onWatchFinal(msg WatchFinalMsg) {
	j := q.byID[msg.job]
	if j == nil || j.state == Done {
		return
	}
	if j.stop != nil {
		j.stop()
		j.stop = nil
	}
	q.finish(j, q.c.Now())
	r := msg.reply
	j.reply = &r
	res := &Result{Reply: &r, At: q.c.Now(), Watched: true, Holder: j.holder}
	q.results[j.key] = res
	q.applyResult(j, res)
}
