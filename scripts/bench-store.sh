#!/usr/bin/env bash
# bench-store.sh: fill a fresh store with DEVICES x SNAPSHOTS realistic
# snapshots and measure the CLI-facing reads (issue 9 §4).
#   DEVICES (10000) SNAPSHOTS (100) STORE (sqlite|jetstream) CHANGE_EVERY (20:
#   one snapshot in 20 is a new configuration) SIZE_BYTES (20480) SAMPLES (200)
# The last line reads:
#   store: D devices x S snapshots: history p99 X ms, show p99 X ms, diff p99 X ms, fleet list X ms, unchanged snapshot X bytes
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/benchstore
