#!/usr/bin/env bash
# Fleet search and "what changed" at scale (issue 12 §3, §4).
#
# Fills a fresh SQLite store through the store API with DEVICES simulated
# RouterOS exports of about SIZE bytes (devicesim's generator,
# show-sensitive, normalised; a tenth of the devices changed an hour ago),
# then measures a cold search (a new engine reading every latest
# configuration from the store), warm searches, changes over 24 h and the
# extra heap and RSS the engine holds. The last line is
#   search: D devices: cold X ms, warm X ms, changes X ms, extra heap X MB
#
#   DEVICES=10000 SIZE=51200 ./scripts/bench-search.sh
#   KEEP=/tmp/fleet ./scripts/bench-search.sh   # keep (or reuse) the filled store
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-10000}
SIZE=${SIZE:-51200}
dir=${KEEP:-}
if [[ -n $dir ]]; then
	mkdir -p "$dir"
else
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
fi
CFGSNAP_BENCH_DIR="$dir/store" CFGSNAP_BENCH_DEVICES=$DEVICES CFGSNAP_BENCH_SIZE=$SIZE \
	go test -run '^$' -bench '^BenchmarkFleet$' -benchtime 1x -timeout 60m ./backend/search/ |
	grep -v -e '^goos:' -e '^goarch:' -e '^pkg:' -e '^cpu:' -e '^PASS' -e '^ok ' -e '^BenchmarkFleet' > "$dir/out.txt"
grep -v '^search: ' "$dir/out.txt"
grep '^search: ' "$dir/out.txt"
