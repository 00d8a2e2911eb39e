// Package detail is the detail pane under the device list: a pure
// renderer from a device, its job or latest result to lines of text that
// say what happened and what to do about it.
package detail

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/ui/common"
	"github.com/cfgsnap/cfgsnap/ui/jobs"
)

// Data is what the detail pane under the device list shows for the
// selected device: its running job, the latest result of this session or
// what the inventory knows.
type Data struct {
	Dev    api.Device
	Tenant string
	Job    *jobs.Line
	Res    *jobs.Result
	Mode   client.Mode
	Now    time.Time
	Loc    *time.Location
}

// Render is a pure function from a device's state to the lines of
// the detail pane, w cells wide.
func Render(dd Data, w int, st *common.Styles) []string {
	d := dd.Dev
	var out []string
	add := func(s string) { out = append(out, s) }
	wrap := func(style func(...string) string, s string) {
		for _, l := range common.WrapText(s, w) {
			add(style(l))
		}
	}
	plain := func(s ...string) string { return strings.Join(s, " ") }

	switch {
	case dd.Job != nil:
		j := dd.Job
		who := "you"
		if j.Kind == jobs.Watch {
			who = j.Holder
		}
		if j.State == jobs.Waiting {
			add(st.Dim.Render("… Queued in this TUI, " + j.SlotInfo))
		} else {
			add(st.Running.Render(fmt.Sprintf("%s Backing up, started by %s: %s", j.Spin, who, jobs.StageTitle(j.Stage))))
			add(fmt.Sprintf("received %s · %s elapsed", common.HumanSizeOrDash(j.Bytes), common.Millis(max(j.Elapsed, 0))))
		}
		if d.LastBackup != nil {
			add(st.Dim.Render("previous backup " + common.Stamp(d.LastBackup.CollectedAt, dd.Loc) + " (" + common.Ago(dd.Now, d.LastBackup.CollectedAt) + ")"))
			add(st.Dim.Render("sha256   ") + st.Hash.Render(common.Clean(d.LastBackup.SHA256)))
		}
		return out
	case dd.Res != nil && dd.Res.Err != nil:
		return renderFailure(dd, "", dd.Res.Err.Error(), w, st)
	case dd.Res != nil && dd.Res.Reply.Status == api.StatusLocked:
		return renderLocked(dd, w, st)
	case dd.Res != nil && dd.Res.Reply.Status != api.StatusSuccess:
		return renderFailure(dd, dd.Res.Reply.ErrorKind, dd.Res.Reply.Error, w, st)
	case dd.Res != nil:
		r := dd.Res.Reply
		by := ""
		if dd.Res.Watched {
			by = " by " + common.Clean(dd.Res.Holder)
		}
		at := r.CollectedAt
		if at.IsZero() {
			at = dd.Res.At
		}
		head := st.OK.Render("✓ Backed up"+by) + " " + common.Stamp(at, dd.Loc) + st.Dim.Render(" ("+common.Ago(dd.Now, at)+")") + " · " + changedText(r.IsChanged(), r.PreviousHash, st)
		add(head)
		out = append(out, hashLines(common.Clean(r.SHA256), common.Clean(r.PreviousHash), r.IsChanged(), st)...)
		add(st.Dim.Render(common.JoinNonEmpty(" · ", common.HumanSize(r.SizeBytes), common.RosText(r.RouterOSVersion), "took "+common.Millis(r.DurationMS), shortJob(r.JobID))))
		if r.IsChanged() && r.PreviousHash != "" {
			// The pre/post pair of a change window: one key to what changed.
			add(st.Key.Render("d") + st.Dim.Render(" shows what changed since the previous snapshot"))
		}
		return out
	}

	if e := d.LastError; e != nil && !d.Busy && (d.LastBackup == nil || e.At.After(d.LastBackup.CollectedAt)) {
		out = renderFailure(dd, e.Kind, e.Error, w, st)
		out[0] += st.Dim.Render(" (" + common.Ago(dd.Now, e.At) + ")")
		return out
	}
	if d.Busy {
		add(st.Warn.Render("⊘ Locked: another backup of this device is running."))
		wrap(plain, "w watches its progress until it ends; b tries anyway (and reports who holds it).")
	}
	if lb := d.LastBackup; lb != nil {
		by := ""
		if lb.RequestedBy != "" {
			by = " by " + common.Clean(lb.RequestedBy)
		}
		add("Last backup " + common.Stamp(lb.CollectedAt, dd.Loc) + st.Dim.Render(" ("+common.Ago(dd.Now, lb.CollectedAt)+", "+common.Clean(string(lb.Trigger))+by+")") + " · " + changedText(lb.Changed, lb.PreviousHash, st))
		out = append(out, hashLines(common.Clean(lb.SHA256), common.Clean(lb.PreviousHash), lb.Changed, st)...)
		add(st.Dim.Render(common.JoinNonEmpty(" · ", common.HumanSize(lb.SizeBytes), common.RosText(lb.RouterOSVersion), "took "+common.Millis(lb.DurationMS))))
	} else if !d.Busy {
		add(st.Dim.Render("Never backed up. b backs it up now."))
	}
	return out
}

func shortJob(id string) string {
	if id == "" {
		return ""
	}
	return "job " + common.Clean(id)
}

func changedText(changed bool, prev string, st *common.Styles) string {
	switch {
	case changed && prev == "":
		return st.Warn.Render("first snapshot")
	case changed:
		return st.Warn.Render("changed")
	}
	return st.Dim.Render("unchanged")
}

func hashLines(hash, prev string, changed bool, st *common.Styles) []string {
	lines := []string{st.Dim.Render("sha256   ") + st.Hash.Render(hash)}
	switch {
	case prev == "":
	case !changed || prev == hash:
		lines = append(lines, st.Dim.Render("previous same hash"))
	default:
		lines = append(lines, st.Dim.Render("previous ")+st.Hash.Render(prev))
	}
	return lines
}

func renderLocked(dd Data, w int, st *common.Styles) []string {
	l := dd.Res.Reply.Lock
	var out []string
	if l == nil {
		out = append(out, st.Warn.Render("⊘ Locked: another backup of this device is running."))
	} else {
		out = append(out, st.Warn.Render("⊘ Locked by "+common.Clean(l.Holder)))
		out = append(out, fmt.Sprintf("since %s (%s) · stage %s", common.Stamp(l.Since, dd.Loc), common.Ago(dd.Now, l.Since), jobs.StageTitle(l.Stage)))
		if l.JobID != "" {
			out = append(out, st.Dim.Render("job "+common.Clean(l.JobID)))
		}
	}
	out = append(out, common.WrapText("Nothing was changed. Press w to watch that job's progress until it ends; its result then shows here.", w)...)
	return out
}

// kindAdvice says what to do about it.
func kindAdvice(k api.ErrorKind, mode client.Mode, target string) string {
	where := "in the inventory"
	if mode == client.ModeRemote {
		where = "in the backup service's inventory"
	}
	switch k {
	case "":
		return "The service may be down or the link lost (see the status bar). The backup may still finish there: w watches the device, b retries."
	case api.KindAuthFailed:
		return "Check the username and the password_env, password_file or identity_file of this device (or its tenant's defaults) " + where + ", then b to retry."
	case api.KindHostKeyMismatch:
		if mode == client.ModeRemote {
			return "The router was reinstalled or reset, or someone is intercepting the connection. Verify the new fingerprint with whoever runs it; if legitimate, run 'cfgsnap hostkey forget " + target + "' on the service host (F asks the service), then b."
		}
		return "The router was reinstalled or reset, or someone is intercepting the connection. Verify the new fingerprint with whoever runs it; if legitimate, F forgets the old key and the next backup (b) records the new one."
	case api.KindUnreachable:
		return "Check that the router is up, that its host and port are right " + where + ", and that this host can reach it (VPN, firewall, /ip service ssh on the router). b retries."
	case api.KindTimeout:
		return "The router may be overloaded or the link slow. b retries; if it keeps timing out, raise --timeout."
	case api.KindTruncated:
		return "Nothing was stored. Large exports trip a RouterOS flow-control bug and flaky links cut them: b retries; if it repeats, upgrade RouterOS."
	case api.KindInvalidOutput:
		return "Nothing was stored. Check that the device runs RouterOS and that the backup user may run /export (policies read and sensitive)."
	case api.KindNotFound:
		return "The inventory changed since this list was loaded: r reloads it."
	case api.KindBadRequest:
		return "This TUI and the service may disagree on the protocol; check their versions and the service log."
	case api.KindStorage:
		return "The export worked but the data directory refused it: check free space and permissions on the backup host, then b."
	case api.KindInternal:
		return "b retries; if it repeats, run the service with --debug and report what its log says."
	case api.KindSSHAlgorithms:
		return "The router speaks only old SSH algorithms (RouterOS 6 without strong crypto); retrying will not help. Best: run /ip ssh set strong-crypto=yes on the router. Or set ssh_legacy_algorithms: true for this device (or its tenant) " + where + ", then b."
	case api.KindCancelled:
		return "The backup was stopped on this side before it finished; nothing was stored. b starts it again."
	}
	return "See the log file for details; b retries."
}

var fingerprintRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{16,}={0,2}`)

// Fingerprints finds the SHA256 fingerprints in a host key error and
// labels each by the words before it: the backend says which key the
// device presented and which is recorded or pinned.
func Fingerprints(msg string) (presented string, recorded []string) {
	locs := fingerprintRE.FindAllStringIndex(msg, -1)
	prevEnd := 0
	var unlabelled []string
	for _, l := range locs {
		fp := msg[l[0]:l[1]]
		before := strings.ToLower(msg[prevEnd:l[0]])
		prevEnd = l[1]
		p := max(strings.LastIndex(before, "present"), strings.LastIndex(before, "offer"), strings.LastIndex(before, "got"))
		r := max(strings.LastIndex(before, "record"), strings.LastIndex(before, "pin"), strings.LastIndex(before, "known"), strings.LastIndex(before, "expect"))
		switch {
		case p > r && presented == "":
			presented = fp
		case r > p:
			recorded = append(recorded, fp)
		default:
			unlabelled = append(unlabelled, fp)
		}
	}
	// Without labels, the order of cli.md: presented first, then recorded.
	for _, fp := range unlabelled {
		if presented == "" {
			presented = fp
		} else {
			recorded = append(recorded, fp)
		}
	}
	return presented, recorded
}

func renderFailure(dd Data, kind api.ErrorKind, errText string, w int, st *common.Styles) []string {
	target := dd.Tenant + "/" + dd.Dev.ID
	out := []string{st.Bad.Render("✗ " + jobs.KindTitle(kind))}
	if kind == api.KindHostKeyMismatch {
		pres, rec := Fingerprints(errText)
		if pres != "" {
			out = append(out, st.Dim.Render("presented ")+st.Bold.Render(pres))
		}
		for _, r := range rec {
			out = append(out, st.Dim.Render("recorded  ")+r)
		}
	}
	if kind == api.KindUnreachable && dd.Dev.Host != "" {
		addr := common.Clean(dd.Dev.Host)
		if dd.Dev.Port > 0 {
			addr = fmt.Sprintf("%s:%d", addr, dd.Dev.Port)
		}
		out[0] += st.Dim.Render(" (" + addr + ")")
	}
	out = append(out, common.WrapText(kindAdvice(kind, dd.Mode, common.Clean(target)), w)...)
	for _, l := range common.WrapText("error: "+common.Clean(errText), w) {
		out = append(out, st.Dim.Render(l))
	}
	return out
}
