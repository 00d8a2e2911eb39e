package ui

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

type jobKind int

const (
	jobMine  jobKind = iota // a backup this TUI asked for
	jobWatch                // someone else's job, followed with WatchDevice
)

type jobState int

const (
	jobWaiting jobState = iota // in our queue, for a free slot
	jobRunning
	jobDone
)

// job is one backup this TUI runs or watches. id is local (the service's
// job ID arrives with the first progress event) and routes progress and
// results back to it.
type job struct {
	id      int
	kind    jobKind
	state   jobState
	key     devKey
	devName string
	jobID   string
	holder  string // jobWatch: who started it

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

type jobQueue struct {
	list    []*job
	byID    map[int]*job
	active  map[devKey]*job // waiting or running, per device
	waiting []int
	running int // jobMine running
	done    int
	next    int
}

// keepJobs bounds the finished jobs kept for the jobs panel, and
// jobsLinger is how long the panel shows a finished one (the log pane
// keeps every result of the session).
const (
	keepJobs   = 200
	jobsLinger = 10 * time.Minute
)

func (q *jobQueue) init() {
	q.byID = map[int]*job{}
	q.active = map[devKey]*job{}
}

func (q *jobQueue) add(j *job) {
	q.next++
	j.id = q.next
	j.reached = map[api.Stage]int64{}
	q.list = append(q.list, j)
	q.byID[j.id] = j
	q.active[j.key] = j
}

func (q *jobQueue) finish(j *job, now time.Time) {
	j.state = jobDone
	j.finished = now
	if q.active[j.key] == j {
		delete(q.active, j.key)
	}
	q.done++
	if q.done > keepJobs {
		if i := slices.IndexFunc(q.list, func(o *job) bool { return o.state == jobDone }); i >= 0 {
			delete(q.byID, q.list[i].id)
			q.list = slices.Delete(q.list, i, i+1)
			q.done--
		}
	}
}

func (q *jobQueue) activeCount() int { return len(q.active) }

// mineActive counts our backups that quitting would abandon.
func (q *jobQueue) mineActive() int {
	n := 0
	for _, j := range q.active {
		if j.kind == jobMine {
			n++
		}
	}
	return n
}

func (q *jobQueue) counts() (running, waiting, watching, done int) {
	for _, j := range q.list {
		switch {
		case j.state == jobDone:
			done++
		case j.kind == jobWatch:
			watching++
		case j.state == jobRunning:
			running++
		default:
			waiting++
		}
	}
	return
}

// result is the latest outcome of a device in this session.
type result struct {
	reply   *api.TriggerReply
	err     error // no reply could be had
	at      time.Time
	watched bool
	holder  string
}

type backupDoneMsg struct {
	job   int
	reply api.TriggerReply
	err   error
}

type watchStartedMsg struct {
	job  int
	stop func()
	err  error
}

type watchFinalMsg struct {
	job   int
	reply api.TriggerReply
}

// enqueue queues backups of devs of the current tenant and starts as many
// as the concurrency allows.
func (m *Model) enqueue(devs []api.Device) tea.Cmd {
	tenant := m.fleet.tenant
	added, skipped := 0, 0
	for _, d := range devs {
		key := devKey{tenant, d.ID}
		if j := m.jobs.active[key]; j != nil && j.kind == jobMine {
			skipped++
			continue
		}
		j := &job{kind: jobMine, state: jobWaiting, key: key, devName: name(d), started: m.c.Now()}
		m.jobs.add(j)
		m.jobs.waiting = append(m.jobs.waiting, j.id)
		added++
	}
	switch {
	case added > 1:
		m.addLog(common.LogInfo, "backup of %d devices of %s requested (%d at a time)", added, common.Clean(tenant), m.c.Concurrency)
	}
	if skipped > 0 {
		m.c.Tasks.Fail("%s already running", common.Plural(skipped, "backup", "backups"))
	}
	if m.fleet.sort == sortState {
		m.resortKeep()
	}
	return m.schedule()
}

// schedule starts waiting backups while fewer than Concurrency run.
func (m *Model) schedule() tea.Cmd {
	var cmds []tea.Cmd
	q := &m.jobs
	for q.running < m.c.Concurrency && len(q.waiting) > 0 {
		j := q.byID[q.waiting[0]]
		q.waiting = q.waiting[1:]
		if j == nil || j.state != jobWaiting {
			continue
		}
		j.state = jobRunning
		j.started = m.c.Now()
		q.running++
		cmds = append(cmds, m.runBackup(j))
	}
	return tea.Batch(cmds...)
}

func (m *Model) runBackup(j *job) tea.Cmd {
	ctx, cancel := context.WithCancel(m.c.Ctx)
	j.stop = cancel
	id, key, c, b := j.id, j.key, m.c.Client, m.bridge
	opts := client.BackupOptions{RequestedBy: m.c.User}
	m.addLog(common.LogInfo, "backing up %s (requested by %s)", key, common.Clean(m.c.User))
	return func() tea.Msg {
		defer cancel()
		reply, err := c.Backup(ctx, key.tenant, key.device, opts, func(ev api.ProgressEvent) {
			b.pushProgress(id, ev)
		})
		return backupDoneMsg{job: id, reply: reply, err: err}
	}
}

// onProgress applies a job's latest event; reached carries the stages the
// bridge coalesced away, so the timeline still shows when each began.
func (m *Model) onProgress(id int, ev api.ProgressEvent, reached map[api.Stage]int64) {
	j := m.jobs.byID[id]
	if j == nil || j.state == jobDone {
		return // progress that was still in flight when the result came
	}
	if j.state == jobWaiting {
		j.state = jobRunning
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
	j.lastAt = m.c.Now()
}

func (m *Model) onBackupDone(msg backupDoneMsg) tea.Cmd {
	j := m.jobs.byID[msg.job]
	if j == nil || j.state == jobDone {
		return m.schedule()
	}
	if j.state == jobRunning && j.kind == jobMine {
		m.jobs.running--
	}
	j.stop = nil
	m.jobs.finish(j, m.c.Now())
	res := &result{at: m.c.Now()}
	if msg.err != nil {
		j.err = msg.err
		res.err = msg.err
	} else {
		r := msg.reply
		j.reply = &r
		res.reply = &r
		if r.JobID != "" {
			j.jobID = r.JobID
		}
	}
	m.results[j.key] = res
	m.applyResult(j, res)
	return m.schedule()
}

// applyResult updates the device row, the log and the footer.
func (m *Model) applyResult(j *job, res *result) {
	who := ""
	if res.watched {
		who = common.Clean(res.holder) + "'s "
	}
	switch {
	case res.err != nil:
		m.addLog(common.LogError, "%sbackup of %s: no reply: %s", who, j.key, common.Clean(res.err.Error()))
		m.c.Tasks.Fail("%s: no reply from the backup service", common.Clean(j.devName))
	case res.reply.Status == api.StatusSuccess:
		r := res.reply
		ch := "unchanged"
		if r.IsChanged() {
			ch = "changed"
		}
		m.addLog(common.LogOK, "%sbackup of %s: %s, sha256 %s", who, j.key, ch, common.Clean(r.SHA256))
		m.c.Tasks.Done("%s backed up: %s, %s", common.Clean(j.devName), ch, common.ShortHash(common.Clean(r.SHA256)))
		m.recordBackup(j.key, r)
	case res.reply.Status == api.StatusLocked:
		holder := "another job"
		if l := res.reply.Lock; l != nil {
			holder = common.Clean(l.Holder)
		}
		m.addLog(common.LogWarn, "backup of %s: locked by %s", j.key, holder)
		m.c.Tasks.Fail("%s is locked by %s: w watches that job", common.Clean(j.devName), holder)
	default:
		r := res.reply
		m.addLog(common.LogError, "%sbackup of %s failed (%s): %s", who, j.key, common.Clean(string(r.ErrorKind)), common.Clean(r.Error))
		m.c.Tasks.Fail("%s: %s", common.Clean(j.devName), kindTitle(r.ErrorKind))
		m.recordError(j.key, r)
	}
	if m.fleet.sort != sortName {
		m.resortKeep()
	}
}

// recordBackup puts a successful reply into the device row, so the row's
// age, hash and version are right without reloading the tenant.
func (m *Model) recordBackup(key devKey, r *api.TriggerReply) {
	if key.tenant != m.fleet.tenant {
		return
	}
	i, ok := m.fleet.index[key.device]
	if !ok {
		return
	}
	d := &m.fleet.devices[i]
	at := r.CollectedAt
	if at.IsZero() {
		at = m.c.Now()
	}
	if d.LastBackup != nil && d.LastBackup.CollectedAt.After(at) {
		return
	}
	d.LastBackup = &api.SnapshotRecord{
		SnapshotID: r.SnapshotID, TenantID: key.tenant, DeviceID: key.device, SHA256: r.SHA256,
		CollectedAt: at, SizeBytes: r.SizeBytes, Changed: r.IsChanged(), PreviousHash: r.PreviousHash,
		Trigger: api.TriggerManual, RouterOSVersion: r.RouterOSVersion,
		NormalizationVersion: r.NormalizationVersion, DurationMS: r.DurationMS,
	}
	d.Busy = false
}

func (m *Model) recordError(key devKey, r *api.TriggerReply) {
	if key.tenant != m.fleet.tenant {
		return
	}
	if i, ok := m.fleet.index[key.device]; ok {
		m.fleet.devices[i].LastError = &api.DeviceError{Kind: r.ErrorKind, Error: r.Error, At: m.c.Now()}
		m.fleet.devices[i].Busy = false
	}
}

// toggleWatch follows the job that holds a locked device until it ends,
// or stops following it.
func (m *Model) toggleWatch(d api.Device) tea.Cmd {
	key := devKey{m.fleet.tenant, d.ID}
	if j := m.jobs.active[key]; j != nil {
		if j.kind == jobWatch {
			if j.stop != nil {
				j.stop()
			}
			m.jobs.finish(j, m.c.Now())
			m.addLog(common.LogInfo, "stopped watching %s", key)
			m.c.Tasks.Done("stopped watching %s", common.Clean(name(d)))
			return nil
		}
		m.c.Tasks.Fail("%s is being backed up by you already", common.Clean(name(d)))
		return nil
	}
	var lock *api.LockInfo
	lost := false // no reply came: the job may still run on the service
	if r := m.results[key]; r != nil {
		if r.reply != nil && r.reply.Status == api.StatusLocked {
			lock = r.reply.Lock
		}
		lost = r.err != nil
	}
	if lock == nil && !d.Busy && !lost {
		m.c.Tasks.Fail("%s is not locked: nothing to watch (b backs it up)", common.Clean(name(d)))
		return nil
	}
	j := &job{kind: jobWatch, state: jobRunning, key: key, devName: name(d), started: m.c.Now(), holder: "another job"}
	if lost {
		j.holder = cmp.Or(m.c.User, "your")
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
	m.jobs.add(j)
	m.addLog(common.LogInfo, "watching %s (held by %s)", key, common.Clean(j.holder))
	id, c, ctx, b := j.id, m.c.Client, m.c.Ctx, m.bridge
	return func() tea.Msg {
		stop, err := c.WatchDevice(ctx, key.tenant, key.device, func(u client.Update) {
			switch {
			case u.Progress != nil:
				if want == "" || u.Progress.JobID == "" || u.Progress.JobID == want {
					b.pushProgress(id, *u.Progress)
				}
			case u.Final != nil:
				if want == "" || u.Final.JobID == "" || u.Final.JobID == want {
					b.push(watchFinalMsg{job: id, reply: *u.Final})
				}
			}
		})
		return watchStartedMsg{job: id, stop: stop, err: err}
	}
}

func (m *Model) onWatchStarted(msg watchStartedMsg) {
	j := m.jobs.byID[msg.job]
	if j == nil {
		if msg.stop != nil {
			msg.stop()
		}
		return
	}
	if msg.err != nil {
		m.jobs.finish(j, m.c.Now())
		j.err = msg.err
		m.addLog(common.LogError, "watching %s: %s", j.key, common.Clean(msg.err.Error()))
		m.c.Tasks.Fail("cannot watch %s: %s", common.Clean(j.devName), common.Clean(msg.err.Error()))
		return
	}
	if j.state == jobDone { // ended (or was stopped) before the watch was up
		if msg.stop != nil {
			msg.stop()
		}
		return
	}
	j.stop = msg.stop
}

func (m *Model) onWatchFinal(msg watchFinalMsg) tea.Cmd {
	j := m.jobs.byID[msg.job]
	if j == nil || j.state == jobDone {
		return nil
	}
	if j.stop != nil {
		j.stop()
		j.stop = nil
	}
	m.jobs.finish(j, m.c.Now())
	r := msg.reply
	j.reply = &r
	res := &result{reply: &r, at: m.c.Now(), watched: true, holder: j.holder}
	m.results[j.key] = res
	m.applyResult(j, res)
	return nil
}

// Row state.

type stateKind int

const (
	stRunning stateKind = iota
	stWaiting
	stLocked
	stFailed
	stOK
	stIdle
)

func (k stateKind) rank() int { return int(k) }

type rowState struct {
	kind  stateKind
	stage api.Stage
	err   api.ErrorKind // stFailed; "" when no reply came
}

// deviceState is what a device row shows: our running job first, then the
// latest result of this session, then what the inventory says.
func (m *Model) deviceState(d api.Device) rowState {
	key := devKey{m.fleet.tenant, d.ID}
	if j := m.jobs.active[key]; j != nil {
		if j.state == jobWaiting {
			return rowState{kind: stWaiting}
		}
		return rowState{kind: stRunning, stage: j.stage}
	}
	if r := m.results[key]; r != nil && (d.LastBackup == nil || !d.LastBackup.CollectedAt.After(r.at)) {
		switch {
		case r.err != nil:
			return rowState{kind: stFailed}
		case r.reply.Status == api.StatusSuccess:
			return rowState{kind: stOK}
		case r.reply.Status == api.StatusLocked:
			return rowState{kind: stLocked}
		default:
			return rowState{kind: stFailed, err: r.reply.ErrorKind}
		}
	}
	if d.Busy {
		return rowState{kind: stLocked}
	}
	if e := d.LastError; e != nil && (d.LastBackup == nil || e.At.After(d.LastBackup.CollectedAt)) {
		return rowState{kind: stFailed, err: e.Kind}
	}
	return rowState{kind: stIdle}
}

var stageShort = map[api.Stage]string{
	api.StageQueued: "queued", api.StageLockAcquired: "lock", api.StageConnecting: "connect",
	api.StageAuthenticating: "auth", api.StageExporting: "export", api.StageStoring: "store",
}

func stageLabel(s api.Stage) string {
	if l, ok := stageShort[s]; ok {
		return l
	}
	if s == "" {
		return "starting"
	}
	return common.Clean(string(s))
}

// kindShort names an error kind in a table cell.
func kindShort(k api.ErrorKind) string {
	switch k {
	case "":
		return "no reply"
	case api.KindNotFound:
		return "not found"
	case api.KindBadRequest:
		return "bad request"
	case api.KindUnreachable:
		return "unreachable"
	case api.KindTimeout:
		return "timeout"
	case api.KindAuthFailed:
		return "auth failed"
	case api.KindHostKeyMismatch:
		return "host key"
	case api.KindTruncated:
		return "truncated"
	case api.KindInvalidOutput:
		return "bad output"
	case api.KindStorage:
		return "storage"
	case api.KindInternal:
		return "internal"
	}
	return common.Clean(string(k))
}

// stateText is the state cell: the symbol carries the meaning without
// colour, the word says which.
func stateText(s rowState, spin string, long bool) string {
	switch s.kind {
	case stRunning:
		return spin + " " + stageLabel(s.stage)
	case stWaiting:
		return "… waiting"
	case stLocked:
		return "⊘ locked"
	case stFailed:
		if long && s.err != "" {
			return "✗ " + common.Clean(string(s.err))
		}
		return "✗ " + kindShort(s.err)
	case stOK:
		return "✓ ok"
	}
	return "idle"
}

// Jobs panel.

// jobsShown lists the jobs the panel shows: running and watched first,
// then waiting, then the recently finished ones, newest first.
func (m *Model) jobsShown() []*job {
	var act, wait, done []*job
	now := m.c.Now()
	for _, j := range m.jobs.list {
		switch j.state {
		case jobRunning:
			act = append(act, j)
		case jobWaiting:
			wait = append(wait, j)
		default:
			if now.Sub(j.finished) < jobsLinger {
				done = append(done, j)
			}
		}
	}
	slices.Reverse(done)
	return append(append(act, wait...), done...)
}

func (m *Model) jobsHeader() string {
	running, waiting, watching, done := m.jobs.counts()
	var parts []string
	if running > 0 {
		parts = append(parts, fmt.Sprintf("%d running", running))
	}
	if waiting > 0 {
		parts = append(parts, fmt.Sprintf("%d waiting", waiting))
	}
	if watching > 0 {
		parts = append(parts, fmt.Sprintf("%d watched", watching))
	}
	if done > 0 {
		parts = append(parts, fmt.Sprintf("%d done", done))
	}
	return "Jobs · " + strings.Join(parts, " · ")
}

// jobLine is what one line of the jobs panel shows.
type jobLine struct {
	kind     jobKind
	state    jobState
	name     string
	holder   string
	stage    api.Stage
	reached  map[api.Stage]int64
	bytes    int64
	elapsed  int64 // ms
	reply    *api.TriggerReply
	err      error
	spin     string
	slotInfo string
}

func (m *Model) jobLineOf(j *job) jobLine {
	l := jobLine{kind: j.kind, state: j.state, name: common.Clean(j.devName), holder: common.Clean(j.holder), stage: j.stage,
		reached: j.reached, bytes: j.bytes, reply: j.reply, err: j.err, spin: m.c.Spin()}
	switch j.state {
	case jobRunning:
		l.elapsed = m.c.Now().Sub(j.started).Milliseconds()
		if !j.lastAt.IsZero() {
			l.elapsed = j.elapsedMS + m.c.Now().Sub(j.lastAt).Milliseconds()
		}
	case jobDone:
		l.elapsed = j.elapsedMS
		if j.reply != nil && j.reply.DurationMS > 0 {
			l.elapsed = j.reply.DurationMS
		}
	case jobWaiting:
		l.slotInfo = fmt.Sprintf("waiting for a free slot (%d of %d busy)", m.jobs.running, m.c.Concurrency)
	}
	if j.key.tenant != m.fleet.tenant {
		l.name = common.Clean(j.key.String())
	}
	return l
}

// renderJobLine is a pure function from a job to one panel line of w cells.
func renderJobLine(l jobLine, nameW, w int, st *common.Styles) string {
	nm := common.Fit(l.name, nameW)
	switch l.state {
	case jobWaiting:
		return st.Dim.Render("… "+nm+" ") + st.Dim.Render(l.slotInfo)
	case jobRunning:
		head := st.Running.Render(l.spin) + " " + nm + " "
		if l.kind == jobWatch {
			head += st.Warn.Render(l.holder+"'s job") + " "
		}
		tail := fmt.Sprintf("  %9s %7s", common.HumanSizeOrDash(l.bytes), common.Millis(max(l.elapsed, 0)))
		room := w - common.Width(head) - len(tail)
		return head + timeline(l, room, st) + st.Dim.Render(tail)
	}
	// Done.
	switch {
	case l.err != nil:
		return st.Bad.Render("✗ ") + nm + " " + st.Bad.Render("no reply: ") + common.Clean(l.err.Error())
	case l.reply == nil:
		return st.Dim.Render("· " + nm + " stopped watching")
	case l.reply.Status == api.StatusSuccess:
		ch := st.Dim.Render("unchanged")
		if l.reply.IsChanged() {
			ch = st.Warn.Render("changed  ")
		}
		by := ""
		if l.kind == jobWatch {
			by = st.Dim.Render(" by " + l.holder)
		}
		return st.OK.Render("✓ ") + nm + " " + ch + " " + st.Hash.Render(common.ShortHash(common.Clean(l.reply.SHA256))) +
			st.Dim.Render(fmt.Sprintf(" %s %s", common.HumanSize(l.reply.SizeBytes), common.Millis(l.elapsed))) + by
	case l.reply.Status == api.StatusLocked:
		who := "another job"
		stage := ""
		if lk := l.reply.Lock; lk != nil {
			who = common.Clean(lk.Holder)
			stage = " (" + stageLabel(lk.Stage) + ")"
		}
		return st.Warn.Render("⊘ ") + nm + " " + st.Warn.Render("locked by "+who+stage) + st.Dim.Render(" · w watches it")
	default:
		return st.Bad.Render("✗ ") + nm + " " + st.Bad.Render(kindShort(l.reply.ErrorKind)+": ") + common.Clean(l.reply.Error)
	}
}

// timeline renders the stages as ✓done ⠋current ·next, with the time each
// stage began when there is room, else just the current stage.
func timeline(l jobLine, room int, st *common.Styles) string {
	cur := l.stage.Index()
	render := func(withTimes bool) (string, int) {
		var b strings.Builder
		n := 0
		for i, s := range api.Stages {
			if i > 0 {
				b.WriteByte(' ')
				n++
			}
			label := stageShort[s]
			if withTimes {
				if at, ok := l.reached[s]; ok {
					label += " " + common.Millis(at)
				}
			}
			var mark string
			var style = st.Dim
			switch {
			case i < cur:
				mark, style = "✓", st.OK
			case i == cur:
				mark, style = l.spin, st.Running
			default:
				mark = "·"
			}
			b.WriteString(style.Render(mark + label))
			n += 1 + common.Width(label)
		}
		return b.String(), n
	}
	if s, n := render(true); n <= room {
		return s + strings.Repeat(" ", room-n)
	}
	if s, n := render(false); n <= room {
		return s + strings.Repeat(" ", room-n)
	}
	short := fmt.Sprintf("%s %s %d/%d", l.spin, stageLabel(l.stage), max(cur+1, 0), len(api.Stages))
	return st.Running.Render(common.Fit(short, max(room, 0)))
}
