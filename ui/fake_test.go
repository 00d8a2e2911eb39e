package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/redact"
)

// fakeClient is an in-memory client.Client with deterministic data whose
// backups wait for the test to send their progress and final reply.
type fakeClient struct {
	mu      sync.Mutex
	mode    client.Mode
	where   string
	conn    client.ConnState
	tenants []api.Tenant
	devices map[string][]api.Device
	history map[string][]api.SnapshotRecord // "tenant/device" → newest first
	content map[string][]byte               // hash → content
	errs    map[string]error                // method → error to return

	// gates hold Devices(tenant) until released, to reorder replies.
	gates map[string]*gate

	backups     map[string]*fakeBackup
	backupCalls []string
	backupOpts  []client.BackupOptions
	parked      atomic.Int32 // calls blocked on the test (backups, gates)
	maxRunning  int
	running     int

	devWatch  map[string][]func(client.Update)
	snapWatch map[string][]func(api.SnapshotRecord)
	stops     int
	forgot    []string
	snapCalls []string

	// Fleet queries: searchGates hold the search of a pattern until
	// released (ignoring cancellation, like a slow service), so that its
	// reply arrives after a later one; searchCtx records whether each
	// search's context was cancelled by the time it replied.
	searchGates map[string]*gate
	searchReqs  []api.SearchRequest
	searchCtx   map[string]error
	changes     []api.Change
	changesReqs []api.ChangesRequest
	pinCalls    []string
	oldPins     bool // Pin refuses snapshot IDs (a service from before them)
}

type gate struct {
	open    chan struct{}
	resumed chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{open: make(chan struct{}), resumed: make(chan struct{})} }

// release lets the held call go and returns once it no longer counts as
// held, so that the next settle waits for its reply.
func (g *gate) release() {
	close(g.open)
	<-g.resumed
}

type fakeBackup struct {
	progress func(api.ProgressEvent)
	ctl      chan fakeCtl
}

type fakeCtl struct {
	ev    *api.ProgressEvent
	reply *api.TriggerReply
	err   error
	ack   chan struct{}
}

func (f *fakeClient) Mode() client.Mode { return f.mode }
func (f *fakeClient) Where() string     { return f.where }
func (f *fakeClient) ConnState() client.ConnState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn
}

func (f *fakeClient) setConn(c client.ConnState) {
	f.mu.Lock()
	f.conn = c
	f.mu.Unlock()
}

func (f *fakeClient) err(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errs[method]
}

func (f *fakeClient) Tenants(ctx context.Context) ([]api.Tenant, error) {
	if err := f.err("Tenants"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.Tenant(nil), f.tenants...), nil
}

func (f *fakeClient) Devices(ctx context.Context, tenant string) ([]api.Device, error) {
	f.mu.Lock()
	gate := f.gates[tenant]
	f.mu.Unlock()
	if gate != nil {
		f.parked.Add(1)
		<-gate.open
		f.parked.Add(-1)
		gate.once.Do(func() { close(gate.resumed) })
	}
	if err := f.err("Devices"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	devs, ok := f.devices[tenant]
	if !ok {
		return nil, api.Errorf(api.KindNotFound, "tenant %s not found", tenant)
	}
	return append([]api.Device(nil), devs...), nil
}

func (f *fakeClient) Backup(ctx context.Context, tenant, device string, opts client.BackupOptions, progress func(api.ProgressEvent)) (api.TriggerReply, error) {
	fb := &fakeBackup{progress: progress, ctl: make(chan fakeCtl)}
	key := tenant + "/" + device
	f.mu.Lock()
	f.backups[key] = fb
	f.backupCalls = append(f.backupCalls, key)
	f.backupOpts = append(f.backupOpts, opts)
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	f.mu.Unlock()
	f.parked.Add(1)
	done := func() {
		f.mu.Lock()
		delete(f.backups, key)
		f.running--
		f.mu.Unlock()
		f.parked.Add(-1)
	}
	for {
		select {
		case c := <-fb.ctl:
			if c.ev != nil {
				progress(*c.ev)
				close(c.ack)
				continue
			}
			done()
			close(c.ack) // after done: the test's next settle must see it unparked
			if c.err != nil {
				return api.TriggerReply{}, c.err
			}
			return *c.reply, nil
		case <-ctx.Done():
			done()
			return api.TriggerReply{}, ctx.Err()
		}
	}
}

func (f *fakeClient) History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error) {
	if err := f.err("History"); err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.history[tenant+"/"+device]
	start := 0
	if before != "" {
		for i, r := range all {
			if r.SnapshotID == before {
				start = i + 1
			}
		}
	}
	end := min(start+limit, len(all))
	return append([]api.SnapshotRecord(nil), all[start:end]...), end < len(all), nil
}

func (f *fakeClient) Snapshot(ctx context.Context, tenant, device, ref string) (api.SnapshotRecord, []byte, error) {
	if err := f.err("Snapshot"); err != nil {
		return api.SnapshotRecord{}, nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapCalls = append(f.snapCalls, ref)
	for _, r := range f.history[tenant+"/"+device] {
		if r.SHA256 == ref {
			return r, f.content[ref], nil
		}
	}
	return api.SnapshotRecord{}, nil, api.Errorf(api.KindNotFound, "no snapshot %s", ref)
}

func (f *fakeClient) WatchDevice(ctx context.Context, tenant, device string, fn func(client.Update)) (func(), error) {
	if err := f.err("WatchDevice"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := tenant + "/" + device
	f.devWatch[key] = append(f.devWatch[key], fn)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.stops++
		delete(f.devWatch, key)
	}, nil
}

func (f *fakeClient) WatchSnapshots(ctx context.Context, tenant string, fn func(api.SnapshotRecord)) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapWatch[tenant] = append(f.snapWatch[tenant], fn)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.stops++
		delete(f.snapWatch, tenant)
	}, nil
}

func (f *fakeClient) ForgetHostKey(ctx context.Context, tenant, device string) error {
	if err := f.err("ForgetHostKey"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, tenant+"/"+device)
	return nil
}

func (f *fakeClient) Close() error { return nil }

// Pin pins the record whose snapshot ID is ref, or the newest record of
// ref's hash, as the stores do; with oldPins set it refuses snapshot IDs as
// a service from before them did.
func (f *fakeClient) Pin(ctx context.Context, tenant, device, ref string, pinned bool, note string) (api.SnapshotRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pinCalls = append(f.pinCalls, fmt.Sprintf("%s/%s@%s pinned=%v", tenant, device, ref, pinned))
	if f.oldPins && len(ref) != 64 { // not a hash: an ID (the fake's IDs are short)
		return api.SnapshotRecord{}, api.Errorf(api.KindBadRequest, "snapshot %q: use latest, a sha256 or a prefix", ref)
	}
	recs := f.history[tenant+"/"+device] // newest first
	for i := range recs {
		if recs[i].SnapshotID == ref || recs[i].SHA256 == ref {
			if !pinned {
				note = ""
			}
			recs[i].Pinned, recs[i].PinNote = pinned, note
			return recs[i], nil
		}
	}
	return api.SnapshotRecord{}, api.Errorf(api.KindNotFound, "no snapshot %s", ref)
}

var _ client.Pinner = (*fakeClient)(nil)

// Search matches the latest content in the fake's histories, redacted as
// the backend does unless req.Secrets, ordered by tenant, device, line.
func (f *fakeClient) Search(ctx context.Context, req api.SearchRequest) (api.SearchReply, error) {
	f.mu.Lock()
	f.searchReqs = append(f.searchReqs, req)
	g := f.searchGates[req.Pattern]
	f.mu.Unlock()
	if g != nil {
		f.parked.Add(1)
		<-g.open
		f.parked.Add(-1)
		g.once.Do(func() { close(g.resumed) })
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.searchCtx[req.Pattern] = ctx.Err()
	if err := f.errs["Search"]; err != nil {
		return api.SearchReply{}, err
	}
	expr := req.Pattern
	if req.IgnoreCase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return api.SearchReply{}, api.Errorf(api.KindBadRequest, "bad pattern: %v", err)
	}
	keys := make([]string, 0, len(f.history))
	for k := range f.history {
		if t, _, _ := strings.Cut(k, "/"); req.TenantID == "" || t == req.TenantID {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	limit := api.LimitMax(req.Max)
	rep := api.SearchReply{Matches: []api.SearchMatch{}}
	for _, k := range keys {
		latest := f.history[k][0]
		rep.Devices++
		lines := strings.Split(strings.TrimSuffix(string(f.content[latest.SHA256]), "\n"), "\n")
		shown := lines
		if !req.Secrets {
			shown = redact.Lines(lines)
		}
		menu := ""
		for i, l := range shown {
			if strings.HasPrefix(l, "/") {
				menu = strings.TrimSpace(l)
			}
			if !re.MatchString(l) {
				continue
			}
			if len(rep.Matches) == limit {
				rep.More = true
				return rep, nil
			}
			rep.Matches = append(rep.Matches, api.SearchMatch{TenantID: latest.TenantID, DeviceID: latest.DeviceID,
				SHA256: latest.SHA256, Line: i + 1, Menu: menu, Text: l})
		}
	}
	return rep, nil
}

// Changes lists the fixture's changes since req.Since, newest first.
func (f *fakeClient) Changes(ctx context.Context, req api.ChangesRequest) (api.ChangesReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changesReqs = append(f.changesReqs, req)
	if err := f.errs["Changes"]; err != nil {
		return api.ChangesReply{}, err
	}
	rep := api.ChangesReply{Changes: []api.Change{}}
	for _, c := range f.changes {
		if !c.CollectedAt.Before(req.Since) {
			rep.Changes = append(rep.Changes, c)
		}
	}
	slices.SortStableFunc(rep.Changes, func(a, b api.Change) int { return b.CollectedAt.Compare(a.CollectedAt) })
	if limit := api.LimitMax(req.Max); len(rep.Changes) > limit {
		rep.Changes, rep.More = rep.Changes[:limit], true
	}
	return rep, nil
}

// Test controls.

func (f *fakeClient) waitBackup(t testing.TB, key string) *fakeBackup {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		fb := f.backups[key]
		f.mu.Unlock()
		if fb != nil {
			return fb
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Fatalf("no backup of %s is running", key)
	return nil
}

// progress makes the running backup of key report ev and returns once the
// callback returned.
func (f *fakeClient) progress(t testing.TB, key string, stage api.Stage, elapsedMS, bytes int64) {
	t.Helper()
	tenant, device, _ := strings.Cut(key, "/")
	ev := api.ProgressEvent{JobID: "01JOB" + strings.ToUpper(device), TenantID: tenant, DeviceID: device,
		Stage: stage, At: fixedNow, ElapsedMS: elapsedMS, Bytes: bytes}
	ack := make(chan struct{})
	f.waitBackup(t, key).ctl <- fakeCtl{ev: &ev, ack: ack}
	<-ack
}

func (f *fakeClient) finish(t testing.TB, key string, reply api.TriggerReply) {
	t.Helper()
	ack := make(chan struct{})
	f.waitBackup(t, key).ctl <- fakeCtl{reply: &reply, ack: ack}
	<-ack
}

func (f *fakeClient) fail(t testing.TB, key string, err error) {
	t.Helper()
	ack := make(chan struct{})
	f.waitBackup(t, key).ctl <- fakeCtl{err: err, ack: ack}
	<-ack
}

func (f *fakeClient) emitSnapshot(rec api.SnapshotRecord) {
	f.mu.Lock()
	fns := append([]func(api.SnapshotRecord){}, f.snapWatch[rec.TenantID]...)
	f.mu.Unlock()
	for _, fn := range fns {
		fn(rec)
	}
}

func (f *fakeClient) emitDevice(key string, u client.Update) {
	f.mu.Lock()
	fns := append([]func(client.Update){}, f.devWatch[key]...)
	f.mu.Unlock()
	for _, fn := range fns {
		fn(u)
	}
}

func (f *fakeClient) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.backupCalls...)
}

// Fixtures.

// fixedNow is the clock of every model test: goldens show ages relative
// to it and absolute times in UTC.
var fixedNow = time.Date(2026, 11, 28, 10, 15, 0, 0, time.UTC)

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// routerConfig is a RouterOS export; variants differ in two places far
// apart, so a diff between them has two hunks.
func routerConfig(name string, variant int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# 2026-11-28 10:00:00 by RouterOS 7.16\n# software id = 7H2K-XQ3Z\n#\n")
	fmt.Fprintf(&b, "/interface bridge\nadd name=bridge-lan\n")
	fmt.Fprintf(&b, "/interface ethernet\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "set [ find default-name=ether%d ] comment=port-%d\n", i, i)
	}
	fmt.Fprintf(&b, "/ip address\nadd address=192.0.2.1/24 interface=bridge-lan network=192.0.2.0\n")
	if variant >= 2 {
		fmt.Fprintf(&b, "add address=198.51.100.1/24 interface=ether2 network=198.51.100.0\n")
	}
	fmt.Fprintf(&b, "/ip dns\nset servers=192.0.2.53\n")
	fmt.Fprintf(&b, "/ip firewall filter\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "add action=accept chain=input comment=rule-%d dst-port=%d protocol=tcp\n", i, 8000+i)
	}
	fmt.Fprintf(&b, "/ip service\nset telnet disabled=yes\nset ftp disabled=yes\n")
	if variant >= 3 {
		fmt.Fprintf(&b, "set www disabled=yes\n")
	} else {
		fmt.Fprintf(&b, "set www disabled=no\n")
	}
	fmt.Fprintf(&b, "/system identity\nset name=%s\n", name)
	fmt.Fprintf(&b, "/system ntp client\nset enabled=yes\n")
	if variant >= 4 {
		fmt.Fprintf(&b, "/system ntp client servers\nadd address=192.0.2.123\n")
	}
	return b.String()
}

func newFake() *fakeClient {
	f := &fakeClient{
		mode: client.ModeRemote, where: "nats://127.0.0.1:4222", conn: client.ConnConnected,
		devices: map[string][]api.Device{}, history: map[string][]api.SnapshotRecord{},
		content: map[string][]byte{}, errs: map[string]error{}, gates: map[string]*gate{},
		backups: map[string]*fakeBackup{}, devWatch: map[string][]func(client.Update){},
		snapWatch:   map[string][]func(api.SnapshotRecord){},
		searchGates: map[string]*gate{}, searchCtx: map[string]error{},
	}
	f.tenants = []api.Tenant{
		{ID: "acme", Name: "ACME Networks", DeviceCount: 6},
		{ID: "globex", Name: "Globex Corp", DeviceCount: 2},
		{ID: "initech", Name: "Initech", DeviceCount: 0},
	}
	rec := func(dev string, variant int, ago time.Duration, changed bool, prev string, ver string) *api.SnapshotRecord {
		h := hashOf(routerConfig(dev, variant))
		return &api.SnapshotRecord{SnapshotID: "01SNAP" + strings.ToUpper(dev), TenantID: "acme", DeviceID: dev,
			SHA256: h, CollectedAt: fixedNow.Add(-ago), SizeBytes: int64(len(routerConfig(dev, variant))),
			Changed: changed, PreviousHash: prev, Trigger: api.TriggerScheduled, RequestedBy: "scheduler",
			RouterOSVersion: ver, NormalizationVersion: 1, DurationMS: 412}
	}
	v1 := hashOf(routerConfig("core-rtr-1", 1))
	f.devices["acme"] = []api.Device{
		{ID: "core-rtr-1", TenantID: "acme", Name: "core-rtr-1", Host: "192.0.2.1", Port: 22, Model: "routeros", Tags: []string{"core"},
			LastBackup: rec("core-rtr-1", 3, 3*time.Minute, true, hashOf(routerConfig("core-rtr-1", 2)), "7.16")},
		{ID: "edge-rtr-2", TenantID: "acme", Name: "Edge router 2", Host: "192.0.2.2", Port: 22, Model: "routeros",
			LastBackup: rec("edge-rtr-2", 1, 2*time.Hour, false, hashOf(routerConfig("edge-rtr-2", 1)), "6.49.10")},
		{ID: "pop1-sw-3", TenantID: "acme", Name: "pop1-sw-3", Host: "10.10.0.3", Port: 2222, Model: "routeros"},
		{ID: "branch-4", TenantID: "acme", Name: "branch-4", Host: "branch-4.example.net", Port: 22, Model: "routeros",
			LastBackup: rec("branch-4", 1, 72*time.Hour, false, v1, "7.15.3"),
			LastError:  &api.DeviceError{Kind: api.KindAuthFailed, Error: "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none password]", At: fixedNow.Add(-time.Hour)}},
		{ID: "lab-5", TenantID: "acme", Name: "lab-5", Host: "192.0.2.5", Port: 22, Model: "routeros", Busy: true,
			LastBackup: rec("lab-5", 1, 5*24*time.Hour, true, "", "7.16")},
		{ID: "wan-6", TenantID: "acme", Name: "wan-6", Host: "192.0.2.6", Port: 22, Model: "routeros",
			LastBackup: rec("wan-6", 2, 20*24*time.Hour, true, v1, "7.14")},
	}
	f.devices["globex"] = []api.Device{
		{ID: "gx-core", TenantID: "globex", Name: "gx-core", Host: "198.51.100.1", Port: 22, Model: "routeros"},
		{ID: "gx-edge", TenantID: "globex", Name: "gx-edge", Host: "198.51.100.2", Port: 22, Model: "routeros"},
	}
	f.devices["initech"] = nil

	// core-rtr-1's history: v1 → v2 (changed) → v2 (unchanged) → v3 (changed).
	var hist []api.SnapshotRecord
	prev := ""
	for i, s := range []struct {
		variant int
		ago     time.Duration
		trigger api.Trigger
		by      string
		reason  string
	}{
		{1, 30 * 24 * time.Hour, api.TriggerScheduled, "scheduler", ""},
		{2, 6 * 24 * time.Hour, api.TriggerManual, "alice@jump1", "pre-change CHG-1042"},
		{2, 26 * time.Hour, api.TriggerScheduled, "scheduler", ""},
		{3, 3 * time.Minute, api.TriggerManual, "ops@jump1", "after firewall change"},
	} {
		content := routerConfig("core-rtr-1", s.variant)
		h := hashOf(content)
		f.content[h] = []byte(content)
		hist = append([]api.SnapshotRecord{{SnapshotID: fmt.Sprintf("01SNAP%02d", i+1), TenantID: "acme", DeviceID: "core-rtr-1",
			SHA256: h, CollectedAt: fixedNow.Add(-s.ago), SizeBytes: int64(len(content)), Changed: h != prev, PreviousHash: prev,
			Trigger: s.trigger, RequestedBy: s.by, Reason: s.reason, RouterOSVersion: "7.16", NormalizationVersion: 1, DurationMS: 380 + int64(i)*10}}, hist...)
		prev = h
	}
	f.history["acme/core-rtr-1"] = hist
	return f
}

// The fake answers the fleet queries like the real clients.
var _ client.Fleet = (*fakeClient)(nil)

var errNoResponders = errors.New("nats: no responders available for request")
