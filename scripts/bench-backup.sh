#!/usr/bin/env bash
# End-to-end benchmark of issue 2: `cfgsnap backup --all --concurrency 32`
# over N simulated devices, against the floor: OpenSSH's ssh client fetching
# the same N exports with the same parallelism (xargs -P 32). Prints wall
# times (median of RUNS), the ratio cfgsnap/OpenSSH and cfgsnap's peak RSS.
#
#   scripts/bench-backup.sh [DEVICES=500] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
RUNS=${2:-3}
P=32
work=$(mktemp -d)
trap 'kill $sim_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/cfgsnap" ./cmd/cfgsnap
ssh-keygen -q -t ed25519 -N '' -f "$work/id" >/dev/null
"$work/cfgsnap" --data-dir "$work/simdata" sim --devices "$N" --authorized-keys "$work/id.pub" \
  --identity-file "$work/id" --inventory-out "$work/lab.yaml" >"$work/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do grep -q simulating "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
grep -q simulating "$work/sim.out" || { cat "$work/sim.out"; exit 1; }

# host, port and export command of each device (the one cfgsnap picks: v6
# has no show-sensitive), from the inventory the simulator wrote.
awk '/host:/{h=$2} /port:/{p=$2} /tags:/{c=($0 ~ /routeros6/) ? "/export" : "/export show-sensitive"; print h" "p" "c}' \
  "$work/lab.yaml" >"$work/targets"
[ "$(wc -l <"$work/targets")" -eq "$N" ] || { echo "expected $N targets"; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

cfg_times=(); ssh_times=(); rss=()
for i in $(seq "$RUNS"); do
  rm -rf "$work/data"
  t0=$(now)
  /usr/bin/time -f '%M' -o "$work/rss" "$work/cfgsnap" --inventory "$work/lab.yaml" --data-dir "$work/data" \
    --log-file "$work/log" backup --all --concurrency $P >"$work/backup.out" 2>&1 || {
      echo "cfgsnap backup failed:"; tail -5 "$work/backup.out"; exit 1; }
  t1=$(now)
  cfg_times+=("$(echo "$t1 - $t0" | bc)")
  rss+=("$(cat "$work/rss")")

  t0=$(now)
  xargs -P $P -L 1 sh -c 'ssh -q -i "$0" -p "$2" -o BatchMode=yes -o StrictHostKeyChecking=no \
      -o UserKnownHostsFile=/dev/null admin@"$1" "$3 $4" >/dev/null' "$work/id" <"$work/targets"
  t1=$(now)
  ssh_times+=("$(echo "$t1 - $t0" | bc)")
done

ok=$(grep -c ' success ' "$work/backup.out" || true)
cfg=$(printf '%s\n' "${cfg_times[@]}" | median)
ossh=$(printf '%s\n' "${ssh_times[@]}" | median)
peak=$(printf '%s\n' "${rss[@]}" | median)
echo "devices: $N, concurrency: $P, runs: $RUNS (median), successes in last cfgsnap run: $ok"
echo "cfgsnap backup --all: ${cfg}s   (runs: ${cfg_times[*]})"
echo "OpenSSH ssh + xargs:  ${ossh}s   (runs: ${ssh_times[*]})"
echo "ratio cfgsnap/OpenSSH: $(echo "scale=2; $cfg / $ossh" | bc)"
echo "cfgsnap peak RSS: $((peak / 1024)) MiB"
