#!/usr/bin/env bash
# The review's ceiling with no decision log at all, beside the real gateway and cedar-agent in
# one sequence. Not part of CI; see BENCHMARKS.md ("the ceiling without a decision log").
#
# It builds a second gateway from this checkout's HEAD with ceiling/no-decision-log.patch applied
# (SQLite's decision batches are dropped unwritten: an experiment, never a setting of the
# product), then runs run.sh on SQLite, real and patched in turn, each run with cedar-agent.
#
#   benches/load/ceiling.sh
#
# Environment (defaults in brackets):
#   GATEHOUSE_LOAD_BINARY         the real gateway, already built [built from HEAD into the
#                                 ceiling target directory's "real" build]
#   GATEHOUSE_CEILING_TARGET_DIR  where both builds go [$HOME/.cache/gatehouse-ceiling]
#   GATEHOUSE_CEILING_ROUNDS      real/patched pairs to run [2]
#   GATEHOUSE_CEILING_PHASES      run.sh phases [review-id review-digest healthz]
# Each run's table is written where run.sh writes it; this script prints their paths.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${GATEHOUSE_CEILING_TARGET_DIR:-$HOME/.cache/gatehouse-ceiling}
rounds=${GATEHOUSE_CEILING_ROUNDS:-2}
phases=${GATEHOUSE_CEILING_PHASES:-review-id review-digest healthz}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "GATEHOUSE_CEILING_ROUNDS must be a positive whole number" >&2; exit 1; }
# The gateway refuses GATEHOUSE_ variables that are not its configuration: these are this
# script's own, read above, and must not reach it.
unset GATEHOUSE_CEILING_TARGET_DIR GATEHOUSE_CEILING_ROUNDS GATEHOUSE_CEILING_PHASES

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() { # name, patch or "" -> prints the binary's path
  local name=$1 patch=$2
  mkdir -p "$work/$name"
  git -C "$repo" archive HEAD | tar -x -C "$work/$name"
  [[ -z $patch ]] || patch --quiet -d "$work/$name" -p1 <"$patch"
  CARGO_TARGET_DIR=$target/$name cargo build --quiet --release --locked --bin gatehouse \
    --manifest-path "$work/$name/Cargo.toml" >&2
  cp "$target/$name/release/gatehouse" "$work/gatehouse-$name"
  echo "$work/gatehouse-$name"
}

real=${GATEHOUSE_LOAD_BINARY:-}
[[ -n $real ]] || real=$(build real "")
patched=$(build no-decision-log "$here/ceiling/no-decision-log.patch")

for round in $(seq 1 "$rounds"); do
  for side in real patched; do
    binary=$real
    [[ $side == real ]] || binary=$patched
    results="${TMPDIR:-/tmp}/gatehouse-ceiling-$(date -u +%Y%m%dT%H%M%SZ)-$round-$side.md"
    GATEHOUSE_LOAD_BINARY=$binary GATEHOUSE_LOAD_BACKENDS=sqlite GATEHOUSE_LOAD_PHASES=$phases \
      GATEHOUSE_LOAD_CEDAR_AGENT=1 GATEHOUSE_LOAD_RESULTS=$results "$here/run.sh"
    echo "round $round, $side: $results"
  done
done
