#!/usr/bin/env bash
# Sigstore verification cost before and after the move onto `sigstore-verify`, side by side in
# one run: the hand-written verifier of commit 380c58f (`benches/history/verify_before.rs`) and
# the current tree's `benches/verify.rs`, alternately (before, after, before, after, ...) so
# drifting machine load hits both sides alike. Prints one table of criterion medians.
#
#   benches/verify_compare.sh
#
# Environment (all optional):
#   GATEHOUSE_BENCH_BEFORE_TARGET_DIR  cargo target dir for 380c58f
#                                      (default $HOME/.cache/gatehouse-bench-before)
#   GATEHOUSE_BENCH_AFTER_TARGET_DIR   cargo target dir for this tree
#                                      (default $HOME/.cache/gatehouse-bench-after)
#   ROUNDS                             rounds per side, at least 2 (default 2)
#   CRITERION_ARGS                     default "--warm-up-time 1 --measurement-time 3"
#
# Both sides may share one target dir (the built bench executables are run directly, not via
# cargo), but then each run rebuilds the gatehouse crate for both. The old side is always rebuilt
# in part: its worktree is checked out afresh each run.

set -euo pipefail
shopt -s inherit_errexit

readonly BEFORE_COMMIT=380c58f
readonly BENCHES=(keyed_bundle_cold keyless_bundle_cold cached_result)

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
before_target=${GATEHOUSE_BENCH_BEFORE_TARGET_DIR:-$HOME/.cache/gatehouse-bench-before}
after_target=${GATEHOUSE_BENCH_AFTER_TARGET_DIR:-$HOME/.cache/gatehouse-bench-after}
rounds=${ROUNDS:-2}
read -r -a criterion_args <<<"${CRITERION_ARGS:---warm-up-time 1 --measurement-time 3}"

for tool in git cargo jq awk; do
    command -v "$tool" >/dev/null || { echo "verify_compare: needs \`$tool\`" >&2; exit 2; }
done
if ! [[ $rounds =~ ^[0-9]+$ ]] || ((rounds < 2)); then
    echo "verify_compare: ROUNDS must be a whole number of at least 2" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/verify-compare.XXXXXX")
worktree=$work/gatehouse-$BEFORE_COMMIT
cleanup() {
    # Only the worktree this run made, by its own path.
    git -C "$repo" worktree remove --force "$worktree" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== worktree at $BEFORE_COMMIT: $worktree" >&2
git -C "$repo" worktree add --quiet --detach "$worktree" "$BEFORE_COMMIT"
cp "$repo/benches/history/verify_before.rs" "$worktree/benches/verify_before.rs"
printf '\n[[bench]]\nname = "verify_before"\nharness = false\n' >>"$worktree/Cargo.toml"

# Builds bench `$3` of the package in `$1` into target dir `$2`; prints its executable.
build() {
    local dir=$1 target=$2 bench=$3 exe
    echo "== building $bench in $dir (target dir $target)" >&2
    exe=$(cd "$dir" && CARGO_TARGET_DIR=$target cargo bench --locked --bench "$bench" --no-run \
        --message-format=json-render-diagnostics |
        jq -r --arg name "$bench" \
            'select(.reason == "compiler-artifact" and .target.name == $name and .executable != null)
             | .executable' | tail -n 1)
    [[ -x $exe ]] || { echo "verify_compare: no executable for bench \`$bench\`" >&2; exit 1; }
    echo "$exe"
}

before_exe=$(build "$worktree" "$before_target" verify_before)
after_exe=$(build "$repo" "$after_target" verify)

# Runs one side once; appends "side round bench median_ns" lines to $work/medians.
run() {
    local side=$1 round=$2 dir=$3 exe=$4 prefix=$5 home
    home=$work/criterion-$side-$round
    echo "== round $round: $side (load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))" >&2
    (cd "$dir" && CRITERION_HOME=$home "$exe" --bench "${criterion_args[@]}") >"$work/$side-$round.log" 2>&1 ||
        { cat "$work/$side-$round.log" >&2; exit 1; }
    for bench in "${BENCHES[@]}"; do
        printf '%s %s %s %s\n' "$side" "$round" "$bench" \
            "$(jq '.median.point_estimate' "$home/${prefix}_${bench}/new/estimates.json")" >>"$work/medians"
    done
}

load_before=$(uptime)
for ((round = 1; round <= rounds; round++)); do
    run before "$round" "$worktree" "$before_exe" verify_before
    run after "$round" "$repo" "$after_exe" verify
done
load_after=$(uptime)

after_rev=$(git -C "$repo" describe --always --dirty)
echo
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); before: $BEFORE_COMMIT; after: $after_rev; rounds: $rounds;" \
    "criterion: ${criterion_args[*]}"
echo "load at start: ${load_before##*average: }; at end: ${load_after##*average: }"
echo
# Median over rounds of each run's criterion median, per side.
awk -v order="${BENCHES[*]}" '
    function human(ns) {
        if (ns < 1e3) return sprintf("%.3g ns", ns)
        if (ns < 1e6) return sprintf("%.3g µs", ns / 1e3)
        return sprintf("%.3g ms", ns / 1e6)
    }
    function median(list,    v, n, i, j, t) {
        n = split(list, v, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    { runs[$1, $3] = runs[$1, $3] " " $4; shown[$1, $3] = shown[$1, $3] (shown[$1, $3] == "" ? "" : ", ") human($4) }
    END {
        print "| benchmark | before (380c58f) | after | after / before | before, per round | after, per round |"
        print "|---|---:|---:|---:|---|---|"
        n = split(order, names, " ")
        for (i = 1; i <= n; i++) {
            b = median(runs["before", names[i]]); a = median(runs["after", names[i]])
            printf "| `%s` | %s | %s | %.2f× | %s | %s |\n", names[i], human(b), human(a), a / b,
                shown["before", names[i]], shown["after", names[i]]
        }
    }' "$work/medians"
