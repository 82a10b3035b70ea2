#!/usr/bin/env bash
# Journal-to-S3 delay benchmark (issue 11): how long after an event is
# journaled it can be read back from the S3 state.
#   Starts moto's S3 server on loopback, runs `gameday demo --state
#   s3://…` (the shipped regional-failover drill against the in-process
#   simulator), and meanwhile polls the run's journal.jsonl in S3 every
#   POLL_MS (default 50) ms from a separate process (boto3). For every line
#   first seen, delay = time seen - the event's `ts`. Prints count, p50,
#   p99 and max. The poll interval adds up to POLL_MS to each delay.
# Target: p99 <= 2 s.
# Usage: benches/s3state.sh   (needs GAMEDAY_MOTO, as set by scripts/test.sh,
#   or the venv at ~/.cache/gameday/venv; release build; GAMEDAY_BIN=PATH to
#   measure that binary)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gameday-target}"
MOTO="${GAMEDAY_MOTO:-$HOME/.cache/gameday/venv/bin/moto_server}"
PY="$(dirname "$MOTO")/python"
if [ -n "${GAMEDAY_BIN:-}" ]; then
  G="$GAMEDAY_BIN"
else
  if [ "${BUILD:-release}" = release ]; then cargo build --release --locked -q; else cargo build --locked -q; fi
  G="$CARGO_TARGET_DIR/${BUILD:-release}/gameday"
fi
tmp=$(mktemp -d)
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$MOTO" -H 127.0.0.1 -p "$port" >"$tmp/moto.log" 2>&1 &
moto=$!
poller=""
cleanup() { [ -n "$poller" ] && kill "$poller" 2>/dev/null; kill "$moto" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/moto-api/data.json" >/dev/null 2>&1 && break
  sleep 0.1
done
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" \
  GAMEDAY_LOCK_DIR="$tmp/locks" NO_COLOR=1
"$PY" - "$tmp" "${POLL_MS:-50}" <<'PY' &
import boto3, json, os, sys, time, datetime
tmp, poll = sys.argv[1], int(sys.argv[2]) / 1000
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"])
s3.create_bucket(Bucket="gameday-bench")
open(f"{tmp}/ready", "w").close()
seen, delays = 0, []
while True:
    final = os.path.exists(f"{tmp}/stop")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="gameday-bench", Prefix="b/runs/").get("Contents", []) if o["Key"].endswith("/journal.jsonl")]
    if keys:
        body = s3.get_object(Bucket="gameday-bench", Key=keys[0])["Body"].read().decode()
        now = datetime.datetime.now(datetime.timezone.utc)
        lines = [l for l in body.split("\n") if l]
        for l in lines[seen:]:
            ts = datetime.datetime.fromisoformat(json.loads(l)["ts"].replace("Z", "+00:00"))
            delays.append((now - ts).total_seconds())
        seen = max(seen, len(lines))
    if final:
        break
    time.sleep(poll)
with open(f"{tmp}/delays", "w") as f:
    f.write("\n".join(str(d) for d in delays))
PY
poller=$!
while [ ! -e "$tmp/ready" ]; do sleep 0.05; done
"$G" demo --state s3://gameday-bench/b --out "$tmp/reports" -q >/dev/null 2>"$tmp/demo.err" || true
touch "$tmp/stop"; wait "$poller"; poller=""
sort -g "$tmp/delays" | awk '{ d[NR] = $1 } END {
  if (NR == 0) { print "no journal lines seen in S3"; exit 1 }
  i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
  i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
  printf "journal lines: %d\njournal-to-S3 delay p50: %.3f s\njournal-to-S3 delay p99: %.3f s (target <= 2 s)\nmax: %.3f s\n", NR, d[i50], d[i99], d[NR] }'
