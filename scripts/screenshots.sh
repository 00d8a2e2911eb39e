#!/usr/bin/env bash
# Regenerates screenshots/*.png from a real `cfgsnap demo` run: tmux plays
# the user, `tmux capture-pane -e` takes the screen with its colours, and
# freeze (go install github.com/charmbracelet/freeze@v0.2.2) renders it to
# SVG, and rsvg-convert (Debian's librsvg2-bin) to PNG: freeze's own PNG
# path runs resvg in a wazero JIT that crashes under Go 1.26's runtime.
# rsvg-convert ignores the font freeze embeds, so name an installed monospace
# one (Debian fonts-dejavu-core).
# Takes about a minute (it waits for the demo's drifting device to change).
set -euo pipefail
cd "$(dirname "$0")/.."
FREEZE=${FREEZE:-$(command -v freeze || echo "$(go env GOPATH)/bin/freeze")}
[ -x "$FREEZE" ] || { echo "install freeze: go install github.com/charmbracelet/freeze@v0.2.2"; exit 1; }
command -v rsvg-convert >/dev/null || { echo "install rsvg-convert: apt-get install librsvg2-bin"; exit 1; }

work=$(mktemp -d)
session="cfgsnap-shots-$$"
port=$((20000 + RANDOM % 20000))
url="nats://127.0.0.1:$port"
trap 'for s in "$session" "$session-srv" "$session-ssh"; do tmux kill-session -t "$s" 2>/dev/null || true; done; rm -rf "$work"' EXIT
go build -o "$work/cfgsnap" ./cmd/cfgsnap
export XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/state"
tmux new-session -d -s "$session" -x 120 -y 35 -e TERM=xterm-256color -e COLORTERM= \
  "'$work/cfgsnap' --log-file '$work/log' --data-dir '$work/data' demo --listen 127.0.0.1:$port"

screen() { tmux capture-pane -p -t "${target:-$session}"; }
wait_for() {
  local deadline=$((SECONDS + ${2:-20}))
  until screen | grep -qF -- "$1"; do
    ((SECONDS < deadline)) || { echo "never saw '$1'"; screen; exit 1; }
    sleep 0.2
  done
}
keys() { tmux send-keys -t "${target:-$session}" "$@"; sleep 0.4; }
pick() {
  keys Escape
  keys / $(echo "$1" | sed 's/./& /g') Enter
  for _ in $(seq 20); do screen | grep -q "▸ $1 " && return 0; keys j; done
  echo "could not select $1"; exit 1
}
shot() {
  mkdir -p screenshots
  # freeze ignores "default background" (SGR 49), which tmux writes after a
  # highlight: spell the window's background out instead.
  tmux capture-pane -e -p -t "${target:-$session}" | sed 's/\x1b\[49m/\x1b[48;2;30;30;46m/g' |
    "$FREEZE" --language ansi --window --padding 10 \
    --background "#1e1e2e" --font.family "DejaVu Sans Mono" --font.size 14 -o "$work/$1.svg" >/dev/null
  rsvg-convert -o "screenshots/$1.png" "$work/$1.svg"
  echo "screenshots/$1.png"
}

wait_for "core-rtr-1" 30
# Back up the whole tenant: most finish at once, the slow one keeps running.
keys B
keys y
sleep 2.5
pick lab-slow-1
shot running
wait_for "no jobs" 60
pick core-rtr-1
shot fleet
pick lab-badpass-1
shot error
# Another process holds the slow device: the TUI names the holder.
"$work/cfgsnap" --nats "$url" backup acme/lab-slow-1 >/dev/null 2>&1 &
sleep 1.5
pick lab-slow-1
keys b
wait_for "locked" 15
shot locked
wait
# History and diff of the device whose configuration drifts every 30 s.
pick lab-drift-1
sleep 31
keys b
sleep 2
keys Enter
wait_for "snapshots" 10
shot history
keys d
sleep 1
# The diff is redacted by default; the sticky heading names the menu.
shot diff
# Triage: failures by kind, then stale devices; counts in the status bar.
keys Escape
keys Escape
keys Escape
keys T
wait_for "triage" 5
pick lab-badpass-1
shot triage
keys T
# What changed in the last 24 h: the drifting device, newest first.
keys C
wait_for "Changes · last 24h" 10
wait_for "lab-drift-1" 10
shot changes
keys Escape
# Fleet search as you type: every device's latest configuration, redacted.
keys f
keys -l 'address='
wait_for "matches in" 10
keys Down Down
shot search
keys Escape
keys q || true
sleep 0.5
if screen 2>/dev/null | grep -qi quit; then keys y; fi

# The same TUI served over SSH (serve/demo --tui-listen), seen from an
# OpenSSH client: a headless demo serves it, the demo's generated key logs in.
sport=$((port + 1)); tport=$((port + 2))
tmux new-session -d -s "$session-srv" -x 120 -y 10 \
  "'$work/cfgsnap' --log-file '$work/log2' --data-dir '$work/data2' demo --headless --listen 127.0.0.1:$sport --tui-listen 127.0.0.1:$tport"
for _ in $(seq 100); do [ -f "$work/data2/demo_ed25519" ] && break; sleep 0.2; done
# The TUI listener opens after the demo's service: wait until it accepts.
for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$tport") 2>/dev/null && break; sleep 0.2; done
tmux new-session -d -s "$session-ssh" -x 120 -y 35 -e TERM=xterm-256color -e COLORTERM= \
  "ssh -tt -i '$work/data2/demo_ed25519' -p $tport -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR demo@127.0.0.1"
target="$session-ssh"
wait_for "core-rtr-1" 30
keys j j
shot ssh
exit 0
