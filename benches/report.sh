#!/usr/bin/env bash
# Benchmark of report rendering: every format (report.md, report.json,
# report.html, JUnit, four charts and the phase Gantt as SVG and PNG) from a
# journal of 24 hours and 100,000 events grown from a run directory
# (examples/grow_journal.rs replays the canary writes, attempts, guardrail
# and invariant states, lag checks and warnings of the `passed` fixture,
# every kind as the journal wrote it) plus 24 h of its chart data at a 15 s step.
#
#   benches/report.sh                # builds the release binaries first
#   EVENTS=200000 benches/report.sh
#   PROFILE=debug benches/report.sh  # an upper bound without a release build
#   GAMEDAY_BIN=PATH benches/report.sh  # render with that gameday binary (the
#                                       # journal generator is built in debug)
#
# Measured with /usr/bin/time -v on `gameday report RUN_DIR --junit FILE`
# (reading, building, drawing, rasterizing and writing everything). Targets:
# < 1.5 s wall time and < 100 MiB peak RSS; the script fails when either is missed.
set -euo pipefail

cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-100000}"
target="${CARGO_TARGET_DIR:-target}"
PROFILE="${PROFILE:-release}"
if [ -n "${GAMEDAY_BIN:-}" ]; then
  cargo build -j 2 --example grow_journal >&2
  PROFILE=debug
elif [ "$PROFILE" = release ]; then
  cargo build --release -j 2 --bin gameday --example grow_journal >&2
else
  cargo build -j 2 --bin gameday --example grow_journal >&2
fi
target="$target/$PROFILE"


work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$target/examples/grow_journal" tests/fixtures/journals/passed "$work/run" "$EVENTS"
events=$(wc -l < "$work/run/journal.jsonl")
size=$(du -h "$work/run/journal.jsonl" | cut -f1)
echo "journal: $events events, $size; series: $(ls "$work/run/series" | wc -l) files"

/usr/bin/time -v "${GAMEDAY_BIN:-$target/gameday}" report "$work/run" --junit "$work/junit.xml" --format md,html,json \
    >/dev/null 2>"$work/time.txt"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
secs=$(python3 -c "p='$wall'.split(':'); print(sum(float(x)*60**i for i,x in enumerate(reversed(p))))")
rss_mib=$(python3 -c "print(round($rss_kb/1024, 1))")
echo "render all formats: ${secs} s wall, ${rss_mib} MiB peak RSS"
echo "outputs: report.md $(du -h "$work/run/report.md" | cut -f1), report.json $(du -h "$work/run/report.json" | cut -f1), junit $(du -h "$work/junit.xml" | cut -f1), report.html $(du -h "$work/run/report.html" | cut -f1), charts $(du -ch "$work/run/charts/"*.svg | tail -1 | cut -f1) SVG + $(du -ch "$work/run/charts/"*.png | tail -1 | cut -f1) PNG ($(ls "$work/run/charts/"*.png | wc -l) files)"
python3 -c "import sys; sys.exit(0 if $secs < 1.5 and $rss_mib < 100 else 1)" \
    || { echo "FAILED: target is < 1.5 s and < 100 MiB" >&2; exit 1; }
