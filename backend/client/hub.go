package client

import (
	"sync"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// hub fans out this process's job updates and snapshots to watchers.
type hub struct {
	mu        sync.Mutex
	next      int
	devices   map[string]map[int]func(Update)
	snapshots map[string]map[int]func(api.SnapshotRecord)
	jobs      map[string]bool // job IDs running in this process
}

func (h *hub) watchDevice(tenant, device string, fn func(Update)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.devices == nil {
		h.devices = map[string]map[int]func(Update){}
	}
	k := tenant + "/" + device
	if h.devices[k] == nil {
		h.devices[k] = map[int]func(Update){}
	}
	h.next++
	id := h.next
	h.devices[k][id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.devices[k], id)
	}
}

func (h *hub) watchSnapshots(tenant string, fn func(api.SnapshotRecord)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.snapshots == nil {
		h.snapshots = map[string]map[int]func(api.SnapshotRecord){}
	}
	if h.snapshots[tenant] == nil {
		h.snapshots[tenant] = map[int]func(api.SnapshotRecord){}
	}
	h.next++
	id := h.next
	h.snapshots[tenant][id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.snapshots[tenant], id)
	}
}

func (h *hub) device(tenant, device string, u Update) {
	h.mu.Lock()
	if h.jobs == nil {
		h.jobs = map[string]bool{}
	}
	switch {
	case u.Progress != nil:
		h.jobs[u.Progress.JobID] = true
	case u.Final != nil:
		delete(h.jobs, u.Final.JobID)
	}
	var fns []func(Update)
	for _, fn := range h.devices[tenant+"/"+device] {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(u)
	}
}

func (h *hub) localJob(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.jobs[id]
}

func (h *hub) snapshot(rec api.SnapshotRecord) {
	h.mu.Lock()
	var fns []func(api.SnapshotRecord)
	for _, fn := range h.snapshots[rec.TenantID] {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(rec)
	}
}
