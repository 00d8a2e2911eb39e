package jobs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
)

// Jobs panel.

// shown lists the jobs the panel shows: running and watched first,
// then waiting, then the recently finished ones, newest first.
func (q *Model) shown() []*job {
	var act, wait, done []*job
	now := q.c.Now()
	for _, j := range q.list {
		switch j.state {
		case Running:
			act = append(act, j)
		case Waiting:
			wait = append(wait, j)
		default:
			if now.Sub(j.finished) < linger {
				done = append(done, j)
			}
		}
	}
	slices.Reverse(done)
	return append(append(act, wait...), done...)
}

func (q *Model) header() string {
	running, waiting, watching, done := q.Counts()
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

// Line is what one line of the jobs panel (and the detail pane) shows of
// a job.
type Line struct {
	Kind     Kind
	State    State
	Name     string
	Holder   string
	Stage    api.Stage
	Reached  map[api.Stage]int64
	Bytes    int64
	Elapsed  int64 // ms
	Reply    *api.TriggerReply
	Err      error
	Spin     string
	SlotInfo string
}

// lineOf is what the panel shows of j when tenant is in front.
func (q *Model) lineOf(j *job, tenant string) Line {
	l := Line{Kind: j.kind, State: j.state, Name: common.Clean(j.devName), Holder: common.Clean(j.holder), Stage: j.stage,
		Reached: j.reached, Bytes: j.bytes, Reply: j.reply, Err: j.err, Spin: q.c.Spin()}
	switch j.state {
	case Running:
		l.Elapsed = q.c.Now().Sub(j.started).Milliseconds()
		if !j.lastAt.IsZero() {
			l.Elapsed = j.elapsedMS + q.c.Now().Sub(j.lastAt).Milliseconds()
		}
	case Done:
		l.Elapsed = j.elapsedMS
		if j.reply != nil && j.reply.DurationMS > 0 {
			l.Elapsed = j.reply.DurationMS
		}
	case Waiting:
		l.SlotInfo = fmt.Sprintf("waiting for a free slot (%d of %d busy)", q.running, q.c.Concurrency)
	}
	if j.key.Tenant != tenant {
		l.Name = common.Clean(j.key.String())
	}
	return l
}

// Active is the line of the job waiting or running on device of tenant.
func (q *Model) Active(tenant, device string) (Line, bool) {
	j := q.active[Key{tenant, device}]
	if j == nil {
		return Line{}, false
	}
	return q.lineOf(j, tenant), true
}

// Shown is how many jobs the panel lists.
func (q *Model) Shown() int { return len(q.shown()) }

// Panel is the jobs panel when tenant is in front: its title rule and at
// most rows-1 jobs, w cells wide.
func (q *Model) Panel(tenant string, w, rows int) []string {
	st := &q.c.Styles
	out := []string{st.SectionRule(q.header(), w)}
	jobs := q.shown()
	nameW := 10
	for _, j := range jobs {
		nameW = max(nameW, common.Width(common.Clean(j.devName)))
	}
	nameW = min(nameW, max(w/4, 10))
	for i := 0; i < rows-1 && i < len(jobs); i++ {
		out = append(out, common.Fit(RenderLine(q.lineOf(jobs[i], tenant), nameW, w, st), w))
	}
	return out
}

// RenderLine is a pure function from a job to one panel line of w cells.
func RenderLine(l Line, nameW, w int, st *common.Styles) string {
	nm := common.Fit(l.Name, nameW)
	switch l.State {
	case Waiting:
		return st.Dim.Render("… "+nm+" ") + st.Dim.Render(l.SlotInfo)
	case Running:
		head := st.Running.Render(l.Spin) + " " + nm + " "
		if l.Kind == Watch {
			head += st.Warn.Render(l.Holder+"'s job") + " "
		}
		tail := fmt.Sprintf("  %9s %7s", common.HumanSizeOrDash(l.Bytes), common.Millis(max(l.Elapsed, 0)))
		room := w - common.Width(head) - len(tail)
		return head + timeline(l, room, st) + st.Dim.Render(tail)
	}
	// Done.
	switch {
	case l.Err != nil:
		return st.Bad.Render("✗ ") + nm + " " + st.Bad.Render("no reply: ") + common.Clean(l.Err.Error())
	case l.Reply == nil:
		return st.Dim.Render("· " + nm + " stopped watching")
	case l.Reply.Status == api.StatusSuccess:
		ch := st.Dim.Render("unchanged")
		if l.Reply.IsChanged() {
			ch = st.Warn.Render("changed  ")
		}
		by := ""
		if l.Kind == Watch {
			by = st.Dim.Render(" by " + l.Holder)
		}
		return st.OK.Render("✓ ") + nm + " " + ch + " " + st.Hash.Render(common.ShortHash(common.Clean(l.Reply.SHA256))) +
			st.Dim.Render(fmt.Sprintf(" %s %s", common.HumanSize(l.Reply.SizeBytes), common.Millis(l.Elapsed))) + by
	case l.Reply.Status == api.StatusLocked:
		who := "another job"
		stage := ""
		if lk := l.Reply.Lock; lk != nil {
			who = common.Clean(lk.Holder)
			stage = " (" + StageLabel(lk.Stage) + ")"
		}
		return st.Warn.Render("⊘ ") + nm + " " + st.Warn.Render("locked by "+who+stage) + st.Dim.Render(" · w watches it")
	default:
		return st.Bad.Render("✗ ") + nm + " " + st.Bad.Render(KindShort(l.Reply.ErrorKind)+": ") + common.Clean(l.Reply.Error)
	}
}

// timeline renders the stages as ✓done ⠋current ·next, with the time each
// stage began when there is room, else just the current stage.
func timeline(l Line, room int, st *common.Styles) string {
	cur := l.Stage.Index()
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
				if at, ok := l.Reached[s]; ok {
					label += " " + common.Millis(at)
				}
			}
			var mark string
			var style = st.Dim
			switch {
			case i < cur:
				mark, style = "✓", st.OK
			case i == cur:
				mark, style = l.Spin, st.Running
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
	short := fmt.Sprintf("%s %s %d/%d", l.Spin, StageLabel(l.Stage), max(cur+1, 0), len(api.Stages))
	return st.Running.Render(common.Fit(short, max(room, 0)))
}
