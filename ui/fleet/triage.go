package fleet

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
)

// kindOrder is the triage order of failure kinds: what needs a person
// most (a host key that changed, a login refused) first.
var kindOrder = []api.ErrorKind{
	api.KindHostKeyMismatch, api.KindAuthFailed, api.KindUnreachable, api.KindTimeout,
	api.KindTruncated, api.KindInvalidOutput, api.KindStorage, api.KindInternal,
	api.KindNotFound, api.KindBadRequest, "",
}

// triageRank orders row states for the triage view: failures by kind,
// then stale, then locked and busy, then the healthy.
func triageRank(s jobs.RowState) int {
	n := len(kindOrder)
	switch s.Kind {
	case jobs.StFailed:
		if i := slices.Index(kindOrder, s.Err); i >= 0 {
			return i
		}
		return n - 1 // an unknown kind is still a failure
	case jobs.StStale:
		return n
	case jobs.StLocked:
		return n + 1
	case jobs.StRunning, jobs.StWaiting:
		return n + 2
	}
	return n + 3
}

// stale reports whether d has had no successful backup within the stale
// threshold.
func (m *Model) stale(d api.Device) bool {
	if d.LastBackup == nil {
		return true
	}
	after := m.c.StaleAfter
	if after <= 0 {
		after = common.DefaultStaleAfter
	}
	return m.c.Now().Sub(d.LastBackup.CollectedAt) > after
}

// rowState is the state a device row shows: the jobs' view, with an idle
// device that has gone too long without a success shown as stale.
func (m *Model) rowState(d api.Device) jobs.RowState {
	s := m.jobs.State(m.fleet.tenant, d)
	if s.Kind == jobs.StIdle && m.stale(d) {
		s.Kind = jobs.StStale
	}
	return s
}

// Triage reports whether the fleet is sorted for triage.
func (m *Model) Triage() bool { return m.fleet.sort == sortTriage }

// TriageCounts is the tenant's devices per failure kind and stale, for
// the status bar: "2 auth_failed · 1 timeout · 3 stale"; "" when none.
func (m *Model) TriageCounts() string {
	kinds := map[api.ErrorKind]int{}
	stale := 0
	for _, d := range m.fleet.devices {
		switch s := m.rowState(d); s.Kind {
		case jobs.StFailed:
			kinds[s.Err]++
		case jobs.StStale:
			stale++
		}
	}
	ks := make([]api.ErrorKind, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b api.ErrorKind) int {
		return cmp.Or(cmp.Compare(triageRank(jobs.RowState{Kind: jobs.StFailed, Err: a}), triageRank(jobs.RowState{Kind: jobs.StFailed, Err: b})), strings.Compare(string(a), string(b)))
	})
	var parts []string
	for _, k := range ks {
		label := string(k)
		if k == "" {
			label = "no_reply"
		}
		parts = append(parts, fmt.Sprintf("%d %s", kinds[k], common.Clean(label)))
	}
	if stale > 0 {
		parts = append(parts, fmt.Sprintf("%d stale", stale))
	}
	return strings.Join(parts, " · ")
}

// targets are the devices a backup key acts on: the marked ones, else the
// one under the cursor.
func (m *Model) targets() []api.Device {
	f := &m.fleet
	if mk := f.tenantMarks(); len(mk) > 0 {
		var devs []api.Device
		for _, i := range f.sorted {
			if mk[f.devices[i].ID] {
				devs = append(devs, f.devices[i])
			}
		}
		return devs
	}
	if d, ok := f.current(); ok {
		return []api.Device{d}
	}
	return nil
}

// BackupWithReason backs up devs of tenant with reason, remembering it for
// the session; marks are cleared as with B.
func (m *Model) BackupWithReason(tenant string, devs []api.Device, reason string) tea.Cmd {
	m.c.LastReason = reason
	if tenant == m.fleet.tenant {
		clear(m.fleet.tenantMarks())
	}
	return m.jobs.EnqueueReason(tenant, devs, reason)
}

// lastDiff opens the diff of d's latest snapshot against the one before:
// after a backup with a reason, what the change did is one key away.
func (m *Model) lastDiff(d api.Device) {
	var to api.SnapshotRecord
	if r := m.jobs.Result(jobs.Key{Tenant: m.fleet.tenant, Device: d.ID}); r != nil && r.Err == nil && r.Reply != nil &&
		r.Reply.Status == api.StatusSuccess && (d.LastBackup == nil || !d.LastBackup.CollectedAt.After(r.At)) {
		to = api.SnapshotRecord{SnapshotID: r.Reply.SnapshotID, TenantID: m.fleet.tenant, DeviceID: d.ID, SHA256: r.Reply.SHA256,
			CollectedAt: r.Reply.CollectedAt, PreviousHash: r.Reply.PreviousHash, SizeBytes: r.Reply.SizeBytes}
	} else if d.LastBackup != nil {
		to = *d.LastBackup
	}
	switch {
	case to.SHA256 == "":
		m.c.Tasks.Fail("%s has no backup yet: nothing to compare", common.Clean(name(d)))
		return
	case to.PreviousHash == "":
		m.c.Tasks.Fail("the latest snapshot of %s is its first: nothing to compare", common.Clean(name(d)))
		return
	}
	m.c.Send(common.OpenDiffMsg{Tenant: m.fleet.tenant, Device: d.ID, DevName: name(d),
		From: api.SnapshotRecord{TenantID: m.fleet.tenant, DeviceID: d.ID, SHA256: to.PreviousHash}, To: to})
}
