#!/usr/bin/env bash
# The whole test suite, as CI runs it: race detector on, fuzz seeds included.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 20m ./...
# The real binary in tmux, as a person would use it.
./scripts/tui-smoke.sh
