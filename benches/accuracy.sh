#!/usr/bin/env bash
# How close are the drill's TTD and TTR to the truth?
#
# Runs the shipped regional-failover drill N times (default 10) against
# `gameday sim`, each with its own seed and propagation delay, twice per
# simulator: through the simulator's embedded Prometheus API, and through a
# real Prometheus (Debian's, 1 s scrape and evaluation intervals, the
# simulator's rules) scraping it. Compares the ttd and ttr metrics with
# `/sim/truth` and prints every run and the worst error of each.
#
# Targets (issue 4): worst error <= 2 s through real Prometheus at 1 s
# intervals, <= 1 s through the embedded API. Exit status 1 when missed.
#
#   benches/accuracy.sh [RUNS]          # GAMEDAY=path/to/gameday to skip the build
set -euo pipefail

RUNS=${1:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ -z "${GAMEDAY:-}" ]]; then
  cargo build -q -j 2 --bin gameday
  GAMEDAY="${CARGO_TARGET_DIR:-$ROOT/target}/debug/gameday"
fi
command -v prometheus >/dev/null || { echo "accuracy.sh: needs Debian's prometheus" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Poll a URL until it answers (bounded).
wait_url() { # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "accuracy.sh: $1 not ready" >&2; return 1; }
    sleep 0.2
  done
}

# One drill; prints "ttd_err ttr_err ttd ttr" (seconds) from its journal and the truth.
drill() { # label sim_url prometheus_url
  local out="$WORK/runs-$1"
  mkdir -p "$out"
  GAMEDAY_LOCK_DIR="$WORK/locks" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-west-2 \
    "$GAMEDAY" run drills/regional-failover.yaml --env drills/environments/sim.yaml \
    --var "sim_url=$2" --var "prometheus_url=$3" --out "$out" --yes --non-interactive -q \
    > "$out/stdout" 2> "$out/stderr" || true
  local dir
  dir=$(tail -n 1 "$out/stdout")
  curl -fsS "$2/sim/truth" > "$out/truth.json"
  python3 - "$dir/journal.jsonl" "$out/truth.json" <<'EOF'
import json, sys
from datetime import datetime
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
truth = json.load(open(sys.argv[2]))
def t(k):
    v = truth.get(k)
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() if v else None
metric = {e["name"]: e.get("value") for e in ev if e.get("event") == "metric"}
true_ttd = t("alert_firing_at") - t("isolated_at") if t("alert_firing_at") and t("isolated_at") else None
true_ttr = t("rerouted_at") - t("isolated_at") if t("rerouted_at") and t("isolated_at") else None
def err(m, tr):
    return abs(m - tr) if m is not None and tr is not None else float("nan")
print(f'{err(metric.get("ttd"), true_ttd):.3f} {err(metric.get("ttr"), true_ttr):.3f} '
      f'{metric.get("ttd")} {true_ttd} {metric.get("ttr")} {true_ttr}')
EOF
}

DELAYS=(2s 3s 5s 8s 4s 6s 10s 2500ms 7s 12s)
RESULTS="$WORK/results"
: > "$RESULTS"
printf '%-4s %-6s %-7s %-9s %9s %9s %9s %9s %8s %8s\n' run seed delay api ttd true_ttd ttr true_ttr ttd_err ttr_err
for ((i = 0; i < RUNS; i++)); do
  seed=$((101 + i))
  delay=${DELAYS[$((i % ${#DELAYS[@]}))]}
  cfg="$WORK/sim-$i.yaml"
  printf 'routing:\n  propagation_delay: %s\n  propagation_jitter: 1s\n' "$delay" > "$cfg"
  sim_port=$(free_port)
  "$GAMEDAY" sim --listen "127.0.0.1:$sim_port" --config "$cfg" --seed "$seed" > "$WORK/sim-$i.log" 2>&1 &
  PIDS+=($!)
  sim_pid=$!
  sim_url="http://127.0.0.1:$sim_port"
  wait_url "$sim_url/sim/truth" 30

  # Through the embedded API.
  read -r ttd_err ttr_err ttd true_ttd ttr true_ttr < <(drill "emb-$i" "$sim_url" "$sim_url")
  printf '%-4s %-6s %-7s %-9s %9.3f %9.3f %9.3f %9.3f %8.3f %8.3f\n' "$i" "$seed" "$delay" embedded "$ttd" "$true_ttd" "$ttr" "$true_ttr" "$ttd_err" "$ttr_err"
  echo "embedded $ttd_err $ttr_err" >> "$RESULTS"

  # Through a real Prometheus scraping a fresh simulator with the same seed
  # and config (the first one's alerts are still settling after its drill).
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  sim_port=$(free_port)
  "$GAMEDAY" sim --listen "127.0.0.1:$sim_port" --config "$cfg" --seed "$seed" > "$WORK/sim-$i-b.log" 2>&1 &
  PIDS+=($!)
  sim_pid=$!
  sim_url="http://127.0.0.1:$sim_port"
  wait_url "$sim_url/sim/truth" 30
  pdir="$WORK/prom-$i"
  mkdir -p "$pdir"
  prom_port=$(free_port)
  cat > "$pdir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/drills/sim/rules.yml
scrape_configs:
  - job_name: sim
    static_configs:
      - targets: ['127.0.0.1:$sim_port']
EOF
  prometheus --config.file="$pdir/prometheus.yml" --storage.tsdb.path="$pdir/data" \
    --web.listen-address="127.0.0.1:$prom_port" --rules.alert.resend-delay=1s --log.level=warn \
    > "$pdir/log" 2>&1 &
  PIDS+=($!)
  prom_pid=$!
  prom_url="http://127.0.0.1:$prom_port"
  wait_url "$prom_url/-/ready" 60
  deadline=$((SECONDS + 30))
  until curl -fsS "$prom_url/api/v1/query?query=up" | grep -q '"1"'; do
    ((SECONDS < deadline)) || { echo "accuracy.sh: Prometheus never scraped the simulator" >&2; exit 1; }
    sleep 0.2
  done
  read -r ttd_err ttr_err ttd true_ttd ttr true_ttr < <(drill "prom-$i" "$sim_url" "$prom_url")
  printf '%-4s %-6s %-7s %-9s %9.3f %9.3f %9.3f %9.3f %8.3f %8.3f\n' "$i" "$seed" "$delay" prometheus "$ttd" "$true_ttd" "$ttr" "$true_ttr" "$ttd_err" "$ttr_err"
  echo "prometheus $ttd_err $ttr_err" >> "$RESULTS"

  kill "$prom_pid" "$sim_pid" 2>/dev/null || true
  wait "$prom_pid" "$sim_pid" 2>/dev/null || true
done

python3 - "$RESULTS" <<'EOF'
import sys, math
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ok = True
for api, target in (("embedded", 1.0), ("prometheus", 2.0)):
    r = [(float(a), float(b)) for k, a, b in rows if k == api]
    ttd = max(x[0] for x in r); ttr = max(x[1] for x in r)
    bad = any(math.isnan(x[0]) or math.isnan(x[1]) for x in r)
    met = not bad and ttd <= target and ttr <= target
    ok = ok and met
    print(f"{api:<10} runs {len(r):>2}  worst TTD error {ttd:.3f} s  worst TTR error {ttr:.3f} s  target <= {target:.0f} s: {'met' if met else 'MISSED'}")
sys.exit(0 if ok else 1)
EOF
