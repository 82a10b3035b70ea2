#!/usr/bin/env bash
# Benchmark of the canary writer and its verification against `gameday sim`:
# the rate the writer achieves against the rate asked for (every acknowledged
# write is journaled and fsync'd before the next one), and how long
# `canary-verify` takes to read every record back in every region.
#
#   benches/canary.sh                        # builds target/release/gameday first
#   GAMEDAY=path/to/gameday RATES="50 200 500" DURATION=10 benches/canary.sh
#
# The simulator runs without synthetic load (only canary writes); each rate
# runs a two-stream canary (writes_per_key 2, three regions to read back)
# for DURATION seconds, then verifies. Prints one line per rate.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
RATES="${RATES:-20 100 300}"
if [[ -z "${GAMEDAY:-}" ]]; then
    cargo build --release -j 2 >&2
    GAMEDAY="${CARGO_TARGET_DIR:-target}/release/gameday"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:${port}"
cat > "$work/sim.yaml" <<'YAML'
load: { US: 0, EU: 0 }
data: { background_writes_per_second: 0 }
YAML

"$GAMEDAY" sim --listen "127.0.0.1:${port}" --seed 1 --config "$work/sim.yaml" >"$work/sim.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
    if curl -fsS --noproxy '*' "$base/-/ready" >/dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || { cat "$work/sim.log" >&2; exit 1; }
    sleep 0.1
done

cat > "$work/bench.yaml" <<'YAML'
name: canary-bench
unattended: true
vars:
  sim: http://127.0.0.1:9797
  rate: 20/s
  duration: 10s
phases:
  - kind: precheck
    steps:
      - name: canary
        kind: canary
        rate: ${rate}
        writes_per_key: 2
        max_writes: 100000
        http:
          write:
            url: ${sim}/app/{region}/records/{key}
            body: '{"value": {"seq": {seq}}, "jurisdiction": "{jurisdiction}"}'
          read: { url: "${sim}/app/{region}/records/{key}" }
        streams:
          - { name: eu, jurisdiction: EU, write_in: [eu-west-1, eu-central-1] }
          - { name: us, jurisdiction: US, write_in: [us-east-1, eu-central-1], read_in: [us-east-1, eu-west-1, eu-central-1] }
      - name: run
        kind: wait
        duration: ${duration}
  - kind: restore
    steps:
      - name: verify
        kind: canary-verify
        canary: canary
        catch_up: 10s
YAML

printf '%-8s %-10s %-9s %-10s %-8s %s\n' rate achieved acked lost reads verify_s
for rate in $RATES; do
    out="$(GAMEDAY_LOCK_DIR="$work/locks" "$GAMEDAY" run "$work/bench.yaml" --out "$work/runs" --yes --non-interactive -q \
        --var sim="$base" --var rate="${rate}/s" --var duration="${DURATION}s" | tail -n 1)"
    python3 - "$out/journal.jsonl" "$rate" <<'PY'
import json, sys
path, rate = sys.argv[1], sys.argv[2]
for line in open(path):
    e = json.loads(line)
    if e.get("event") == "step_finished" and e.get("step") == "verify":
        ev = e["evidence"]
        w = ev["writer"]
        print(f'{rate + "/s":<8} {w["achieved_per_second"]:<10.1f} {w["acked"]:<9} {ev["counts"]["lost"]:<10.0f} {ev["reads"]:<8} {e["duration_seconds"]:.2f}')
PY
done
