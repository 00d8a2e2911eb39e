#!/usr/bin/env bash
# End-to-end benchmark of the backup service (issue 3):
#  1. trigger-to-final-reply latency over NATS against direct in-process, for
#     a device that answers at once (go test -bench Trigger: p50 and p99 ms);
#  2. TRIGGERS backups over DEVICES simulated devices sent through NATS
#     (`cfgsnap --nats URL backup --all`, 64 at once) to 1 and to 4
#     `cfgsnap serve` processes sharing one data dir: throughput in backups/s
#     and the peak RSS of the serve processes.
#
#   scripts/bench-service.sh [DEVICES=500] [TRIGGERS=1000] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
TRIGGERS=${2:-1000}
RUNS=${3:-3}
P=64
work=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
sim_pid=
trap 'stop_all; [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait; rm -rf "$work"' EXIT

echo "== latency: one backup of a 2 KB device, direct vs over NATS (p50/p99 ms)"
go test -run '^$' -bench 'BenchmarkTrigger' -benchtime 500x -count "$RUNS" ./backend/service |
  awk '/^BenchmarkTrigger/ {split($1, n, "/"); sub(/-[0-9]+$/, "", n[2]); print n[2], $5, $7}' |
  sort -k1,1 -s | awk '{p50[$1]=p50[$1]" "$2; p99[$1]=p99[$1]" "$3}
    END {for (k in p50) print "  " k ": p50 runs" p50[k] " ms; p99 runs" p99[k] " ms"}'

go build -o "$work/cfgsnap" ./cmd/cfgsnap
"$work/cfgsnap" --data-dir "$work/simdata" --log-file "$work/sim.log" sim --devices "$N" \
  --inventory-out "$work/lab.yaml" >"$work/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do grep -q simulating "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
grep -q simulating "$work/sim.out" || { cat "$work/sim.out"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="nats://127.0.0.1:$port"
rounds=$(( (TRIGGERS + N - 1) / N ))
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
cli() { "$work/cfgsnap" --nats "$url" --log-file "$work/cli.log" "$@"; }

echo "== throughput: $((rounds * N)) triggers over $N devices, $P at once"
for procs in 1 4; do
  times=(); peaks=()
  for run in $(seq "$RUNS"); do
    data="$work/data-$procs-$run"
    common=(--inventory "$work/lab.yaml" --data-dir "$data" --log-file "$work/serve-$procs.log")
    "$work/cfgsnap" "${common[@]}" serve --listen "127.0.0.1:$port" 2>>"$work/serve.err" &
    pids+=($!)
    for _ in $(seq 100); do cli devices --tenant acme >/dev/null 2>&1 && break; sleep 0.1; done
    for _ in $(seq 2 "$procs"); do
      "$work/cfgsnap" "${common[@]}" --nats "$url" serve 2>>"$work/serve.err" &
      pids+=($!)
    done
    sleep 1
    # First contact records every host key: not part of the measurement.
    cli backup --all --concurrency $P >/dev/null || true
    t0=$(now)
    for _ in $(seq "$rounds"); do
      cli backup --all --concurrency $P >"$work/backup.out" 2>&1 || {
        echo "backup failed:"; grep -v ' success ' "$work/backup.out" | head -5; exit 1; }
    done
    t1=$(now)
    times+=("$(echo "scale=1; $((rounds * N)) / ($t1 - $t0)" | bc)")
    peak=0
    for p in "${pids[@]}"; do
      kb=$(awk '/VmHWM/ {print $2}' "/proc/$p/status")
      [ "$kb" -gt "$peak" ] && peak=$kb
    done
    peaks+=("$peak")
    stop_all
  done
  echo "  $procs serve process(es): $(printf '%s\n' "${times[@]}" | median) backups/s (runs: ${times[*]});" \
    "peak RSS of one serve process $(( $(printf '%s\n' "${peaks[@]}" | median) / 1024 )) MiB"
done
