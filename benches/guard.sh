#!/usr/bin/env bash
# Guard benchmark (issue 11): the resident memory and idle CPU of the
# dead-man's switch while it watches a runner.
#   Starts `gameday run drills/examples/hello.yaml` with a long observation
#   window, finds the guard's pid in the journal (`guard_started`), samples
#   its VmRSS and its CPU time (utime + stime from /proc/PID/stat) over
#   SECONDS (default 60), then stops the run with SIGINT (it restores).
# Targets: resident memory < 10 MiB, CPU while idle < 0.1 % of one core.
# Usage: benches/guard.sh [SECONDS]   (release build; see BUILD and GAMEDAY_BIN below)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gameday-target}"
# BUILD=debug measures a debug build (release is the default); GAMEDAY_BIN=PATH
# measures that binary as it is.
if [ -n "${GAMEDAY_BIN:-}" ]; then
  G="$GAMEDAY_BIN"
else
  if [ "${BUILD:-release}" = release ]; then cargo build --release --locked -q; else cargo build --locked -q; fi
  G="$CARGO_TARGET_DIR/${BUILD:-release}/gameday"
fi
tmp=$(mktemp -d)
export GAMEDAY_LOCK_DIR="$tmp/locks" NO_COLOR=1
"$G" run drills/examples/hello.yaml --var observe_for=$((secs + 60))s \
  --var flag_file="$tmp/flag" --out "$tmp/reports" -q --non-interactive >/dev/null 2>&1 &
runner=$!
cleanup() { kill -INT "$runner" 2>/dev/null || true; wait "$runner" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
guard=""
for _ in $(seq 1 200); do
  guard=$(grep -ho '"event":"guard_started","pid":[0-9]*' "$tmp"/reports/*/journal.jsonl 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$guard" ] && break
  sleep 0.05
done
[ -n "$guard" ] || { echo "no guard_started in the journal" >&2; exit 1; }
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$guard/stat"; }
anon() { awk '/^Anonymous:/ { print $2 }' "/proc/$guard/smaps_rollup"; }
# Let it settle past start-up, then measure.
sleep 2
c0=$(cpu); t0=$(date +%s.%N)
max_rss=0
for _ in $(seq 1 "$secs"); do
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$guard/status")
  [ "$rss" -gt "$max_rss" ] && max_rss=$rss
  sleep 1
done
c1=$(cpu); t1=$(date +%s.%N)
an=$(anon)
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$max_rss" "$an" <<'PY'
import sys
c0, c1, t0, t1, ticks, rss, anon = sys.argv[1:]
cpu = (float(c1) - float(c0)) / float(ticks)
wall = float(t1) - float(t0)
print(f"guard over {wall:.0f} s idle: CPU {100 * cpu / wall:.3f} % of one core "
      f"({cpu:.2f} s), peak RSS {int(rss) / 1024:.1f} MiB "
      f"(anonymous {int(anon) / 1024:.1f} MiB; the rest is clean, shared pages of the binary)")
PY
