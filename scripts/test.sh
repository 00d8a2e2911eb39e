#!/usr/bin/env bash
# The whole test suite, as CI runs it: race detector on, fuzz seeds included.
set -euo pipefail
cd "$(dirname "$0")/.."
# One package at a time: several packages start NATS clusters, SSH fleets
# and child processes, and on a 2-core machine running them side by side
# turns their timing margins into flakes.
go test -race -count=1 -p 1 -timeout 25m ./...
# The benchmark scripts with small numbers, so that they cannot rot.
DEVICES=50 SNAPSHOTS=5 ./scripts/bench-store.sh | tail -n 1
DEVICES=50 SNAPSHOTS=5 STORE=jetstream ./scripts/bench-store.sh | tail -n 1
DEVICES=100 SIZE=20000 ./scripts/bench-search.sh | tail -n 1
# The real binary in tmux, as a person would use it.
./scripts/tui-smoke.sh
