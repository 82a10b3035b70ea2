#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one.
#
# Installs what the tests run for real, only if it is missing:
#   - Debian: prometheus, prometheus-alertmanager, prometheus-pushgateway, postgresql-15, openssl (apt-get update once, first)
#   - PyPI:   moto[server], into a virtual environment under ~/.cache/gameday
# then runs `cargo test` (unit, property, integration and snapshot tests).
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh engine::`).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
for pkg in prometheus prometheus-alertmanager prometheus-pushgateway postgresql-15 openssl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${need[*]} (Debian)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

VENV="${GAMEDAY_VENV:-$HOME/.cache/gameday/venv}"
if [ ! -x "$VENV/bin/moto_server" ]; then
  echo "scripts/test.sh: installing moto[server] into $VENV (PyPI)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'moto[server]'
fi
export GAMEDAY_MOTO="$VENV/bin/moto_server"
export GAMEDAY_PG_BIN="${GAMEDAY_PG_BIN:-/usr/lib/postgresql/15/bin}"

# Two cores: keep test threads modest; the tests start real servers.
# (No doc tests: the crate has none, and an empty pass would end the output.)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked -j 2 --lib --bins --tests "$@" -- --test-threads "${GAMEDAY_TEST_THREADS:-2}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line with the totals of every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
