package statusbar

import (
	"fmt"
	"time"
)

// Footer tasks (gh-dash): a line that says what the tool just did or is
// doing, with a spinner while it runs; finished ones clear themselves.

type taskState int

const (
	taskRunning taskState = iota
	taskDone
	taskFailed
)

type task struct {
	id    int
	state taskState
	text  string
	at    time.Time
}

// Tasks is the footer's task list; it implements common.Notifier.
type Tasks struct {
	items []task
	next  int
	now   func() time.Time
}

func newTasks(now func() time.Time) *Tasks { return &Tasks{now: now} }

// taskLinger is how long a finished task stays in the footer.
const taskLinger = 6 * time.Second

// Start shows a running task; Finish ends it.
func (t *Tasks) Start(text string) int {
	t.next++
	t.items = append(t.items, task{id: t.next, state: taskRunning, text: text, at: t.now()})
	return t.next
}

// Finish ends task id with its outcome.
func (t *Tasks) Finish(id int, ok bool, text string) {
	for i := range t.items {
		if t.items[i].id == id {
			t.items[i].state, t.items[i].text, t.items[i].at = taskFailed, text, t.now()
			if ok {
				t.items[i].state = taskDone
			}
			return
		}
	}
}

// Done shows something that just worked.
func (t *Tasks) Done(format string, args ...any) {
	t.Finish(t.Start(""), true, fmt.Sprintf(format, args...))
}

// Fail shows something that just failed.
func (t *Tasks) Fail(format string, args ...any) {
	t.Finish(t.Start(""), false, fmt.Sprintf(format, args...))
}

// Expire drops the finished tasks that have lingered long enough.
func (t *Tasks) Expire(now time.Time) {
	keep := t.items[:0]
	for _, it := range t.items {
		if it.state == taskRunning || now.Sub(it.at) < taskLinger {
			keep = append(keep, it)
		}
	}
	t.items = keep
}

// Running counts the tasks still running (they animate).
func (t *Tasks) Running() int {
	n := 0
	for _, it := range t.items {
		if it.state == taskRunning {
			n++
		}
	}
	return n
}

// latest is the task the footer shows: the newest one.
func (t *Tasks) latest() (task, bool) {
	if len(t.items) == 0 {
		return task{}, false
	}
	return t.items[len(t.items)-1], true
}
