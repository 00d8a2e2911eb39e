package search

import (
	"cmp"
	"context"
	"errors"
	"path"
	"regexp"
	"regexp/syntax"
	"runtime"
	"slices"
	"sync"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Engine searches and summarises the configurations of one store. It is
// safe for concurrent use; one Engine per process and store is enough (the
// service shares one across tenants: results are confined by the scope of
// each call, never by the index).
type Engine struct {
	st store.Store
	// Loaders is how many contents are read from the store at once when
	// the index catches up (decompression and decryption run in them).
	Loaders int

	syncMu sync.Mutex   // one catch-up at a time
	mu     sync.RWMutex // guards idx
	idx    *index

	statsMu sync.Mutex
	stats   map[[2]string][2]int // (old hash, new hash) → (added, removed)
}

// New returns an engine on st. Nothing is read until the first call.
func New(st store.Store) *Engine {
	return &Engine{st: st, Loaders: max(2, runtime.GOMAXPROCS(0)), idx: newIndex(), stats: map[[2]string][2]int{}}
}

// Scope says which devices a call covers: Tenant "" is every tenant, and
// Allow, when set, must accept the device (the inventory: a device removed
// from it is not searched).
type Scope struct {
	Tenant string
	Allow  func(tenant, device string) bool
}

// InventoryScope confines a call to the devices inv has: of tenant (which
// must be a valid ID the inventory knows), or of every tenant when tenant
// is "". The direct client and the service scope their calls this way.
func InventoryScope(inv *inventory.Inventory, tenant string) (Scope, error) {
	if tenant != "" {
		if err := api.CheckID("tenant ID", tenant); err != nil {
			return Scope{}, err
		}
		if _, ok := inv.Tenant(tenant); !ok {
			return Scope{}, api.Errorf(api.KindNotFound, "tenant %s not found", tenant)
		}
	}
	return Scope{Tenant: tenant, Allow: func(t, dev string) bool {
		_, ok := inv.Device(t, dev)
		return ok
	}}, nil
}

func (s Scope) covers(k store.DeviceKey) bool {
	return (s.Tenant == "" || k.Tenant == s.Tenant) && (s.Allow == nil || s.Allow(k.Tenant, k.Device))
}

// sync brings the index up to the store's latest snapshots of every
// device and returns them. Hashes new since the last call are read from
// the store (the cold part); hashes no device's latest snapshot has any
// more are dropped.
func (e *Engine) sync(ctx context.Context) (map[store.DeviceKey]api.SnapshotRecord, error) {
	latest, err := e.st.LatestAll(ctx, "")
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read the latest snapshots")
	}
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	want := make(map[string]bool, len(latest))
	for _, r := range latest {
		want[r.SHA256] = true
	}
	e.mu.RLock()
	var missing []string
	for h := range want {
		if _, ok := e.idx.docs[h]; !ok {
			missing = append(missing, h)
		}
	}
	var gone []string
	for h := range e.idx.docs {
		if !want[h] {
			gone = append(gone, h)
		}
	}
	e.mu.RUnlock()
	if len(missing) == 0 && len(gone) == 0 {
		return latest, nil
	}
	if err := e.load(ctx, missing); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range gone {
		e.idx.dropDoc(h)
	}
	// Once most interned line positions belong to dropped configurations,
	// rebuild from the live ones (in memory, no store reads).
	if e.idx.dead > 1<<16 && e.idx.dead > e.idx.refs {
		e.idx = e.idx.rebuilt()
	}
	return latest, nil
}

// load reads the contents of hashes, several at once, and interns them as
// they arrive. Reading, decryption, splitting, hashing and looking up the
// lines the index has already run in the loaders, in parallel under the
// read lock; only the lines new to the index are placed serially, under
// the write lock (most lines of a fleet are shared, so the serial part
// shrinks as the index fills).
func (e *Engine) load(ctx context.Context, hashes []string) error {
	if len(hashes) == 0 {
		return nil
	}
	type loaded struct {
		p   *prepared
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan string)
	out := make(chan loaded, e.Loaders)
	var wg sync.WaitGroup
	for range min(e.Loaders, len(hashes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range jobs {
				b, err := e.st.Content(ctx, h)
				var l loaded
				if err != nil {
					l = loaded{err: api.Wrap(api.KindStorage, err, "read configuration "+store.Short(h))}
				} else {
					// b is ours and never written again: its lines are
					// read in place, and finish copies the new ones into
					// the arena.
					e.mu.RLock()
					l = loaded{p: e.idx.prepare(h, unsafeString(b))}
					e.mu.RUnlock()
				}
				select {
				case out <- l:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, h := range hashes {
			select {
			case jobs <- h:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(out) }()
	var errs []error
	for l := range out {
		if l.err != nil {
			// A content that vanished (pruned between the two reads) is not
			// worth failing the whole search for; anything else is.
			if !errors.Is(l.err, store.ErrNotFound) {
				errs = append(errs, l.err)
				cancel()
			}
			continue
		}
		e.mu.Lock()
		e.idx.finish(l.p)
		e.mu.Unlock()
	}
	if err := ctx.Err(); err != nil && len(errs) == 0 {
		return err
	}
	return errors.Join(errs...)
}

// compile checks a request's pattern and glob.
func compile(req api.SearchRequest) (*regexp.Regexp, *syntax.Regexp, error) {
	if req.Pattern == "" {
		return nil, nil, api.Errorf(api.KindBadRequest, "the search pattern is empty")
	}
	if len(req.Pattern) > api.MaxPatternLen {
		return nil, nil, api.Errorf(api.KindBadRequest, "the search pattern is longer than %d bytes", api.MaxPatternLen)
	}
	if req.Device != "" {
		if _, err := path.Match(req.Device, ""); err != nil {
			return nil, nil, api.Errorf(api.KindBadRequest, "invalid device glob %q: %v", req.Device, err)
		}
	}
	pat := req.Pattern
	if req.IgnoreCase {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, nil, api.Errorf(api.KindBadRequest, "invalid pattern: %v", err)
	}
	syn, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return nil, nil, api.Errorf(api.KindBadRequest, "invalid pattern: %v", err)
	}
	return re, syn.Simplify(), nil
}

// Search returns the lines of the latest snapshots in scope that match
// req, ordered by tenant, device and line, at most api.LimitMax(req.Max) of
// them, and whether more exist.
func (e *Engine) Search(ctx context.Context, sc Scope, req api.SearchRequest) (api.SearchReply, error) {
	re, syn, err := compile(req)
	if err != nil {
		return api.SearchReply{}, err
	}
	limit := api.LimitMax(req.Max)
	latest, err := e.sync(ctx)
	if err != nil {
		return api.SearchReply{}, err
	}
	var keys []store.DeviceKey
	for k := range latest {
		if !sc.covers(k) {
			continue
		}
		if req.Device != "" {
			if ok, _ := path.Match(req.Device, k.Device); !ok {
				continue
			}
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b store.DeviceKey) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Device, b.Device))
	})
	rep := api.SearchReply{Matches: []api.SearchMatch{}, Devices: len(keys)}
	if len(keys) == 0 {
		return rep, nil
	}

	e.mu.RLock()
	defer e.mu.RUnlock()
	x := e.idx
	mode := flagRed
	if req.Secrets {
		mode = flagRaw
	}
	matched := x.match(ctx, re, syn, mode)
	if err := ctx.Err(); err != nil {
		return api.SearchReply{}, err
	}
	for _, k := range keys {
		rec := latest[k]
		d, ok := x.docs[rec.SHA256]
		if !ok {
			continue // its content vanished from the store
		}
		seq := x.view(d, req.Secrets)
		for i, id := range seq {
			if !matched[id] {
				continue
			}
			if len(rep.Matches) == limit {
				rep.More = true
				return rep, nil
			}
			rep.Matches = append(rep.Matches, api.SearchMatch{TenantID: k.Tenant, DeviceID: k.Device, SHA256: rec.SHA256,
				Line: i + 1, Menu: x.menuAt(d, i), Text: x.lines[id]})
		}
	}
	return rep, nil
}

// match returns, by line ID, whether the line has the flag mode and
// matches re: on candidate lines found by scanning the arena for a literal
// every match contains, or on every line when the pattern has none.
func (x *index) match(ctx context.Context, re *regexp.Regexp, syn *syntax.Regexp, mode uint8) []bool {
	matched := make([]bool, len(x.lines))
	workers := runtime.GOMAXPROCS(0)
	lits, ok := required(syn)
	if !ok {
		var wg sync.WaitGroup
		per := (len(x.lines) + workers - 1) / workers
		for w := range workers {
			lo, hi := w*per, min((w+1)*per, len(x.lines))
			if lo >= hi {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := lo; id < hi; id++ {
					if id&4095 == 0 && ctx.Err() != nil {
						return
					}
					if x.flags[id]&mode != 0 && re.MatchString(x.lines[id]) {
						matched[id] = true
					}
				}
			}()
		}
		wg.Wait()
		return matched
	}
	scanners := make([]*scanner, len(lits))
	fold := false
	for i, l := range lits {
		scanners[i] = newScanner(l, &x.freq)
		fold = fold || l.fold
	}
	// Chunks are scanned in parallel; each writes only its own lines'
	// entries of matched.
	next := make(chan *chunk)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				for _, sc := range scanners {
					sc.each(c.data, func(off int) int {
						id := c.lineOf(off)
						if !matched[id] && x.flags[id]&mode != 0 && re.MatchString(x.lines[id]) {
							matched[id] = true
						}
						return c.end(int(id - c.first))
					})
				}
			}
		}()
	}
	for _, c := range x.chunks {
		if ctx.Err() != nil {
			break
		}
		next <- c
	}
	close(next)
	wg.Wait()
	// Case folding in Go's regexp reaches beyond ASCII (k matches the
	// Kelvin sign): lines with such bytes are checked whatever the scan
	// found.
	if fold {
		for _, id := range x.wide {
			if x.flags[id]&mode != 0 && re.MatchString(x.lines[id]) {
				matched[id] = true
			}
		}
	}
	return matched
}

// Stats reports the index's size, for benchmarks and debug logs.
type Stats struct {
	Configs, Lines, ArenaBytes int
}

// Stats returns the index's size now.
func (e *Engine) Stats() Stats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	for _, c := range e.idx.chunks {
		n += len(c.data)
	}
	return Stats{Configs: len(e.idx.docs), Lines: len(e.idx.lines), ArenaBytes: n}
}

// Warm brings the index up to date without searching, so that the first
// search does not pay for reading every configuration.
func (e *Engine) Warm(ctx context.Context) error {
	_, err := e.sync(ctx)
	return err
}
