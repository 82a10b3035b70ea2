#!/bin/sh
# The first command a newcomer runs: a clean `cargo build --release`, in a
# fresh target directory (nothing reused), then the binary's size.
#
#   benches/build.sh                # -j 2 (the project's machine kind)
#   JOBS=8 benches/build.sh
#   KEEP=1 benches/build.sh         # keep the target directory (timings report)
#
# Run it on a quiet machine: other builds on the same cores make the time
# meaningless. The load average before and after is printed beside the time.
# Target: at most 9 minutes on 2 cores.
set -eu
cd "$(dirname "$0")/.."
target=$(mktemp -d "${TMPDIR:-/tmp}/gameday-build.XXXXXX")
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$target"; }
trap cleanup EXIT
# Sources must be present so the build measures compiling, not downloading.
cargo fetch --locked >/dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
CARGO_TARGET_DIR="$target" cargo build --release --locked -j "${JOBS:-2}" --timings
end=$(date +%s)
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
secs=$((end - start))
size=$(stat -c %s "$target/release/gameday")
echo "clean release build with -j ${JOBS:-2}: ${secs} s ($((secs / 60)) min $((secs % 60)) s)"
echo "binary: target/release/gameday $size bytes ($((size / 1048576)) MiB)"
echo "timings: $target/cargo-timings/cargo-timing.html${KEEP:+ (kept)}"
