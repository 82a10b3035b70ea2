#!/usr/bin/env bash
# Engine benchmark (issue: drill engine). Measures, on a release build:
#   1. `gameday validate` on every shipped drill: median wall time (hyperfine) and peak RSS
#   2. `gameday run drills/examples/hello.yaml --var observe_for=0s`: median wall time and peak RSS
# Targets: validate < 10 ms median and < 15 MiB peak RSS; hello run < 50 ms.
# Needs hyperfine and GNU time (Debian packages `hyperfine`, `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gameday-target}"
cargo build --release --locked -q
G="$CARGO_TARGET_DIR/release/gameday"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GAMEDAY_LOCK_DIR="$tmp/locks" NO_COLOR=1

mapfile -t drills < <(grep -rl --include='*.yaml' '^phases:' drills | sort)
echo "drills: ${#drills[@]}"
peak_rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }

printf '\n%-50s %12s %12s\n' "command" "median ms" "peak RSS KiB"
for d in "${drills[@]}"; do
  # Drills that leave environment-specific vars empty validate with a shipped environment.
  args="$d"
  if ! "$G" validate "$d" >/dev/null 2>&1; then
    for env in drills/environments/*.yaml; do
      if "$G" validate "$d" --env "$env" >/dev/null 2>&1; then args="$d --env $env"; break; fi
    done
  fi
  med=$(hyperfine -N --warmup 3 --runs 30 --export-json "$tmp/h.json" "$G validate $args" >/dev/null 2>&1 &&
        python3 -c "import json;print(round(json.load(open('$tmp/h.json'))['results'][0]['median']*1000,2))")
  # shellcheck disable=SC2086
  rss=$(peak_rss "$G" validate $args 2>/dev/null || true)
  printf '%-50s %12s %12s\n' "validate $d" "$med" "$rss"
done
flag="$tmp/flag"
run="$G run drills/examples/hello.yaml --var observe_for=0s --var flag_file=$flag --out $tmp/reports -q"
med=$(hyperfine -N --warmup 2 --runs 20 --export-json "$tmp/h.json" "$run" >/dev/null 2>&1 &&
      python3 -c "import json;print(round(json.load(open('$tmp/h.json'))['results'][0]['median']*1000,2))")
rss=$(/usr/bin/time -f '%M' $run 2>&1 >/dev/null | tail -1)
printf '%-50s %12s %12s\n' "run hello.yaml observe_for=0s" "$med" "$rss"
