package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

// Golden screens: every screen and state a user meets, as plain text.
// Update them with: go test ./ui -run TestScreens -update

func successReply(dev string, changed bool) api.TriggerReply {
	newHash := hashOf(routerConfig(dev, 4))
	prev := hashOf(routerConfig(dev, 3))
	if !changed {
		newHash = prev
	}
	return api.TriggerReply{Status: api.StatusSuccess, SHA256: newHash, Message: api.MessageCollected,
		JobID: "01JOB" + strings.ToUpper(dev), TenantID: "acme", DeviceID: dev, Changed: &changed,
		PreviousHash: prev, SnapshotID: "01SNAPNEW", CollectedAt: fixedNow, SizeBytes: 18642,
		DurationMS: 812, RouterOSVersion: "7.16", NormalizationVersion: 1}
}

func failedReply(dev string, kind api.ErrorKind, msg string) api.TriggerReply {
	return api.TriggerReply{Status: api.StatusFailed, Error: msg, ErrorKind: kind,
		JobID: "01JOB" + strings.ToUpper(dev), TenantID: "acme", DeviceID: dev}
}

func lockedReply(dev string) api.TriggerReply {
	return api.LockedReply("acme", dev, api.LockInfo{Holder: "alice@jump2", JobID: "01JOBALICE",
		Since: fixedNow.Add(-40 * time.Second), Stage: api.StageExporting})
}

const hostKeyError = "host key mismatch for core-rtr-1 (192.0.2.1:22): the device presented ssh-ed25519 " +
	"SHA256:pR0bEn3wK3yF1ng3rPr1ntAAAAAAAAAAAAAAAAAAAAA, but /var/lib/cfgsnap/known_hosts line 3 records ssh-ed25519 " +
	"SHA256:Hq3wN0tR3aLkEyBuTwElLf0rMeD4nD0nLyT3sTsAAAA. Either the device's key was regenerated (reinstall, reset) " +
	"or someone is intercepting the connection. Check with whoever runs the device; if the change is legitimate, " +
	"run: cfgsnap hostkey forget acme/core-rtr-1, then back up again to record the new key."

var kindErrors = map[api.ErrorKind]string{
	api.KindNotFound:        "device core-rtr-1 not found in tenant acme",
	api.KindBadRequest:      `invalid device "core rtr": use 1-64 letters, digits, '_' or '-'`,
	api.KindUnreachable:     "dial tcp 192.0.2.1:22: connect: connection refused",
	api.KindTimeout:         "export did not finish within 60s (48.1 KiB received)",
	api.KindAuthFailed:      "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none password], no supported methods remain",
	api.KindHostKeyMismatch: hostKeyError,
	api.KindTruncated:       "export ended after 131072 bytes without its last line: the output is truncated",
	api.KindInvalidOutput:   `output is not a RouterOS export: first line "bash: /export: not found"`,
	api.KindStorage:         "store snapshot: write /var/lib/cfgsnap/snapshots.db: no space left on device",
	api.KindInternal:        "pipeline: unexpected state",
	api.KindSSHAlgorithms:   "ssh handshake with acme/core-rtr-1: no common key exchange algorithm: the device offered diffie-hellman-group1-sha1, diffie-hellman-group-exchange-sha1",
}

// backupOne presses b on dev and runs it through two stages.
func backupOne(h *harness, dev string) {
	h.t.Helper()
	h.selectDevice(dev)
	h.keys("b")
	h.f.progress(h.t, "acme/"+dev, api.StageConnecting, 90, 0)
	h.settle()
}

func TestScreens(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	sizes := map[string][2]int{"80x24": {80, 24}, "120x30": {120, 30}, "200x50": {200, 50}}
	const dev = "core-rtr-1"
	goldenScreens(t, stockHarness, []keyScreen{
		{name: "fleet_80x24", w: 80, h: 24},
		{name: "fleet_120x30", w: 120, h: 30},
		{name: "fleet_200x50", w: 200, h: 50},
		{name: "filter_typing", w: 80, h: 24, keys: []string{"/"}, typed: "rtr"},
		{name: "filter_no_match", w: 80, h: 24, keys: []string{"/"}, typed: "zzz", then: []string{"enter"}},
		{name: "sort_age", w: 80, h: 24, keys: []string{"s"}},
		{name: "sort_state_reversed", w: 80, h: 24, keys: []string{"s", "s", "S"}},
		{name: "marked", w: 80, h: 24, device: dev, keys: []string{"space", "down", "space"}},
		{name: "backup_all_confirm", w: 80, h: 24, keys: []string{"B"}},
		{name: "history_80x24", w: 80, h: 24, device: dev, keys: []string{"enter"}},
		{name: "history_200x50", w: 200, h: 50, device: dev, keys: []string{"enter"}},
		{name: "history_pinned", w: 80, h: 24, device: dev, keys: []string{"enter", "down", "down", "p"}},
		{name: "history_marked", w: 80, h: 24, device: dev, keys: []string{"enter", "space", "down", "space"}},
		{name: "diff_previous", w: 80, h: 24, device: dev, keys: []string{"enter", "d"}},
		{name: "diff_next_hunk", w: 80, h: 24, device: dev, keys: []string{"enter", "space", "G", "space", "d", "n"}},
		{name: "diff_two_marked_200x50", w: 200, h: 50, device: dev, keys: []string{"enter", "space", "G", "space", "d"}},
		{name: "diff_unchanged", w: 80, h: 24, device: dev, keys: []string{"enter", "down", "d"}},
		{name: "snapshot_viewer", w: 80, h: 24, device: dev, keys: []string{"enter", "v"}},
		{name: "snapshot_search", w: 80, h: 24, device: dev, keys: []string{"enter", "enter", "/"}, typed: "disabled", then: []string{"enter", "n", "n"}},
		{name: "help_80x24", w: 80, h: 24, keys: []string{"?"}},
		{name: "help_200x50", w: 200, h: 50, keys: []string{"?"}},
		{name: "tenant_picker", w: 80, h: 24, keys: []string{"t"}},
		{name: "next_tenant_narrow", w: 80, h: 24, keys: []string{"]"}},
	})

	t.Run("first_frame_before_size", func(t *testing.T) {
		h := newHarness(t, newFake(), 0, 0)
		if got := h.view(); got != "cfgsnap" {
			t.Fatalf("first frame = %q, want the minimal frame", got)
		}
	})

	t.Run("loading_devices", func(t *testing.T) {
		f := newFake()
		f.gates["acme"] = newGate()
		h := newHarness(t, f, 80, 24)
		h.golden()
		f.gates["acme"].release()
		h.settle()
		h.mustShow("core-rtr-1")
	})

	t.Run("tenants_error", func(t *testing.T) {
		f := newFake()
		f.errs["Tenants"] = errNoResponders
		h := newHarness(t, f, 80, 24)
		h.golden()
	})

	for _, name := range []string{"80x24", "200x50"} {
		sz := sizes[name]
		t.Run("running_"+name, func(t *testing.T) {
			f := newFake()
			h := newHarness(t, f, sz[0], sz[1])
			h.selectDevice("core-rtr-1")
			h.keys("space", "space", "down", "space", "B")
			for _, st := range []api.Stage{api.StageQueued, api.StageLockAcquired, api.StageConnecting, api.StageAuthenticating, api.StageExporting} {
				f.progress(t, "acme/core-rtr-1", st, int64(st.Index())*150, 0)
			}
			f.progress(t, "acme/core-rtr-1", api.StageExporting, 1250, 12_800)
			f.progress(t, "acme/edge-rtr-2", api.StageQueued, 5, 0)
			f.progress(t, "acme/edge-rtr-2", api.StageConnecting, 210, 0)
			h.settle()
			h.selectDevice("core-rtr-1")
			h.golden()
		})
	}

	t.Run("waiting_for_slot", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24, func(o *Options) { o.Concurrency = 1 })
		h.selectDevice("core-rtr-1")
		h.keys("space", "space", "space", "B")
		f.progress(t, "acme/core-rtr-1", api.StageAuthenticating, 300, 0)
		h.settle()
		h.selectDevice("edge-rtr-2")
		h.golden()
	})

	t.Run("result_changed", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", successReply("core-rtr-1", true))
		h.settle()
		h.golden()
	})

	t.Run("result_unchanged_200x50", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 200, 50)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", successReply("core-rtr-1", false))
		h.settle()
		h.golden()
	})

	t.Run("locked", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", lockedReply("core-rtr-1"))
		h.settle()
		h.golden()
	})

	t.Run("locked_watching", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", lockedReply("core-rtr-1"))
		h.settle()
		h.keys("w")
		f.emitDevice("acme/core-rtr-1", client.Update{Progress: &api.ProgressEvent{JobID: "01JOBALICE", TenantID: "acme",
			DeviceID: "core-rtr-1", Stage: api.StageStoring, ElapsedMS: 41_500, Bytes: 20_480}})
		h.settle()
		h.golden()
	})

	t.Run("locked_watch_ended", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", lockedReply("core-rtr-1"))
		h.settle()
		h.keys("w")
		final := successReply("core-rtr-1", true)
		final.JobID = "01JOBALICE"
		f.emitDevice("acme/core-rtr-1", client.Update{Final: &final})
		h.settle()
		h.golden()
	})

	for _, kind := range api.ErrorKinds {
		t.Run("error_"+string(kind), func(t *testing.T) {
			f := newFake()
			h := newHarness(t, f, 80, 24)
			backupOne(h, "core-rtr-1")
			f.finish(t, "acme/core-rtr-1", failedReply("core-rtr-1", kind, kindErrors[kind]))
			h.settle()
			h.golden()
		})
	}

	t.Run("error_no_reply", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.fail(t, "acme/core-rtr-1", errNoResponders)
		h.settle()
		h.golden()
	})

	t.Run("error_host_key_mismatch_200x50", func(t *testing.T) {
		f := newFake()
		f.mode, f.where = client.ModeDirect, "/home/ops/.local/share/cfgsnap"
		f.conn = client.ConnLocal
		h := newHarness(t, f, 200, 50)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", failedReply("core-rtr-1", api.KindHostKeyMismatch, hostKeyError))
		h.settle()
		h.golden()
	})

	t.Run("forget_host_key_confirm", func(t *testing.T) {
		f := newFake()
		f.mode, f.where, f.conn = client.ModeDirect, "/home/ops/.local/share/cfgsnap", client.ConnLocal
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", failedReply("core-rtr-1", api.KindHostKeyMismatch, hostKeyError))
		h.settle()
		h.keys("F")
		h.golden()
	})

	t.Run("forget_host_key_done", func(t *testing.T) {
		f := newFake()
		f.mode, f.where, f.conn = client.ModeDirect, "/home/ops/.local/share/cfgsnap", client.ConnLocal
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", failedReply("core-rtr-1", api.KindHostKeyMismatch, hostKeyError))
		h.settle()
		h.keys("F", "y")
		h.golden()
	})

	t.Run("history_live_update", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		h.selectDevice("core-rtr-1")
		h.keys("h")
		rec := api.SnapshotRecord{SnapshotID: "01SNAP05", TenantID: "acme", DeviceID: "core-rtr-1",
			SHA256: hashOf(routerConfig("core-rtr-1", 4)), CollectedAt: fixedNow.Add(-5 * time.Second), SizeBytes: 2100,
			Changed: true, PreviousHash: hashOf(routerConfig("core-rtr-1", 3)), Trigger: api.TriggerManual,
			RequestedBy: "bob@jump3", Reason: "emergency fix", RouterOSVersion: "7.16", NormalizationVersion: 1, DurationMS: 530}
		f.emitSnapshot(rec)
		h.settle()
		h.golden()
	})

	t.Run("quit_confirm", func(t *testing.T) {
		h := newHarness(t, newFake(), 80, 24)
		backupOne(h, "core-rtr-1")
		h.keys("q")
		h.golden()
	})

	t.Run("log_pane", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		backupOne(h, "core-rtr-1")
		f.finish(t, "acme/core-rtr-1", successReply("core-rtr-1", true))
		h.settle()
		backupOne(h, "branch-4")
		f.finish(t, "acme/branch-4", failedReply("branch-4", api.KindAuthFailed, kindErrors[api.KindAuthFailed]))
		h.settle()
		h.keys("L")
		h.golden()
	})

	t.Run("reconnecting", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 80, 24)
		f.setConn(client.ConnReconnecting)
		h.send(tickMsg{gen: h.m.tickGen, at: fixedNow})
		h.golden()
	})

	t.Run("direct_mode", func(t *testing.T) {
		f := newFake()
		f.mode, f.where, f.conn = client.ModeDirect, "/home/ops/.local/share/cfgsnap", client.ConnLocal
		h := newHarness(t, f, 80, 24)
		h.golden()
	})

	t.Run("resize_200x50_to_80x24", func(t *testing.T) {
		f := newFake()
		h := newHarness(t, f, 200, 50)
		h.selectDevice("wan-6")
		h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
		h.golden()
	})
}
