#!/usr/bin/env bash
# Benchmark of `gameday sim`: CPU and memory under the default load, and the
# latency of instant queries over an hour of recorded history.
#
#   benches/sim.sh                 # builds target/release/gameday first
#   GAMEDAY=path/to/gameday DURATION=60 benches/sim.sh
#
# The simulator runs with the default config plus `timing.backfill: 1h`, so
# its history already holds an hour when measuring starts. CPU is measured
# from /proc/PID/stat (utime + stime) over DURATION seconds after start-up;
# RSS is VmRSS at the end (and the peak, VmHWM). Targets: < 5 % of one core,
# < 100 MiB RSS, instant query < 20 ms.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION="${DURATION:-60}"
if [[ -z "${GAMEDAY:-}" ]]; then
    cargo build --release -j 2 >&2
    GAMEDAY="${CARGO_TARGET_DIR:-target}/release/gameday"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:${port}"
cat > "$work/bench.yaml" <<'YAML'
timing:
  backfill: 1h
YAML

"$GAMEDAY" sim --listen "127.0.0.1:${port}" --seed 1 --config "$work/bench.yaml" >"$work/sim.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

started=$(date +%s.%N)
for _ in $(seq 1 600); do
    if curl -fsS --noproxy '*' "$base/-/ready" >/dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || { cat "$work/sim.log" >&2; exit 1; }
    sleep 0.1
done
ready=$(date +%s.%N)
printf 'start-up with 1h backfill: %.1f s\n' "$(echo "$ready - $started" | bc)"

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

echo "instant queries over 1h of history (20 runs each; median / max in ms):"
for q in 'max(region_error_ratio)' \
         'sum by (region) (rate(http_requests_total[5m]))' \
         'increase(replication_conflicts_total[1h])' \
         'max_over_time(region_error_ratio[1h])'; do
    times=()
    for _ in $(seq 1 20); do
        t=$(curl -fsS --noproxy '*' -o /dev/null -w '%{time_total}' --get --data-urlencode "query=$q" "$base/api/v1/query")
        times+=("$(echo "$t * 1000" | bc -l)")
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    median=$(echo "$sorted" | sed -n 10p)
    max=$(echo "$sorted" | tail -1)
    printf '  %-55s %6.1f / %6.1f\n' "$q" "$median" "$max"
done

t0=$(ticks)
sleep "$DURATION"
t1=$(ticks)
cpu=$(echo "scale=2; 100 * ($t1 - $t0) / $hz / $DURATION" | bc -l)
rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
echo "CPU over ${DURATION} s at default load: ${cpu} % of one core"
echo "RSS: ${rss} MiB (peak ${hwm} MiB)"
