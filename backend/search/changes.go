package search

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
	"github.com/cfgsnap/cfgsnap/backend/textdiff"
)

// historyPage is how many records Changes reads per History call.
const historyPage = 100

// maxStats bounds the cache of line counts per pair of hashes.
const maxStats = 100_000

// Changes returns the snapshots in scope stored at or after req.Since that
// changed their device's configuration, newest first, with the lines added
// and removed since the previous configuration, and the devices' first
// snapshots as Kind new. At most api.LimitMax(req.Max) are returned.
func (e *Engine) Changes(ctx context.Context, sc Scope, req api.ChangesRequest) (api.ChangesReply, error) {
	limit := api.LimitMax(req.Max)
	latest, err := e.st.LatestAll(ctx, sc.Tenant)
	if err != nil {
		return api.ChangesReply{}, api.Wrap(api.KindStorage, err, "read the latest snapshots")
	}
	var out []api.Change
	for k, last := range latest {
		// A device whose newest snapshot is older than the window has none
		// in it: no history read.
		if !sc.covers(k) || last.CollectedAt.Before(req.Since) {
			continue
		}
		before := ""
	pages:
		for {
			recs, more, err := e.st.History(ctx, k.Tenant, k.Device, historyPage, before)
			if err != nil {
				return api.ChangesReply{}, api.Wrap(api.KindStorage, err, "read the history of "+k.String())
			}
			for _, r := range recs {
				if r.CollectedAt.Before(req.Since) {
					break pages
				}
				switch {
				case r.PreviousHash == "":
					out = append(out, change(r, api.ChangeNew))
				case r.Changed && r.PreviousHash != r.SHA256:
					out = append(out, change(r, api.ChangeChanged))
				}
				before = r.SnapshotID
			}
			if !more || len(recs) == 0 {
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b api.Change) int {
		return cmp.Or(b.CollectedAt.Compare(a.CollectedAt), cmp.Compare(a.TenantID, b.TenantID),
			cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(b.SnapshotID, a.SnapshotID))
	})
	rep := api.ChangesReply{Changes: out}
	if len(out) > limit {
		rep.Changes, rep.More = out[:limit], true
	}
	if rep.Changes == nil {
		rep.Changes = []api.Change{}
	}
	if err := e.count(ctx, rep.Changes); err != nil {
		return api.ChangesReply{}, err
	}
	return rep, nil
}

func change(r api.SnapshotRecord, kind api.ChangeKind) api.Change {
	return api.Change{TenantID: r.TenantID, DeviceID: r.DeviceID, Kind: kind, SnapshotID: r.SnapshotID,
		SHA256: r.SHA256, PreviousHash: r.PreviousHash, CollectedAt: r.CollectedAt,
		Trigger: r.Trigger, RequestedBy: r.RequestedBy, Reason: r.Reason}
}

// count fills in the added and removed line counts of the changed
// entries, from the cache or by diffing the two configurations (from the
// index when it holds them, else from the store).
func (e *Engine) count(ctx context.Context, cs []api.Change) error {
	var todo []int
	e.statsMu.Lock()
	for i := range cs {
		if cs[i].Kind != api.ChangeChanged {
			continue
		}
		if s, ok := e.stats[[2]string{cs[i].PreviousHash, cs[i].SHA256}]; ok {
			cs[i].Added, cs[i].Removed = s[0], s[1]
			continue
		}
		todo = append(todo, i)
	}
	e.statsMu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	jobs := make(chan int)
	errs := make(chan error, e.Loaders)
	var wg sync.WaitGroup
	for range min(e.Loaders, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				a, err := e.lines(ctx, cs[i].PreviousHash)
				if err == nil {
					var b []string
					b, err = e.lines(ctx, cs[i].SHA256)
					if err == nil {
						for _, l := range textdiff.Edits(a, b) {
							switch l.Op {
							case textdiff.Insert:
								cs[i].Added++
							case textdiff.Delete:
								cs[i].Removed++
							}
						}
						e.statsMu.Lock()
						if len(e.stats) >= maxStats {
							clear(e.stats)
						}
						e.stats[[2]string{cs[i].PreviousHash, cs[i].SHA256}] = [2]int{cs[i].Added, cs[i].Removed}
						e.statsMu.Unlock()
						continue
					}
				}
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	for _, i := range todo {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// lines returns a configuration's lines: from the index (no copy: the
// strings point into the arena) or read from the store.
func (e *Engine) lines(ctx context.Context, hash string) ([]string, error) {
	e.mu.RLock()
	if d, ok := e.idx.docs[hash]; ok {
		out := make([]string, len(d.seq))
		for i, id := range d.seq {
			out[i] = e.idx.lines[id]
		}
		e.mu.RUnlock()
		return out, nil
	}
	e.mu.RUnlock()
	b, err := e.st.Content(ctx, hash)
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read configuration "+store.Short(hash))
	}
	return textdiff.SplitLines(string(b)), nil
}
