#!/usr/bin/env bash
# Smoke test of the real binary's TUI, driven through tmux like a person:
# start `cfgsnap demo`, select acme/core-rtr-1, back it up, check that the
# screen shows the hash the store recorded; then back up the slow device
# from another process and see the TUI report the lock with its holder.
# CI runs it (scripts/test.sh). Needs tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "tui-smoke: tmux is not installed"; exit 1; }

work=$(mktemp -d)
session="cfgsnap-smoke-$$"
port=$((20000 + RANDOM % 20000))
url="nats://127.0.0.1:$port"
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/cfgsnap" ./cmd/cfgsnap
export XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/state"
tmux new-session -d -s "$session" -x 120 -y 35 \
  "NO_COLOR= '$work/cfgsnap' --log-file '$work/cfgsnap.log' --data-dir '$work/data' demo --listen 127.0.0.1:$port --devices 40; sleep 30"

screen() { tmux capture-pane -p -t "$session"; }
# wait_for TEXT SECONDS: until the screen shows TEXT.
wait_for() {
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if screen | grep -qF -- "$1"; then return 0; fi
    sleep 0.2
  done
  echo "tui-smoke: the screen never showed '$1'. It shows:"; screen; exit 1
}
keys() { tmux send-keys -t "$session" "$@"; sleep 0.3; }
# pick NAME: filter the device list to NAME and move the cursor onto it
# (the fuzzy filter may keep other rows, in sort order).
pick() {
  keys Escape
  keys / $(echo "$1" | sed 's/./& /g') Enter
  for _ in $(seq 20); do
    screen | grep -q "▸ $1 " && return 0
    keys j
  done
  echo "tui-smoke: could not select $1"; screen; exit 1
}

wait_for "core-rtr-1" 30
echo "ok: the fleet screen lists the devices"

# Filter to the device, back it up.
pick core-rtr-1
keys b
wait_for "sha256" 30
recorded=$("$work/cfgsnap" --nats "$url" history acme/core-rtr-1 --json --limit 1 | sed -n 's/.*"sha256_hash":"\([0-9a-f]*\)".*/\1/p')
[ ${#recorded} -eq 64 ] || { echo "tui-smoke: no recorded hash"; exit 1; }
wait_for "$recorded" 5
echo "ok: the TUI shows the recorded hash $recorded"

# Another process holds the slow device; the TUI says who.
"$work/cfgsnap" --nats "$url" backup acme/lab-slow-1 >"$work/other.out" 2>&1 &
other=$!
sleep 1.5
pick lab-slow-1
keys b
wait_for "locked" 15
wait_for "@" 5
echo "ok: the TUI reports the lock and its holder"
wait "$other" || true

# Fleet search over NATS: the match opens the snapshot at its line; what
# changed lists the devices first backed up as new.
keys Escape
keys f
keys -l 'system identity'
wait_for "acme/core-rtr-1:" 15
keys Enter
wait_for "Snapshot ·" 15
echo "ok: fleet search finds the line and opens the snapshot at it"
keys Escape
keys Escape
keys C
wait_for "new device" 15
echo "ok: what changed lists the new devices"
keys Escape

keys q
sleep 0.5
if screen | grep -qiF "quit"; then keys y; fi
echo "tui-smoke: passed"
