#!/bin/sh
# Clean-build time of the AWS SDK crates gameday uses (and everything they
# pull in), in the dev profile the tests use, in a fresh target directory.
#
#   benches/aws-build.sh            # -j 2, prints the wall time
#   JOBS=8 benches/aws-build.sh
#
# Writes cargo's timing report (cargo-timing.html) to the target directory.
set -eu
cd "$(dirname "$0")/.."
target=$(mktemp -d "${TMPDIR:-/tmp}/gameday-aws-build.XXXXXX")
start=$(date +%s)
CARGO_TARGET_DIR="$target" cargo build -j "${JOBS:-2}" --timings \
  -p aws-config -p aws-sdk-route53 -p aws-sdk-route53recoverycluster \
  -p aws-sdk-globalaccelerator -p aws-sdk-elasticloadbalancingv2 -p aws-sdk-fis \
  -p aws-sdk-rds -p aws-sdk-cloudwatch
end=$(date +%s)
echo "AWS crates, clean dev build with -j ${JOBS:-2}: $((end - start)) s"
echo "timings: $target/cargo-timings/cargo-timing.html"
