#!/usr/bin/env bash
# Record the report fixtures (tests/fixtures/journals/*) from REAL runs of the
# shipped drill against the simulator, so a fixture the loader would reject
# cannot slip in: every journal here was written by `gameday` itself.
#
#   scripts/record-fixtures.sh            # all five, about 3 minutes
#   scripts/record-fixtures.sh passed     # one of: passed failed aborted interrupted crashed conflicts
#
# | fixture     | how it is recorded                                                         |
# |-------------|----------------------------------------------------------------------------|
# | passed      | `gameday demo --scenario clean`                                            |
# | failed      | `gameday demo --scenario slow-reroute` (TTR misses its target; `passed` is its previous run), then a finding and an action item with `gameday note` |
# | aborted     | `gameday run` against `gameday sim` naming a routing control that does not exist: the isolate step fails, the drill aborts and restores |
# | interrupted | `gameday run` against `gameday sim`, SIGINT once the `isolated` marker is journaled: restoration runs, exit 130 |
# | crashed     | `gameday run --no-guard` against `gameday sim` with GAMEDAY_CRASH_AFTER_EVENT: a real SIGKILL mid-observation, no restoration |
# | conflicts   | `gameday demo --scenario clock-skew` (conflicts during restoration; the advice test) |
#
# Each fixture keeps what a report is rebuilt from: journal.jsonl and series/.
# Then review the snapshot changes: `cargo insta test --review` (src/report/snapshots/).
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build -j 2 --bin gameday >&2
case "$target" in /*) ;; *) target="$(pwd)/$target" ;; esac
gd="$target/debug/gameday"
dest="tests/fixtures/journals"
which=("${@:-passed failed aborted interrupted crashed conflicts}")
# shellcheck disable=SC2206
which=(${which[*]})
work="$(mktemp -d)"
sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export GAMEDAY_LOCK_DIR="$work/locks" NO_COLOR=1

# The single run directory under $1.
run_dir() { find "$1" -mindepth 1 -maxdepth 1 -type d ! -name demo-drill | head -1; }

keep() { # keep NAME RUN_DIR
  rm -rf "${dest:?}/$1"
  mkdir -p "$dest/$1"
  cp "$2/journal.jsonl" "$dest/$1/"
  if [ -d "$2/series" ]; then cp -r "$2/series" "$dest/$1/"; fi
  echo "recorded $1: $(wc -l < "$dest/$1/journal.jsonl") events" >&2
}

# A standalone simulator on a free loopback port; sets $sim_url.
start_sim() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$gd" sim --listen "127.0.0.1:$port" >"$work/sim.log" 2>&1 &
  sim_pid=$!
  sim_url="http://127.0.0.1:$port"
  for _ in $(seq 1 200); do
    curl -sf "$sim_url/sim/truth" >/dev/null && return 0
    sleep 0.1
  done
  echo "the simulator did not start: $(cat "$work/sim.log")" >&2
  exit 1
}

# What people add to a run after the drill, with the real `gameday note`.
add_notes() {
  "$gd" note "$1" "Routing back to eu-west-1 was as slow as failing over: propagation delay hits both directions" \
    --finding --by alice@example.com >/dev/null
  "$gd" note "$1" "Alert when a routing change has not propagated within 30 s, and add it to the runbook" \
    --action --owner bob --for M-ttr --by alice@example.com >/dev/null
}

stop_sim() { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; sim_pid=""; }

run_against_sim() { # run_against_sim OUT [extra gameday run args…]
  local out="$1"
  shift
  "$gd" run drills/regional-failover.yaml --env drills/environments/sim.yaml \
    --var "sim_url=$sim_url" --yes --quiet --out "$out" "$@"
}

for name in "${which[@]}"; do
  out="$work/$name"
  case "$name" in
    passed) "$gd" demo --scenario clean --quiet --out "$out" >/dev/null || true ;;
    failed)
      "$gd" demo --scenario slow-reroute --quiet --out "$out" >/dev/null || true
      add_notes "$(run_dir "$out")"
      ;;
    conflicts) "$gd" demo --scenario clock-skew --quiet --out "$out" >/dev/null || true ;;
    aborted)
      start_sim
      run_against_sim "$out" --var "routing_control=arn:aws:route53-recovery-control::000000000000:controlpanel/sim/routingcontrol/no-such-region" >/dev/null || true
      stop_sim
      ;;
    interrupted)
      start_sim
      # gameday itself in the background (not a shell function: its subshell
      # would take the signal), so $! is the runner's pid.
      "$gd" run drills/regional-failover.yaml --env drills/environments/sim.yaml \
        --var "sim_url=$sim_url" --yes --quiet --out "$out" >/dev/null 2>&1 &
      pid=$!
      for _ in $(seq 1 600); do
        d=$(run_dir "$out" 2>/dev/null || true)
        if [ -n "$d" ] && grep -q '"event":"marker","name":"isolated"' "$d/journal.jsonl" 2>/dev/null; then break; fi
        sleep 0.1
      done
      kill -INT "$pid"
      wait "$pid" || true
      stop_sim
      ;;
    crashed)
      start_sim
      GAMEDAY_CRASH_AFTER_EVENT="${CRASH_AFTER:-45}" run_against_sim "$out" --no-guard >/dev/null 2>&1 || true
      stop_sim
      ;;
    *) echo "unknown fixture $name (passed failed aborted interrupted crashed conflicts)" >&2; exit 2 ;;
  esac
  d=$(run_dir "$out")
  [ -n "$d" ] || { echo "no run directory for $name" >&2; exit 1; }
  keep "$name" "$d"
done
