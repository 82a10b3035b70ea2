#!/usr/bin/env bash
# 100 concurrent watches polling Prometheus every second: does the runner
# stay light and on schedule?
#
# Generates a playbook with WATCHES (default 100) `prometheus` watches, each
# polling its own expression every 1 s for DURATION seconds (default 600)
# and never holding, and runs it with `gameday run` against a real
# Prometheus (Debian's) scraping `gameday sim`. Prometheus's query log
# records the instant each poll was evaluated; the runner's CPU time and
# memory come from /proc.
#
# Reports: CPU of the runner as % of one core over the watch window, peak
# RSS (VmHWM), and the drift of every poll from its intended tick
# (first poll + k * 1 s), p50/p99/max. Targets (issue 4): < 2 % of one core,
# < 30 MiB RSS, p99 drift < 50 ms. Exit status 1 when missed.
#
#   benches/watches.sh [DURATION_SECONDS] [WATCHES]   # GAMEDAY=path to skip the build
set -euo pipefail

DURATION=${1:-600}
WATCHES=${2:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ -z "${GAMEDAY:-}" ]]; then
  cargo build -q -j 2 --release --bin gameday
  GAMEDAY="${CARGO_TARGET_DIR:-$ROOT/target}/release/gameday"
fi
command -v prometheus >/dev/null || { echo "watches.sh: needs Debian's prometheus" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_url() {
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "watches.sh: $1 not ready" >&2; return 1; }
    sleep 0.2
  done
}

sim_port=$(free_port)
"$GAMEDAY" sim --listen "127.0.0.1:$sim_port" --seed 5 > "$WORK/sim.log" 2>&1 &
PIDS+=($!)
wait_url "http://127.0.0.1:$sim_port/sim/truth" 30

prom_port=$(free_port)
mkdir -p "$WORK/prom"
cat > "$WORK/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  query_log_file: $WORK/prom/queries.log
scrape_configs:
  - job_name: sim
    static_configs:
      - targets: ['127.0.0.1:$sim_port']
EOF
prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn > "$WORK/prom/log" 2>&1 &
PIDS+=($!)
prom_url="http://127.0.0.1:$prom_port"
wait_url "$prom_url/-/ready" 60
deadline=$((SECONDS + 30))
until curl -fsS "$prom_url/api/v1/query?query=up" | grep -q '"1"'; do
  ((SECONDS < deadline)) || { echo "watches.sh: Prometheus never scraped the simulator" >&2; exit 1; }
  sleep 0.2
done

# The playbook: one observe phase of WATCHES watches that never hold.
pb="$WORK/watches.yaml"
{
  echo "name: watches-bench"
  echo "unattended: true"
  echo "prometheus: { url: \"$prom_url\" }"
  echo "phases:"
  echo "  - kind: observe"
  echo "    name: watching"
  echo "    watches:"
  for ((i = 0; i < WATCHES; i++)); do
    echo "      - name: watch $i"
    echo "        kind: prometheus"
    echo "        expr: 'sum(region_requests_per_second) + $i * 0'"
    echo "        expect: \"< 0\""
    echo "        wait: { every: 1s, timeout: ${DURATION}s }"
  done
} > "$pb"

GAMEDAY_LOCK_DIR="$WORK/locks" "$GAMEDAY" run "$pb" --out "$WORK/runs" --yes --non-interactive -q \
  > "$WORK/run.stdout" 2> "$WORK/run.stderr" &
run_pid=$!
PIDS+=($run_pid)

status=0
python3 - "$run_pid" "$DURATION" "$WORK/prom/queries.log" "$WATCHES" <<'EOF' || status=$?
import json, os, sys, time, re
from datetime import datetime
pid, duration, qlog, watches = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
tck = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck
def status(key):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(key + ":"):
            return int(l.split()[1]) / 1024.0
# Skip the first 5 s (session opening, first polls), then measure over the window.
warmup = min(5.0, duration / 4)
time.sleep(warmup)
c0, t0 = cpu(), time.monotonic()
c1, t1, hwm, rss_max = c0, t0, 0.0, 0.0
end = t0 + duration - warmup - 1.0
while time.monotonic() < end:
    try:
        rss_max = max(rss_max, status("VmRSS"))
        c1, t1 = cpu(), time.monotonic()
        hwm = status("VmHWM")
    except FileNotFoundError:
        break
    time.sleep(1.0)
cpu_pct = 100.0 * (c1 - c0) / (t1 - t0)

polls = {}
for line in open(qlog):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    q = e.get("params", {}).get("query", "")
    m = re.search(r"\+ (\d+) \* 0", q)
    if not m:
        continue
    ts = datetime.fromisoformat(e["params"]["start"].replace("Z", "+00:00")).timestamp()
    polls.setdefault(int(m.group(1)), []).append(ts)
# A watch's schedule is start + k * 1 s; its first poll also opens the
# Prometheus session, so the start is estimated from the least-delayed poll.
drifts = []
for w, ts in polls.items():
    ts.sort()
    ks = [round(t - ts[0]) for t in ts]
    start = min(t - k for t, k in zip(ts[1:], ks[1:])) if len(ts) > 1 else ts[0]
    for t, k in zip(ts[1:], ks[1:]):
        drifts.append((t - (start + k)) * 1000.0)
drifts.sort()
pct = lambda p: drifts[min(len(drifts) - 1, int(p / 100.0 * len(drifts)))] if drifts else float("nan")
n_polls = sum(len(v) for v in polls.values())
print(f"watches {len(polls)}/{watches}, polls {n_polls} over {duration:.0f} s ({n_polls / max(1, len(polls)) / duration:.3f} per watch per second)")
print(f"runner CPU {cpu_pct:.2f} % of one core (over {t1 - t0:.0f} s), RSS peak {hwm:.1f} MiB (sampled max {rss_max:.1f} MiB)")
print(f"poll drift from the intended tick: p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, max {drifts[-1] if drifts else float('nan'):.1f} ms")
ok = cpu_pct < 2.0 and hwm < 30.0 and pct(99) < 50.0 and len(polls) == watches
print("targets (< 2 % CPU, < 30 MiB, p99 < 50 ms):", "met" if ok else "MISSED")
sys.exit(0 if ok else 1)
EOF
wait "$run_pid" 2>/dev/null || true
exit $status
