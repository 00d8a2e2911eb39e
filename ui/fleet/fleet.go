// Package fleet is the main screen: the tenants on the left, the devices
// of the selected one with their filter, sort and marks, the jobs panel
// and the detail pane of the selected device. It loads the inventory,
// follows the tenant's snapshots live and asks the jobs for backups.
package fleet

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
	"github.com/cfgsnap/cfgsnap/ui/overlay"
)

type sortKey int

const (
	sortName sortKey = iota
	sortAge
	sortState
	// sortTriage: failures first, grouped by kind, then stale devices,
	// then the rest; within a group the oldest last success first.
	sortTriage
	numSorts
)

func (s sortKey) String() string {
	return [...]string{"name", "age", "state", "triage"}[s]
}

// fleetState is the device list of the selected tenant with its filter,
// sort, marks and cursor.
type fleetState struct {
	tenant            string
	devices           []api.Device
	index             map[string]int // device ID → position in devices
	hay               []string       // lower-case text the filter matches, per device
	sorted            []int          // all devices in sort order
	view              []int          // sorted, filtered
	common.ListWindow                // the cursor is into view

	loading bool
	err     error
	req     int

	filter    common.LineInput
	filtering bool
	lastQuery string
	sort      sortKey
	desc      bool

	marks map[string]map[string]bool // tenant → device → marked
	cache map[string][]api.Device    // tenant → devices, to switch back instantly
}

func (f *fleetState) init() {
	f.index = map[string]int{}
	f.marks = map[string]map[string]bool{}
	f.cache = map[string][]api.Device{}
}

func (f *fleetState) current() (api.Device, bool) {
	if f.Cursor < 0 || f.Cursor >= len(f.view) {
		return api.Device{}, false
	}
	return f.devices[f.view[f.Cursor]], true
}

func (f *fleetState) tenantMarks() map[string]bool {
	mk := f.marks[f.tenant]
	if mk == nil {
		mk = map[string]bool{}
		f.marks[f.tenant] = mk
	}
	return mk
}

// setDevices replaces the list, keeping the cursor on the same device.
func (m *Model) setDevices(devs []api.Device) {
	f := &m.fleet
	keep := ""
	if d, ok := f.current(); ok {
		keep = d.ID
	}
	f.devices = devs
	f.index = make(map[string]int, len(devs))
	f.hay = make([]string, len(devs))
	for i, d := range devs {
		f.index[d.ID] = i
		f.hay[i] = strings.ToLower(d.ID + " " + d.Name + " " + d.Host + " " + strings.Join(d.Tags, " "))
	}
	f.lastQuery = ""
	m.resort(keep)
}

// resort recomputes the sort order and the filtered view.
func (m *Model) resort(keep string) {
	f := &m.fleet
	f.sorted = f.sorted[:0]
	for i := range f.devices {
		f.sorted = append(f.sorted, i)
	}
	var ranks []int
	switch f.sort {
	case sortState:
		ranks = make([]int, len(f.devices))
		for i, d := range f.devices {
			ranks[i] = m.rowState(d).Kind.Rank()
		}
	case sortTriage:
		ranks = make([]int, len(f.devices))
		for i, d := range f.devices {
			ranks[i] = triageRank(m.rowState(d))
		}
	}
	name := func(i int) string { return cmp.Or(f.devices[i].Name, f.devices[i].ID) }
	slices.SortStableFunc(f.sorted, func(a, b int) int {
		var c int
		switch f.sort {
		case sortAge:
			// Ascending age: the most recent backup first, never last.
			ta, tb := backupTime(f.devices[a]), backupTime(f.devices[b])
			c = tb.Compare(ta)
			if ta.IsZero() != tb.IsZero() {
				c = cmp.Compare(boolInt(ta.IsZero()), boolInt(tb.IsZero()))
			}
		case sortState:
			c = cmp.Compare(ranks[a], ranks[b])
		case sortTriage:
			c = cmp.Compare(ranks[a], ranks[b])
			if c == 0 {
				// The longest without a success first; never before all.
				c = backupTime(f.devices[a]).Compare(backupTime(f.devices[b]))
			}
		}
		if c == 0 {
			c = strings.Compare(strings.ToLower(name(a)), strings.ToLower(name(b)))
		}
		if c == 0 {
			c = strings.Compare(f.devices[a].ID, f.devices[b].ID)
		}
		if f.desc {
			c = -c
		}
		return c
	})
	f.lastQuery = "\x00" // force a full refilter
	m.refilter(keep)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// refilter applies the filter to the sorted list. A query that extends
// the previous one only needs to look at the previous matches, which keeps
// typing fast on a large tenant.
func (m *Model) refilter(keep string) {
	f := &m.fleet
	q := strings.ToLower(strings.TrimSpace(f.filter.String()))
	src := f.sorted
	if f.lastQuery != "\x00" && f.lastQuery != "" && strings.HasPrefix(q, f.lastQuery) && !strings.Contains(q[len(f.lastQuery):], " ") {
		src = f.view
	}
	terms := strings.Fields(q)
	view := make([]int, 0, len(src))
	for _, i := range src {
		if matchAll(f.hay[i], terms) {
			view = append(view, i)
		}
	}
	f.view = view
	f.lastQuery = q
	f.Cursor = 0
	if keep != "" {
		if at, ok := f.index[keep]; ok {
			if p := slices.Index(f.view, at); p >= 0 {
				f.Cursor = p
			}
		}
	}
	f.Clamp(len(f.view), m.listRows())
}

// matchAll is a fuzzy match: every term must appear in hay as a
// subsequence, like fzf's space-separated terms.
func matchAll(hay string, terms []string) bool {
	for _, t := range terms {
		if !common.Subsequence(hay, t) {
			return false
		}
	}
	return true
}

// Loading.

type tenantsMsg struct {
	req     int
	tenants []api.Tenant
	err     error
}

type devicesMsg struct {
	req     int
	tenant  string
	devices []api.Device
	err     error
}

func (m *Model) loadTenants() tea.Cmd {
	if m.c.Client == nil {
		return nil
	}
	m.tenantReq = m.c.NextReq()
	m.tenantsLoading = true
	req, c, ctx := m.tenantReq, m.c.Client, m.c.Ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
		defer cancel()
		ts, err := c.Tenants(ctx)
		return tenantsMsg{req: req, tenants: ts, err: err}
	}
}

func (m *Model) onTenants(msg tenantsMsg) tea.Cmd {
	if msg.req != m.tenantReq {
		return nil
	}
	m.tenantsLoading = false
	m.tenantsErr = msg.err
	if msg.err != nil {
		m.c.Log(common.LogError, "loading tenants: %s", common.Clean(msg.err.Error()))
		return nil
	}
	cur := m.CurrentTenant()
	m.tenants = msg.tenants
	idx := 0
	for i, t := range m.tenants {
		if t.ID == cur {
			idx = i
		}
	}
	if len(m.tenants) == 0 {
		return nil
	}
	return m.selectTenant(idx, cur != m.tenants[idx].ID)
}

func (m *Model) tenantName(id string) string {
	for _, t := range m.tenants {
		if t.ID == id && t.Name != "" {
			return t.Name
		}
	}
	return id
}

// selectTenant shows tenant i: from the cache at once when it was seen
// before, and reloaded in the background either way.
func (m *Model) selectTenant(i int, switched bool) tea.Cmd {
	if i < 0 || i >= len(m.tenants) {
		return nil
	}
	m.tenant = i
	m.clampTenantOffset()
	id := m.tenants[i].ID
	if !switched && m.fleet.tenant == id {
		return nil
	}
	var cmds []tea.Cmd
	{
		f := &m.fleet
		if f.tenant != "" && f.devices != nil {
			f.cache[f.tenant] = f.devices
		}
		f.tenant = id
		f.Cursor, f.Offset = 0, 0
		f.filter.Set("")
		f.filtering = false
		f.err = nil
		m.setDevices(f.cache[id])
		cmds = append(cmds, m.startSnapWatch(id))
	}
	cmds = append(cmds, m.loadDevices())
	return tea.Batch(cmds...)
}

func (m *Model) loadDevices() tea.Cmd {
	if m.c.Client == nil || m.fleet.tenant == "" {
		return nil
	}
	f := &m.fleet
	f.req = m.c.NextReq()
	f.loading = true
	req, tenant, c, ctx := f.req, f.tenant, m.c.Client, m.c.Ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, common.RequestTimeout)
		defer cancel()
		devs, err := c.Devices(ctx, tenant)
		return devicesMsg{req: req, tenant: tenant, devices: devs, err: err}
	}
}

func (m *Model) onDevices(msg devicesMsg) tea.Cmd {
	f := &m.fleet
	if msg.err == nil {
		f.cache[msg.tenant] = msg.devices
	}
	if msg.req != f.req || msg.tenant != f.tenant {
		return nil // the user moved on; only the latest request counts
	}
	f.loading = false
	f.err = msg.err
	if msg.err != nil {
		m.c.Log(common.LogError, "loading devices of %s: %s", common.Clean(msg.tenant), common.Clean(msg.err.Error()))
		return nil
	}
	// Snapshots seen while the request was in flight may be newer than
	// the reply: keep whichever backup is the most recent.
	if len(f.devices) > 0 {
		for i, d := range msg.devices {
			if at, ok := f.index[d.ID]; ok {
				old := f.devices[at]
				if old.LastBackup != nil && (d.LastBackup == nil || old.LastBackup.CollectedAt.After(d.LastBackup.CollectedAt)) {
					msg.devices[i].LastBackup = old.LastBackup
				}
			}
		}
	}
	m.setDevices(msg.devices)
	for i := range m.tenants {
		if m.tenants[i].ID == msg.tenant {
			m.tenants[i].DeviceCount = len(msg.devices)
		}
	}
	return nil
}

// Live snapshots of the selected tenant, stored by anyone.

type snapWatch struct {
	tenant string
	req    int
	stop   func()
}

type snapWatchMsg struct {
	req    int
	tenant string
	stop   func()
	err    error
}

func (m *Model) startSnapWatch(tenant string) tea.Cmd {
	m.stopSnapWatch()
	if m.c.Client == nil {
		return nil
	}
	m.snapWatch = snapWatch{tenant: tenant, req: m.c.NextReq()}
	req, c, ctx, b := m.snapWatch.req, m.c.Client, m.c.Ctx, m.bridge
	return func() tea.Msg {
		stop, err := c.WatchSnapshots(ctx, tenant, func(rec api.SnapshotRecord) {
			b.Push(SnapshotMsg{Tenant: tenant, Rec: rec})
		})
		return snapWatchMsg{req: req, tenant: tenant, stop: stop, err: err}
	}
}

func (m *Model) stopSnapWatch() {
	if m.snapWatch.stop != nil {
		m.snapWatch.stop()
	}
	m.snapWatch = snapWatch{}
}

func (m *Model) onSnapWatch(msg snapWatchMsg) {
	if msg.req != m.snapWatch.req {
		if msg.stop != nil {
			msg.stop() // the tenant changed before the watch started
		}
		return
	}
	if msg.err != nil {
		m.c.Log(common.LogWarn, "live snapshot updates for %s unavailable: %s", common.Clean(msg.tenant), common.Clean(msg.err.Error()))
		return
	}
	m.snapWatch.stop = msg.stop
}

func (m *Model) onSnapshot(ev SnapshotMsg) {
	rec := ev.Rec
	if ev.Tenant == m.fleet.tenant {
		f := &m.fleet
		if i, ok := f.index[rec.DeviceID]; ok {
			d := &f.devices[i]
			if d.LastBackup == nil || !rec.CollectedAt.Before(d.LastBackup.CollectedAt) {
				r := rec
				d.LastBackup = &r
				if f.sort != sortName {
					m.resortKeep()
				}
			}
		}
	}
}

func (m *Model) resortKeep() {
	keep := ""
	if d, ok := m.fleet.current(); ok {
		keep = d.ID
	}
	m.resort(keep)
}

// Keys.

func (m *Model) fleetKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.Keys
	f := &m.fleet
	rows := m.listRows()
	if m.focusTenants && m.c.Wide() {
		switch {
		case key.Matches(msg, k.Up):
			return m.selectTenant(m.tenant-1, true)
		case key.Matches(msg, k.Down):
			return m.selectTenant(m.tenant+1, true)
		case key.Matches(msg, k.Top):
			return m.selectTenant(0, true)
		case key.Matches(msg, k.Bottom):
			return m.selectTenant(len(m.tenants)-1, true)
		case key.Matches(msg, k.FocusDevices):
			m.focusTenants = false
			return nil
		}
	}
	switch {
	case f.Move(msg, &k, len(f.view), rows):
	case key.Matches(msg, k.Focus):
		if m.c.Wide() {
			m.focusTenants = !m.focusTenants
		}
	case key.Matches(msg, k.FocusTenants):
		if m.c.Wide() {
			m.focusTenants = true
		}
	case key.Matches(msg, k.NextTenant):
		return m.selectTenant(m.tenant+1, true)
	case key.Matches(msg, k.PrevTenant):
		return m.selectTenant(m.tenant-1, true)
	case key.Matches(msg, k.Tenants):
		m.c.Send(overlay.PickTenantMsg{Tenants: m.tenants, Current: m.tenant})
	case key.Matches(msg, k.Filter):
		f.filtering = true
	case key.Matches(msg, k.Back):
		switch {
		case f.filter.String() != "":
			f.filter.Set("")
			m.resortKeep()
		case len(f.tenantMarks()) > 0:
			clear(f.tenantMarks())
		}
	case key.Matches(msg, k.Sort):
		f.sort = (f.sort + 1) % numSorts
		f.desc = false
		m.resortKeep()
	case key.Matches(msg, k.Triage):
		if f.sort == sortTriage {
			f.sort = sortName
		} else {
			f.sort = sortTriage
		}
		f.desc = false
		m.resortKeep()
	case key.Matches(msg, k.BackupReason):
		if devs := m.targets(); len(devs) > 0 {
			m.c.Send(overlay.AskReasonMsg{Tenant: f.tenant, Devices: devs, Last: m.c.LastReason})
		}
	case key.Matches(msg, k.LastDiff):
		if d, ok := f.current(); ok {
			m.lastDiff(d)
		}
	case key.Matches(msg, k.Shell):
		if d, ok := f.current(); ok {
			m.c.Send(common.ShellMsg{Tenant: f.tenant, Device: d})
		}
	case key.Matches(msg, k.SortReverse):
		f.desc = !f.desc
		m.resortKeep()
	case key.Matches(msg, k.Mark):
		if d, ok := f.current(); ok {
			mk := f.tenantMarks()
			if mk[d.ID] {
				delete(mk, d.ID)
			} else {
				mk[d.ID] = true
			}
			f.Cursor++
		}
	case key.Matches(msg, k.MarkAll):
		m.markAllShown()
	case key.Matches(msg, k.Refresh):
		return tea.Batch(m.loadTenants(), m.loadDevices())
	case key.Matches(msg, k.Backup):
		if d, ok := f.current(); ok {
			return m.jobs.Enqueue(f.tenant, []api.Device{d})
		}
	case key.Matches(msg, k.BackupMany):
		return m.backupMany()
	case key.Matches(msg, k.History):
		if d, ok := f.current(); ok {
			m.c.Send(common.OpenHistoryMsg{Tenant: f.tenant, TenantName: m.tenantName(f.tenant), Device: d})
			return nil
		}
	case key.Matches(msg, k.Copy):
		if d, ok := f.current(); ok {
			return m.copyHash(d)
		}
	case key.Matches(msg, k.Watch):
		if d, ok := f.current(); ok {
			return m.jobs.ToggleWatch(f.tenant, d)
		}
	case key.Matches(msg, k.Forget):
		if d, ok := f.current(); ok {
			m.askForget(d)
		}
	case key.Matches(msg, k.FleetSearch):
		m.c.Send(common.OpenSearchMsg{})
		return nil
	case key.Matches(msg, k.Changes):
		m.c.Send(common.OpenChangesMsg{})
		return nil
	}
	f.Clamp(len(f.view), rows)
	return nil
}

func (m *Model) markAllShown() {
	f := &m.fleet
	mk := f.tenantMarks()
	all := true
	for _, i := range f.view {
		if !mk[f.devices[i].ID] {
			all = false
			break
		}
	}
	for _, i := range f.view {
		if all {
			delete(mk, f.devices[i].ID)
		} else {
			mk[f.devices[i].ID] = true
		}
	}
}

func (m *Model) filterKey(msg tea.KeyPressMsg) {
	f := &m.fleet
	k := &m.c.Keys
	switch {
	case key.Matches(msg, k.Back):
		f.filtering = false
		if f.filter.String() != "" {
			f.filter.Set("")
			m.resortKeep()
		}
		return
	case key.Matches(msg, k.FilterDone):
		f.filtering = false
		return
	case f.MoveTyping(msg, k, len(f.view), m.listRows()): // through the matches while still typing
		return
	}
	keep := ""
	if d, ok := f.current(); ok {
		keep = d.ID
	}
	if changed, _ := f.filter.Edit(msg, &m.c.Keys); changed {
		m.refilter(keep)
	}
}

// backupMany backs up the marked devices of the tenant, or, with none
// marked, all of them after a confirmation.
func (m *Model) backupMany() tea.Cmd {
	f := &m.fleet
	mk := f.tenantMarks()
	if len(mk) > 0 {
		var devs []api.Device
		for _, i := range f.sorted {
			if mk[f.devices[i].ID] {
				devs = append(devs, f.devices[i])
			}
		}
		clear(mk)
		return m.jobs.Enqueue(f.tenant, devs)
	}
	if len(f.devices) == 0 {
		return nil
	}
	n := len(f.devices)
	m.c.Send(overlay.AskMsg{Q: &overlay.Question{
		Ask:   overlay.AskBackupAll,
		Title: "Back up the whole tenant?",
		Lines: []string{
			fmt.Sprintf("Back up all %s of %s now?", common.Plural(n, "device", "devices"), common.Clean(m.tenantName(f.tenant))),
			fmt.Sprintf("At most %d run at once; the rest wait their turn.", m.c.Concurrency),
			"Tip: space marks devices to back up only those.",
		},
		Yes:    "back up all",
		Tenant: f.tenant,
	}})
	return nil
}

func (m *Model) backupAll(tenant string) tea.Cmd {
	if tenant != m.fleet.tenant {
		return nil
	}
	var devs []api.Device
	for _, i := range m.fleet.sorted {
		devs = append(devs, m.fleet.devices[i])
	}
	return m.jobs.Enqueue(tenant, devs)
}

func (m *Model) copyHash(d api.Device) tea.Cmd {
	hash := ""
	if r := m.jobs.Result(jobs.Key{Tenant: m.fleet.tenant, Device: d.ID}); r != nil && r.Reply != nil && r.Reply.SHA256 != "" {
		hash = r.Reply.SHA256
	} else if d.LastBackup != nil {
		hash = d.LastBackup.SHA256
	}
	if hash == "" {
		m.c.Tasks.Fail("%s has no backup yet: nothing to copy", common.Clean(name(d)))
		return nil
	}
	m.c.Send(common.CopyMsg{Text: hash, What: fmt.Sprintf("sha256 of %s", common.Clean(name(d)))})
	return nil
}

func name(d api.Device) string { return cmp.Or(d.Name, d.ID) }

func backupTime(d api.Device) time.Time {
	if d.LastBackup == nil {
		return time.Time{}
	}
	return d.LastBackup.CollectedAt
}

// onResult puts a backup's result into the device row, so the row's age,
// hash and version are right without reloading the tenant, and re-sorts.
func (m *Model) onResult(msg jobs.ResultMsg) {
	if r := msg.Res.Reply; msg.Res.Err == nil && r != nil {
		switch r.Status {
		case api.StatusSuccess:
			m.recordBackup(msg.Key, r)
		case api.StatusLocked:
		default:
			m.recordError(msg.Key, r)
		}
	}
	if m.fleet.sort != sortName {
		m.resortKeep()
	}
}

func (m *Model) recordBackup(key jobs.Key, r *api.TriggerReply) {
	if key.Tenant != m.fleet.tenant {
		return
	}
	i, ok := m.fleet.index[key.Device]
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
		SnapshotID: r.SnapshotID, TenantID: key.Tenant, DeviceID: key.Device, SHA256: r.SHA256,
		CollectedAt: at, SizeBytes: r.SizeBytes, Changed: r.IsChanged(), PreviousHash: r.PreviousHash,
		Trigger: api.TriggerManual, RouterOSVersion: r.RouterOSVersion,
		NormalizationVersion: r.NormalizationVersion, DurationMS: r.DurationMS,
	}
	d.Busy = false
}

func (m *Model) recordError(key jobs.Key, r *api.TriggerReply) {
	if key.Tenant != m.fleet.tenant {
		return
	}
	if i, ok := m.fleet.index[key.Device]; ok {
		m.fleet.devices[i].LastError = &api.DeviceError{Kind: r.ErrorKind, Error: r.Error, At: m.c.Now()}
		m.fleet.devices[i].Busy = false
	}
}
