// Package gitmirror writes snapshot history as a git repository, the way
// Oxidized users read configurations: TENANT/DEVICE.rsc holds the content
// `cfgsnap show` prints (secrets masked unless asked), one commit per
// changed snapshot in the order they were collected, authored by whoever
// requested the backup, dated when it was collected, with the snapshot's
// hash and ID in trailers.
//
// Exports are incremental: each commit also writes
// .cfgsnap/state/TENANT/DEVICE.json, the last exported snapshot of the
// device, so the state the next run starts from is always the one of the
// commit the branch points to; state and commits cannot disagree. One file
// per device rather than one state file: a commit rewrites only its
// device's few bytes, not a file that grows with the fleet.
//
// Crash safety: blobs, trees and commits are written with plumbing into
// the object database and a private index, and the branch moves only at
// the end, with update-ref given the old value (a compare-and-swap). A run
// that dies before leaves unreferenced objects (git gc drops them) and the
// branch where it was; the next run redoes the work.
package gitmirror

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// Source is what an export reads: store.Store fulfils it.
type Source interface {
	LatestAll(ctx context.Context, tenant string) (map[store.DeviceKey]api.SnapshotRecord, error)
	History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error)
	Content(ctx context.Context, sha256 string) ([]byte, error)
}

// Options say where and what to export.
type Options struct {
	// Dir is the repository: created (git init) when missing or empty; a
	// bare repository is written without a working tree.
	Dir string
	// Tenant limits the export to one tenant; "" exports all.
	Tenant string
	// Secrets writes the stored text unmasked. Refused into a directory
	// that its group or others may enter.
	Secrets bool
	// Git is the git binary; default: git on PATH.
	Git string
}

// Result says what a run did.
type Result struct {
	Commits int    // commits added
	Devices int    // devices with new commits
	Ref     string // the branch written, e.g. refs/heads/main
	Head    string // the branch's commit after the run ("" when empty)
}

// Paths inside the repository.
const (
	stateDir = ".cfgsnap/state"
	modeFile = ".cfgsnap/mode"
)

// Modes written to modeFile: a mirror never mixes masked and unmasked text.
const (
	modeRedacted = "redacted"
	modeSecrets  = "secrets"
)

const zeroOID = "0000000000000000000000000000000000000000"

// state is the last exported snapshot of a device.
type state struct {
	SnapshotID  string    `json:"snapshot_id"`
	SHA256      string    `json:"sha256_hash"`
	CollectedAt time.Time `json:"collected_at"`
}

// Exporter exports into one repository again and again (serve
// --git-mirror). It remembers, between runs, the newest snapshot it has
// looked at per device (unchanged ones too), so a run after one new
// snapshot reads one page of history, not every unchanged snapshot since
// the last change. The memory is dropped when the branch moved under it.
type Exporter struct {
	src Source
	opt Options
	// beforeUpdateRef runs after every object is written and before the
	// branch moves (tests simulate a crash there).
	beforeUpdateRef func() error

	seen    map[store.DeviceKey]state
	seenTip string
}

// NewExporter returns an exporter of src into opt.Dir.
func NewExporter(src Source, opt Options) *Exporter { return &Exporter{src: src, opt: opt} }

// Export runs one export of src into opt.Dir.
func Export(ctx context.Context, src Source, opt Options) (Result, error) {
	return NewExporter(src, opt).Export(ctx)
}

// candidate is a snapshot to commit.
type candidate struct {
	key store.DeviceKey
	rec api.SnapshotRecord
}

// Export adds the snapshots that are new since the last run.
func (e *Exporter) Export(ctx context.Context) (Result, error) {
	r, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	ref, err := r.run(ctx, nil, nil, "symbolic-ref", "-q", "HEAD")
	if err != nil {
		return Result{}, fmt.Errorf("%s: HEAD is not on a branch: %w", e.opt.Dir, err)
	}
	res := Result{Ref: ref}
	tip, _ := r.run(ctx, nil, nil, "rev-parse", "-q", "--verify", ref+"^{commit}")
	mode := modeRedacted
	if e.opt.Secrets {
		mode = modeSecrets
	}
	states := map[store.DeviceKey]state{}
	if tip != "" {
		if have, err := r.run(ctx, nil, nil, "cat-file", "blob", tip+":"+modeFile); err == nil && have != mode {
			return res, api.Errorf(api.KindBadRequest,
				"%s holds %s configurations; this export would write %s ones: a mirror never mixes the two (use another directory)", e.opt.Dir, have, mode)
		}
		if states, err = readStates(ctx, r, tip); err != nil {
			return res, err
		}
	}
	if e.seenTip != tip || e.seen == nil {
		e.seen = map[store.DeviceKey]state{}
	}
	cands, seen, err := e.collect(ctx, states)
	if err != nil {
		return res, err
	}
	res.Head = tip
	if len(cands) > 0 {
		head, devices, err := e.commit(ctx, r, tip, mode, cands)
		if err != nil {
			return res, err
		}
		if e.beforeUpdateRef != nil {
			if err := e.beforeUpdateRef(); err != nil {
				return res, err
			}
		}
		old := tip
		if old == "" {
			old = zeroOID
		}
		// The compare-and-swap: another writer that moved the branch since
		// tip was read makes this fail instead of losing its commits.
		if _, err := r.run(ctx, nil, nil, "update-ref", "-m", "cfgsnap export git", ref, head, old); err != nil {
			return res, fmt.Errorf("move %s (did another export run at the same time? run again): %w", ref, err)
		}
		res.Head, res.Commits, res.Devices = head, len(cands), devices
	}
	for k, s := range seen {
		e.seen[k] = s
	}
	e.seenTip = res.Head
	if err := e.checkout(ctx, r); err != nil {
		return res, err
	}
	return res, nil
}

// open makes sure opt.Dir is a repository of its own, creating it if
// needed, and that --secrets goes only where others cannot look.
func (e *Exporter) open(ctx context.Context) (*repo, error) {
	dir, err := filepath.Abs(e.opt.Dir)
	if err != nil {
		return nil, err
	}
	r, err := newRepo(e.opt.Git, dir)
	if err != nil {
		return nil, err
	}
	perm := os.FileMode(0o755)
	if e.opt.Secrets {
		perm = 0o700
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if e.opt.Secrets {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if st.Mode().Perm()&0o077 != 0 {
			// The mirror holds every device password in plain text, in the
			// files and in .git's objects, forever; on a shared jump host
			// other users could read them.
			return nil, api.Errorf(api.KindBadRequest,
				"%s is open to its group or others (mode %04o): --secrets writes device passwords in plain text, so the directory must be private (chmod 700 %s)", dir, st.Mode().Perm(), dir)
		}
	}
	gitDir, err := r.run(ctx, nil, nil, "rev-parse", "--absolute-git-dir")
	if err == nil && !sameDir(gitDir, dir) && !sameDir(gitDir, filepath.Join(dir, ".git")) {
		err = errors.New("inside another repository")
	}
	if err != nil {
		entries, rerr := os.ReadDir(dir)
		if rerr != nil {
			return nil, rerr
		}
		if len(entries) > 0 {
			return nil, api.Errorf(api.KindBadRequest, "%s is not empty and not a git repository of its own: give a new or empty directory", dir)
		}
		if _, err := r.run(ctx, nil, nil, "init", "-q"); err != nil {
			return nil, err
		}
		if _, err := r.run(ctx, nil, nil, "symbolic-ref", "HEAD", "refs/heads/main"); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// readStates reads every device's state file at commit tip.
func readStates(ctx context.Context, r *repo, tip string) (map[store.DeviceKey]state, error) {
	out := map[store.DeviceKey]state{}
	list, err := r.runBytes(ctx, nil, nil, "ls-tree", "-r", "-z", tip, "--", stateDir)
	if err != nil {
		return nil, err
	}
	var oids []string
	var keys []store.DeviceKey
	for _, entry := range strings.Split(string(list), "\x00") {
		meta, path, ok := strings.Cut(entry, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 || fields[1] != "blob" {
			continue
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(path, stateDir+"/"), ".json")
		tenant, device, ok := strings.Cut(rel, "/")
		if !ok || !api.ValidID(tenant) || !api.ValidID(device) {
			continue // not ours
		}
		oids = append(oids, fields[2])
		keys = append(keys, store.DeviceKey{Tenant: tenant, Device: device})
	}
	if len(oids) == 0 {
		return out, nil
	}
	blobs, err := r.runBytes(ctx, []byte(strings.Join(oids, "\n")+"\n"), nil, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	for i := range oids {
		// "<oid> blob <size>\n<content>\n"
		header, rest, ok := strings.Cut(string(blobs), "\n")
		f := strings.Fields(header)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("read state of %s: unexpected cat-file output", keys[i])
		}
		size, err := strconv.Atoi(f[2])
		if err != nil || size+1 > len(rest) {
			return nil, fmt.Errorf("read state of %s: unexpected cat-file output", keys[i])
		}
		var s state
		if err := json.Unmarshal([]byte(rest[:size]), &s); err != nil {
			return nil, fmt.Errorf("read state of %s: %w", keys[i], err)
		}
		out[keys[i]] = s
		blobs = []byte(rest[size+1:])
	}
	return out, nil
}

// collect finds the snapshots to commit: per device, those after the last
// exported (or, from memory, the last looked at) whose hash differs from
// the one before, all in collection order. It also returns the newest
// snapshot looked at per device.
func (e *Exporter) collect(ctx context.Context, states map[store.DeviceKey]state) ([]candidate, map[store.DeviceKey]state, error) {
	latest, err := e.src.LatestAll(ctx, e.opt.Tenant)
	if err != nil {
		return nil, nil, fmt.Errorf("list devices: %w", err)
	}
	keys := make([]store.DeviceKey, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b store.DeviceKey) int { return cmp.Compare(a.String(), b.String()) })
	var cands []candidate
	seen := map[store.DeviceKey]state{}
	for _, k := range keys {
		last, exported := states[k]
		stop, known := e.seen[k]
		if !known || (exported && last.CollectedAt.After(stop.CollectedAt)) {
			stop, known = last, exported
		}
		newest := latest[k]
		if known && newest.SnapshotID == stop.SnapshotID {
			continue
		}
		recs, err := e.since(ctx, k, stop, known)
		if err != nil {
			return nil, nil, err
		}
		hash := last.SHA256
		for _, rec := range recs {
			if rec.SHA256 != hash {
				cands = append(cands, candidate{k, rec})
				hash = rec.SHA256
			}
		}
		if len(recs) > 0 {
			n := recs[len(recs)-1]
			seen[k] = state{SnapshotID: n.SnapshotID, SHA256: n.SHA256, CollectedAt: n.CollectedAt}
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		return cmp.Or(a.rec.CollectedAt.Compare(b.rec.CollectedAt), cmp.Compare(a.rec.SnapshotID, b.rec.SnapshotID),
			cmp.Compare(a.key.String(), b.key.String()))
	})
	return cands, seen, nil
}

// since returns a device's snapshots after stop (all when !known), oldest
// first. A stop snapshot that retention removed is passed by time.
func (e *Exporter) since(ctx context.Context, k store.DeviceKey, stop state, known bool) ([]api.SnapshotRecord, error) {
	var out []api.SnapshotRecord
	before := ""
	for {
		recs, more, err := e.src.History(ctx, k.Tenant, k.Device, store.MaxHistoryLimit, before)
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", k, err)
		}
		for _, rec := range recs {
			if known && (rec.SnapshotID == stop.SnapshotID || !rec.CollectedAt.After(stop.CollectedAt)) {
				more = false
				break
			}
			out = append(out, rec)
		}
		if !more || len(recs) == 0 {
			break
		}
		before = recs[len(recs)-1].SnapshotID
	}
	slices.Reverse(out)
	return out, nil
}

// commit writes one commit per candidate on top of tip and returns the
// last one; nothing is referenced yet.
func (e *Exporter) commit(ctx context.Context, r *repo, tip, mode string, cands []candidate) (string, int, error) {
	tmp, err := os.MkdirTemp("", "cfgsnap-export-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(tmp)
	// A private index: the repository's own index (and working tree) are
	// left alone until the branch has moved.
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}
	if tip != "" {
		if _, err := r.run(ctx, nil, index, "read-tree", tip); err != nil {
			return "", 0, err
		}
	}
	modeBlob, err := r.run(ctx, []byte(mode+"\n"), nil, "hash-object", "-w", "--stdin")
	if err != nil {
		return "", 0, err
	}
	parent := tip
	devices := map[store.DeviceKey]bool{}
	for _, c := range cands {
		content, err := e.src.Content(ctx, c.rec.SHA256)
		if err != nil {
			return "", 0, fmt.Errorf("content of %s@%s: %w", c.key, c.rec.SHA256, err)
		}
		text := string(content)
		if !e.opt.Secrets {
			text = redact.Text(text)
		}
		blob, err := r.run(ctx, []byte(text), nil, "hash-object", "-w", "--stdin")
		if err != nil {
			return "", 0, err
		}
		st, _ := json.Marshal(state{SnapshotID: c.rec.SnapshotID, SHA256: c.rec.SHA256, CollectedAt: c.rec.CollectedAt.UTC()})
		stBlob, err := r.run(ctx, append(st, '\n'), nil, "hash-object", "-w", "--stdin")
		if err != nil {
			return "", 0, err
		}
		info := fmt.Sprintf("100644 %s\t%s/%s.rsc\n100644 %s\t%s/%s/%s.json\n100644 %s\t%s\n",
			blob, c.key.Tenant, c.key.Device, stBlob, stateDir, c.key.Tenant, c.key.Device, modeBlob, modeFile)
		if _, err := r.run(ctx, []byte(info), index, "update-index", "--add", "--index-info"); err != nil {
			return "", 0, err
		}
		tree, err := r.run(ctx, nil, index, "write-tree")
		if err != nil {
			return "", 0, err
		}
		args := []string{"commit-tree", "--no-gpg-sign", tree}
		if parent != "" {
			args = append(args, "-p", parent)
		}
		args = append(args, "-F", "-")
		if parent, err = r.run(ctx, []byte(Message(c.rec)), identity(c.rec), args...); err != nil {
			return "", 0, err
		}
		devices[c.key] = true
	}
	return parent, len(devices), nil
}

// checkout brings a non-bare repository's index and files to the branch,
// so people can read DIR/TENANT/DEVICE.rsc. Run on every export, it also
// finishes the work of a run that died after moving the branch.
func (e *Exporter) checkout(ctx context.Context, r *repo) error {
	bare, err := r.run(ctx, nil, nil, "rev-parse", "--is-bare-repository")
	if err != nil || bare == "true" {
		return err
	}
	if _, err := r.run(ctx, nil, nil, "rev-parse", "-q", "--verify", "HEAD^{commit}"); err != nil {
		return nil //nolint:nilerr // no HEAD: nothing exported yet, nothing to reset
	}
	_, err = r.run(ctx, nil, nil, "reset", "-q", "--hard", "HEAD")
	return err
}

// Message is a snapshot's commit message: the device, trigger and reason
// on the subject line, who and which RouterOS in the body, and trailers
// for scripts (git log --format='%(trailers:key=Cfgsnap-Hash,valueonly)').
func Message(rec api.SnapshotRecord) string {
	var b strings.Builder
	trigger := string(rec.Trigger)
	if trigger == "" {
		trigger = string(api.TriggerManual)
	}
	fmt.Fprintf(&b, "%s/%s: %s backup", rec.TenantID, rec.DeviceID, trigger)
	if reason := oneLine(rec.Reason); reason != "" {
		if len(reason) > 200 {
			reason = reason[:200] + "…"
		}
		b.WriteString(": " + reason)
	}
	b.WriteString("\n\n")
	if rec.RequestedBy != "" {
		fmt.Fprintf(&b, "Requested by %s. ", oneLine(rec.RequestedBy))
	}
	if rec.RouterOSVersion != "" {
		fmt.Fprintf(&b, "RouterOS %s. ", oneLine(rec.RouterOSVersion))
	}
	fmt.Fprintf(&b, "%d bytes.\n", rec.SizeBytes)
	if strings.ContainsAny(rec.Reason, "\n") || len(oneLine(rec.Reason)) > 200 {
		b.WriteString("\nReason:\n" + strings.TrimSpace(rec.Reason) + "\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Cfgsnap-Hash: %s\n", rec.SHA256)
	fmt.Fprintf(&b, "Cfgsnap-Snapshot: %s\n", rec.SnapshotID)
	if rec.PreviousHash != "" {
		fmt.Fprintf(&b, "Cfgsnap-Previous-Hash: %s\n", rec.PreviousHash)
	}
	fmt.Fprintf(&b, "Cfgsnap-Trigger: %s\n", trigger)
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Author returns the git author of a snapshot: requested_by as the name;
// as the e-mail too when it has an @ ("ops@jump1"), else
// NAME@cfgsnap.invalid (the .invalid TLD can never be a real address).
func Author(requestedBy string) (name, email string) {
	name = strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r < ' ' {
			return -1
		}
		return r
	}, oneLine(requestedBy))
	if name == "" {
		name = "cfgsnap"
	}
	if strings.Contains(name, "@") {
		return name, strings.ReplaceAll(name, " ", "")
	}
	local := strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, name)
	return name, local + "@cfgsnap.invalid"
}

func identity(rec api.SnapshotRecord) []string {
	name, email := Author(rec.RequestedBy)
	date := fmt.Sprintf("%d +0000", rec.CollectedAt.Unix())
	return []string{
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email, "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=cfgsnap", "GIT_COMMITTER_EMAIL=cfgsnap@cfgsnap.invalid", "GIT_COMMITTER_DATE=" + date,
	}
}
