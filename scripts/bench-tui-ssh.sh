#!/usr/bin/env bash
# Measures the TUI served over SSH: SESSIONS concurrent sessions (default 50)
# on a simulated fleet of DEVICES (default 1000), keystroke-to-frame latency
# (send j, time until the session's output changes) and the memory each
# session adds. Fails if p99 is over P99_MS (default 50).
#   scripts/bench-tui-ssh.sh            SESSIONS=100 DEVICES=2000 scripts/bench-tui-ssh.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CFGSNAP_BENCH_TUI=1 CFGSNAP_BENCH_SESSIONS="${SESSIONS:-50}" CFGSNAP_BENCH_DEVICES="${DEVICES:-1000}" \
  CFGSNAP_BENCH_P99_MS="${P99_MS:-50}" \
  go test -count=1 -run '^TestBenchSessions$' -v -timeout 10m ./backend/tuiserver/ | grep -E 'tui-ssh|keystroke|cpu:|memory|FAIL|ok|over'
