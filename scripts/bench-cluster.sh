#!/usr/bin/env bash
# Scale-out benchmark (issue 5): a fleet backup of DEVICES simulated devices
# (the default fleet of `cfgsnap sim`) through 1, 2 and 4 workers on a real
# three-node NATS cluster on loopback, snapshots and locks in JetStream on
# R3, triggers through the queue group, 64 outstanding. Prints per worker
# count the median of RUNS runs: backups/s, the scaling factor against one
# worker, CPU per backup and how many of the machine's cores were busy; then
# the ceiling of the storage path alone (Record and lease on R3, 16 writers).
#
# Everything (simulator, NATS nodes, workers) shares this machine, so when
# the cores are all busy the machine is the limit, not cfgsnap; see
# docs/deploy.md "Sizing" for the reading of the numbers.
#
#   scripts/bench-cluster.sh [DEVICES=1000] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
RUNS=${2:-3}

echo "== fleet backup of $N devices on a 3-node cluster (R3), median of $RUNS runs, $(nproc) cores"
CFGSNAP_BENCH_DEVICES=$N go test -run '^$' -bench 'BenchmarkFleetBackup' -benchtime 1x -count "$RUNS" \
  -timeout 30m ./backend/cluster |
  awk '
    function median(list,   a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    /^BenchmarkFleetBackup\/workers=/ {
      split($1, p, "="); w = p[2]; sub(/-[0-9]+$/, "", w)
      for (i = 3; i < NF; i++) {
        if ($(i+1) == "backups/s") bps[w] = bps[w] " " $i
        if ($(i+1) == "cpu-ms/backup") cpu[w] = cpu[w] " " $i
        if ($(i+1) == "cores-busy") busy[w] = busy[w] " " $i
      }
      seen[w] = 1
    }
    END {
      printf "  %-8s %12s %9s %15s %11s\n", "workers", "backups/s", "scaling", "cpu ms/backup", "cores busy"
      base = median(bps[1])
      for (w = 1; w <= 64; w++) if (seen[w])
        printf "  %-8d %12.1f %8.2fx %15.2f %11.2f\n", w, median(bps[w]), median(bps[w]) / base, median(cpu[w]), median(busy[w])
    }'

echo "== storage path alone on R3 (16 writers), median of $RUNS runs"
go test -run '^$' -bench 'BenchmarkRecord|BenchmarkLease' -benchtime 2s -count "$RUNS" \
  ./backend/store/jetstream ./backend/lock/kv |
  awk '
    function median(list,   a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    /^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); ns[name] = ns[name] " " $3; seen[name] = 1 }
    END {
      for (n in seen) printf "  %-32s %8.0f ops/s (%.0f us each)\n", n, 1e9 / median(ns[n]), median(ns[n]) / 1000
    }' | sort
