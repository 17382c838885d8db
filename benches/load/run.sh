#!/usr/bin/env bash
# The issue-12 load script: the real release binary under wrk, on SQLite and PostgreSQL, beside
# its own /healthz ceiling and cedar-agent. Not part of CI. See BENCHMARKS.md ("Issue 12 — the
# load script") for what each phase measures and how to read it.
#
#   benches/load/run.sh                                        # M = 200, both databases, ~5 min
#   GATEHOUSE_LOAD_ARTIFACTS="200 200000 200" benches/load/run.sh  # flat with scale (opt-in, long;
#                                                     # the repeated 200 brackets 200,000 in time)
#
# Environment (defaults in brackets):
#   GATEHOUSE_LOAD_ARTIFACTS     artifacts seeded before the runs; a list runs each in turn [200]
#   GATEHOUSE_LOAD_BACKENDS      "sqlite", "postgres" or both ["sqlite postgres"]
#   GATEHOUSE_LOAD_SECONDS       seconds per wrk phase [10]
#   GATEHOUSE_LOAD_CONNECTIONS   wrk connections [32]
#   GATEHOUSE_LOAD_THREADS       wrk threads [2]
#   GATEHOUSE_LOAD_RATE          requests/s of the paced review phase (0: skip it) [2000]
#   GATEHOUSE_LOAD_MUTATE_RATE   mutations/s of the paced mutation phase (0: skip it) [1000]
#   GATEHOUSE_LOAD_PACED_SETTLE  seconds the gateway sits idle before the paced review phase, which
#                                is then labelled "after N s idle": lets the server and the kernel
#                                settle after the unpaced phases (0: none; nothing is forced) [0]
#   GATEHOUSE_LOAD_PHASES        the phases run after seeding, any of "review-id review-digest
#                                healthz paced mutate paced-mutate" [all six]
#                                (the two review phases in the order given, the rest in this one)
#   GATEHOUSE_LOAD_PG_URL        PostgreSQL server (a fresh database is created on it and dropped)
#                                [postgres://postgres@127.0.0.1:5432/postgres]
#   GATEHOUSE_LOAD_PG_OPTIONS    server settings for the gateway's PostgreSQL sessions, as libpq's
#                                `options` (URL-encoded), e.g. "-c%20backend_flush_after%3D256kB";
#                                changes nothing on the server itself [unset]
#   GATEHOUSE_LOAD_CEDAR_AGENT   1: build (once, cargo install from crates.io) and run cedar-agent [1]
#   GATEHOUSE_LOAD_CEDAR_AGENT_ROOT   where cargo installs it [$HOME/.cache/cedar-agent]
#   GATEHOUSE_LOAD_PERF          1: one more review-by-id run on SQLite under `perf record -g` [0]
#   GATEHOUSE_LOAD_PG_STATS      1: per PostgreSQL phase, commits, WAL flushes, backend CPU and
#                                statements per request, in a second table (pg_stats.sh) [0]
#   GATEHOUSE_LOAD_CALLGRIND     1: run the gateway under valgrind's callgrind and add, per phase,
#                                the instructions the gateway executed per request (user space,
#                                every thread; immune to a busy machine, ~50x slower) [0]
#   GATEHOUSE_LOAD_CALLGRIND_KEEP  a directory: each phase's callgrind dump is copied there
#                                (callgrind-<database>-<phase>.out) for callgrind_annotate [unset]
#   GATEHOUSE_LOAD_IO            1: add, per phase, the bytes the gateway wrote per request: to
#                                storage (/proc/PID/io write_bytes: the WAL, its checkpoints into
#                                the database file, its index) and through write calls (wchar,
#                                the HTTP answers included) [0]
#   GATEHOUSE_LOAD_BINARY        an already built gatehouse binary (skips the build; lets a
#                                before/after pair run from one script)
#   GATEHOUSE_LOAD_DECISION_CACHE  the gateway's policy_decision_cache_entries (0: every decision
#                                evaluated); unset leaves the key out, so a binary without it runs
#                                [unset: the gateway's default, 10,000]
#   GATEHOUSE_LOAD_SEED_TIMEOUT  seconds seeding may take before the run fails [3600]
#   GATEHOUSE_LOAD_RESULTS       where the results table is written
#                                [${TMPDIR:-/tmp}/gatehouse-load-<time>.md]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

artifact_counts=${GATEHOUSE_LOAD_ARTIFACTS:-200}
backends=${GATEHOUSE_LOAD_BACKENDS:-sqlite postgres}
phase_seconds=${GATEHOUSE_LOAD_SECONDS:-10}
connections=${GATEHOUSE_LOAD_CONNECTIONS:-32}
threads=${GATEHOUSE_LOAD_THREADS:-2}
paced_rate=${GATEHOUSE_LOAD_RATE:-2000}
paced_mutate_rate=${GATEHOUSE_LOAD_MUTATE_RATE:-1000}
paced_settle=${GATEHOUSE_LOAD_PACED_SETTLE:-0}
[[ $paced_settle =~ ^[0-9]+$ ]] || { echo "GATEHOUSE_LOAD_PACED_SETTLE must be a whole number" >&2; exit 1; }
phases=" ${GATEHOUSE_LOAD_PHASES:-review-id review-digest healthz paced mutate paced-mutate} "
pg_admin=${GATEHOUSE_LOAD_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_options=${GATEHOUSE_LOAD_PG_OPTIONS:-}
run_cedar_agent=${GATEHOUSE_LOAD_CEDAR_AGENT:-1}
cedar_agent_root=${GATEHOUSE_LOAD_CEDAR_AGENT_ROOT:-$HOME/.cache/cedar-agent}
run_perf=${GATEHOUSE_LOAD_PERF:-0}
run_callgrind=${GATEHOUSE_LOAD_CALLGRIND:-0}
run_io=${GATEHOUSE_LOAD_IO:-0}
binary=${GATEHOUSE_LOAD_BINARY:-}
seed_timeout=${GATEHOUSE_LOAD_SEED_TIMEOUT:-3600}
decision_cache=${GATEHOUSE_LOAD_DECISION_CACHE:-}
[[ -z $decision_cache || $decision_cache =~ ^[0-9]+$ ]] ||
  { echo "GATEHOUSE_LOAD_DECISION_CACHE must be a whole number" >&2; exit 1; }
results=${GATEHOUSE_LOAD_RESULTS:-${TMPDIR:-/tmp}/gatehouse-load-$(date -u +%Y%m%dT%H%M%SZ).md}

# The test issuer of fixtures/keys: public, committed, for tests and benchmarks only.
issuer="https://load.gatehouse.invalid"
clk_tck=$(getconf CLK_TCK)

work=$(mktemp -d -t gatehouse-load.XXXXXX)
server_pid=""
agent_pid=""
pg_database=""

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

stop_process() { # pid: TERM, then wait for it (a gateway finishes in-flight requests first)
  local pid=$1
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

drop_pg_database() {
  [[ -n $pg_database ]] || return 0
  psql "$pg_admin" -qAtc "drop database if exists $pg_database with (force)" >/dev/null
  pg_database=""
}

cleanup() {
  local rc=$?
  stop_process "$server_pid"
  stop_process "$agent_pid"
  drop_pg_database || true
  if [[ $rc -ne 0 && -f $work/server.log ]]; then
    echo "--- last lines of the gateway log:" >&2
    tail -n 20 "$work/server.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools and binaries -------------------------------------------------------------------------

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

need_command() { # command, apt package
  command -v "$1" >/dev/null && return 0
  say "installing $2 (apt-get)"
  as_root apt-get update -qq >&2
  as_root apt-get install -y "$2" >&2
}

need_command wrk wrk
need_command psql postgresql-client
need_command curl curl

if [[ -z $binary ]]; then
  say "building the release binary"
  (cd "$repo" && cargo build --release --bin gatehouse >&2)
  binary=${CARGO_TARGET_DIR:-$repo/target}/release/gatehouse
fi
[[ -x $binary ]] || die "no gatehouse binary at $binary"

cedar_agent=$cedar_agent_root/bin/cedar-agent
if [[ $run_cedar_agent == 1 && ! -x $cedar_agent ]]; then
  say "installing cedar-agent from crates.io into $cedar_agent_root (once)"
  # Its own target dir: its dependency tree has nothing to share with ours.
  CARGO_TARGET_DIR=$cedar_agent_root/target cargo install --locked cedar-agent --root "$cedar_agent_root" >&2 ||
    CARGO_TARGET_DIR=$cedar_agent_root/target cargo install cedar-agent --root "$cedar_agent_root" >&2 ||
    die "cargo install cedar-agent failed (GATEHOUSE_LOAD_CEDAR_AGENT=0 skips it)"
fi

# --- measuring ----------------------------------------------------------------------------------

cpu_ticks() { # pid -> utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat)
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

sys_ticks() { # pid -> stime alone: the kernel's share of the process's CPU
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $13 }'
}

context_switches() { # pid -> voluntary + involuntary context switches of all its threads so far
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# Kernel ticks and context switches when the phase being measured started (see phase_start).
sys_before=0
switches_before=0

phase_start() { # pid: sets ticks_before (the caller's local), sys_before and switches_before
  ticks_before=$(cpu_ticks "$1")
  sys_before=$(sys_ticks "$1")
  switches_before=$(context_switches "$1")
}

load_average() { cut -d' ' -f1 /proc/loadavg; }

# The kernel's write-back settings: PostgreSQL's paced tail right after unpaced load depends on
# them (README, "PostgreSQL under bursts of writes"), so every result names them.
host_writeback() {
  local key out=""
  for key in dirty_background_bytes dirty_background_ratio dirty_expire_centisecs; do
    out+="vm.$key=$(cat "/proc/sys/vm/$key" 2>/dev/null || echo '?') "
  done
  printf '%s' "${out% }"
}

# shellcheck source=pg_stats.sh
source "$here/pg_stats.sh"

printf '| target | database | M | phase | requests | req/s | p50 ms | p90 ms | p99 ms | errors | CPU µs/req | sys %% | switches/req | load avg |\n' >"$results"
printf '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n' >>"$results"

field() { # RESULT line, key -> value
  sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1"
}

# Appends one row to the results: target, database, M, phase, pid, ticks before, RESULT line,
# and optionally the wall time to divide by instead of wrk's duration (the seeding phase).
record_row() {
  local target=$1 database=$2 m=$3 phase=$4 pid=$5 ticks_before=$6 result=$7 wall=${8:-}
  local ticks_after sys_after switches_after requests seconds errors
  ticks_after=$(cpu_ticks "$pid")
  sys_after=$(sys_ticks "$pid")
  switches_after=$(context_switches "$pid")
  requests=$(field "$result" requests)
  seconds=${wall:-$(field "$result" seconds)}
  errors=$(($(field "$result" status_errors) + $(field "$result" socket_errors) + $(field "$result" unexpected)))
  awk -v t="$target" -v d="$database" -v m="$m" -v p="$phase" -v n="$requests" -v s="$seconds" \
    -v p50="$(field "$result" p50_ms)" -v p90="$(field "$result" p90_ms)" -v p99="$(field "$result" p99_ms)" \
    -v e="$errors" -v ticks=$((ticks_after - ticks_before)) -v hz="$clk_tck" -v la="$(load_average)" \
    -v sys=$((sys_after - sys_before)) -v sw=$((switches_after - switches_before)) \
    'BEGIN { printf "| %s | %s | %s | %s | %d | %.0f | %.2f | %.2f | %.2f | %d | %.0f | %.0f | %.1f | %s |\n",
             t, d, m, p, n, n / s, p50, p90, p99, e, (n > 0 ? ticks * 1e6 / hz / n : 0),
             (ticks > 0 ? 100 * sys / ticks : 0), (n > 0 ? sw / n : 0), la }' |
    tee -a "$results" >&2
}

# Runs wrk for phase_seconds against base+path with a script; prints its RESULT line.
run_wrk() { # base path script [ENV=VALUE...]
  local base=$1 path=$2 script=$3
  shift 3
  local out
  out=$(env GATEHOUSE_LOAD_DIR="$here" GATEHOUSE_LOAD_THREADS="$threads" "$@" \
    wrk -t"$threads" -c"$connections" -d"${phase_seconds}s" --latency -s "$here/$script" "$base$path")
  printf '%s\n' "$out" >&2
  grep '^RESULT ' <<<"$out" || die "wrk printed no RESULT line"
}

# --- the gateway --------------------------------------------------------------------------------

start_gateway() { # database_url -> sets server_pid, base, token
  local database_url=$1
  cat >"$work/gatehouse.toml" <<EOF
listen = "127.0.0.1:0"
database_url = "$database_url"
dev_mode = true   # the issuer below has a dev key so "token mint" can sign
policy_dir = "$repo/policies"
schema_file = "$repo/schemas/gatehouse.cedarschema"
${decision_cache:+policy_decision_cache_entries = $decision_cache}

[trust]
verify_on_register = false   # no background verification: the phases measure the request path

[[auth.issuers]]
issuer = "$issuer"
audience = "gatehouse"
algorithms = ["ES256"]
public_key_file = "$repo/fixtures/keys/issuer-es256.pub.pem"
dev_private_key_file = "$repo/fixtures/keys/issuer-es256.key"
EOF
  local log_filter=info,sqlx=warn
  # pg_stats.sh counts statements from sqlx's log lines.
  [[ ${GATEHOUSE_LOAD_PG_STATS:-0} == 1 ]] && log_filter=info,sqlx=warn,sqlx::query=debug
  local -a launch=("$binary")
  if [[ $run_callgrind == 1 ]]; then
    need_command valgrind valgrind
    # Nothing is counted until a phase turns instrumentation on (callgrind_begin).
    launch=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" "$binary")
  fi
  RUST_LOG=${RUST_LOG:-$log_filter} "${launch[@]}" --config "$work/gatehouse.toml" serve 2>"$work/server.log" &
  server_pid=$!
  local address="" start_wait=60
  [[ $run_callgrind == 1 ]] && start_wait=600
  for _ in $(seq $((start_wait * 10))); do
    kill -0 "$server_pid" 2>/dev/null || die "the gateway exited during start-up"
    address=$(sed -n 's/.*gatehouse listening.*address=\([0-9.:]*\).*/\1/p' "$work/server.log" | head -n1)
    [[ -n $address ]] && break
    sleep 0.1
  done
  [[ -n $address ]] || die "the gateway did not start within ${start_wait} s"
  base="http://$address"
  token=$("$binary" --config "$work/gatehouse.toml" token mint --issuer "$issuer" --sub olivia \
    --project team-a=operator --ttl 86400)
  curl -fsS "$base/healthz" >/dev/null || die "GET /healthz failed"
}

stop_gateway() {
  stop_process "$server_pid"
  server_pid=""
  pg_stats_keep_log
}

# Registers m artifacts through the API with seed.lua; writes $work/targets ("<id> <digest>").
seed() { # database m
  local database=$1 m=$2 ticks_before started wrk_pid result
  say "$database: registering $m artifacts through the API"
  rm -f "$work"/targets*
  pg_stats_begin
  phase_start "$server_pid"
  started=$(date +%s.%N)
  # wrk stops only at -d: give it a day (24h) and interrupt it once every thread wrote its marker.
  env GATEHOUSE_LOAD_DIR="$here" GATEHOUSE_LOAD_THREADS="$threads" GATEHOUSE_LOAD_TOKEN="$token" \
    GATEHOUSE_LOAD_ARTIFACTS="$m" GATEHOUSE_LOAD_TARGETS="$work/targets" \
    wrk -t"$threads" -c"$connections" -d24h --latency -s "$here/seed.lua" "$base/" >"$work/seed.out" &
  wrk_pid=$!
  local deadline=$(($(date +%s) + seed_timeout))
  while [[ $(find "$work" -maxdepth 1 -name 'targets.*.done' | wc -l) -lt $threads ]]; do
    kill -0 "$wrk_pid" 2>/dev/null || die "wrk exited before seeding finished: $(cat "$work/seed.out")"
    if [[ $(date +%s) -gt $deadline ]]; then
      kill -INT "$wrk_pid" 2>/dev/null || true
      die "seeding $m artifacts took more than $seed_timeout s (GATEHOUSE_LOAD_SEED_TIMEOUT)"
    fi
    sleep 0.2
  done
  local wall
  wall=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
  kill -INT "$wrk_pid"
  wait "$wrk_pid" || true
  cat "$work/seed.out" >&2
  result=$(grep '^RESULT ' "$work/seed.out") || die "wrk printed no RESULT line while seeding"
  for t in $(seq 0 $((threads - 1))); do cat "$work/targets.$t"; done >"$work/targets"
  local registered
  registered=$(wc -l <"$work/targets")
  [[ $registered -eq $m && $(field "$result" unexpected) -eq 0 ]] ||
    die "seeding registered $registered of $m artifacts ($(grep -m1 '^first unexpected' "$work/seed.out" || true))"
  # The RESULT line counts the /healthz fillers too: the row reports the registrations.
  result=$(sed "s/requests=[0-9]*/requests=$m/" <<<"$result")
  record_row gateway "$database" "$m" "register (seeding, ${wall} s)" "$server_pid" "$ticks_before" "$result" "$wall"
  pg_stats_end "$m" "register (seeding)" "$m"
}

# With GATEHOUSE_LOAD_CALLGRIND=1: counters zeroed and collection on for the phase only.
callgrind_begin() {
  [[ $run_callgrind == 1 ]] || return 0
  callgrind_control -z "$server_pid" >/dev/null
  callgrind_control -i on "$server_pid" >/dev/null
}

callgrind_end() { # database m phase requests: the phase's instructions per request, as a line
  [[ $run_callgrind == 1 ]] || return 0
  local database=$1 m=$2 phase=$3 requests=$4 dump
  callgrind_control -i off "$server_pid" >/dev/null
  callgrind_control -d "$server_pid" >/dev/null
  dump=$(ls -t "$work"/callgrind.out* | head -n1)
  awk -v d="$database" -v m="$m" -v p="$phase" -v n="$requests" \
    '/^(summary|totals):/ { ir = $2 } END { printf "callgrind: %s, M = %s, %s: %d requests, %.0f instructions per request\n", d, m, p, n, (n > 0 ? ir / n : 0) }' \
    "$dump" | tee -a "$results" >&2
  if [[ -n ${GATEHOUSE_LOAD_CALLGRIND_KEEP:-} ]]; then
    mkdir -p "$GATEHOUSE_LOAD_CALLGRIND_KEEP"
    cp "$dump" "$GATEHOUSE_LOAD_CALLGRIND_KEEP/callgrind-$database-${phase//[^A-Za-z0-9]/-}.out"
  fi
}

io_field() { # pid key -> that counter of /proc/PID/io
  awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/io"
}

# With GATEHOUSE_LOAD_IO=1: the phase's bytes written per request, as a line.
io_before_storage=0
io_before_calls=0
io_begin() { # pid
  [[ $run_io == 1 ]] || return 0
  io_before_storage=$(io_field "$1" write_bytes)
  io_before_calls=$(io_field "$1" wchar)
}

io_end() { # database m phase requests pid
  [[ $run_io == 1 ]] || return 0
  local database=$1 m=$2 phase=$3 requests=$4 pid=$5
  awk -v d="$database" -v m="$m" -v p="$phase" -v n="$requests" \
    -v storage=$(($(io_field "$pid" write_bytes) - io_before_storage)) \
    -v calls=$(($(io_field "$pid" wchar) - io_before_calls)) \
    'BEGIN { printf "io: %s, M = %s, %s: %d requests, %.0f bytes to storage and %.0f through write calls per request\n", d, m, p, n, (n > 0 ? storage / n : 0), (n > 0 ? calls / n : 0) }' |
    tee -a "$results" >&2
}

# The gateway's verdict-cache hits and misses so far (its /metrics), as "hits misses".
cache_counts() {
  curl -fsS "$base/metrics" 2>/dev/null |
    awk '/^gatehouse_policy_decision_cache_total[{]result="hit"[}]/ { h = $2 }
         /^gatehouse_policy_decision_cache_total[{]result="miss"[}]/ { m = $2 }
         END { printf "%d %d\n", h, m }'
}

cache_line() { # database m phase "hits misses" before, the same after
  local database=$1 m=$2 phase=$3
  read -r hits_before misses_before <<<"$4"
  read -r hits_after misses_after <<<"$5"
  printf 'verdict cache: %s, M = %s, %s: %d hits, %d misses\n' "$database" "$m" "$phase" \
    $((hits_after - hits_before)) $((misses_after - misses_before)) | tee -a "$results" >&2
}

# One wrk phase against the gateway, recorded as a row, with its verdict-cache hits and misses.
gateway_phase() { # database m phase path script [ENV=VALUE...]
  local database=$1 m=$2 phase=$3 path=$4 script=$5
  shift 5
  say "$database, M = $m: $phase"
  local ticks_before result cache_before
  cache_before=$(cache_counts)
  pg_stats_begin
  callgrind_begin
  io_begin "$server_pid"
  phase_start "$server_pid"
  result=$(run_wrk "$base" "$path" "$script" GATEHOUSE_LOAD_TOKEN="$token" GATEHOUSE_LOAD_TARGETS="$work/targets" "$@")
  record_row gateway "$database" "$m" "$phase" "$server_pid" "$ticks_before" "$result"
  cache_line "$database" "$m" "$phase" "$cache_before" "$(cache_counts)"
  io_end "$database" "$m" "$phase" "$(field "$result" requests)" "$server_pid"
  callgrind_end "$database" "$m" "$phase" "$(field "$result" requests)"
  pg_stats_end "$m" "$phase" "$(field "$result" requests)"
}

profile_reviews() { # database m: one more review-by-id run under perf; top 15 symbols by self %
  local database=$1 m=$2
  say "$database, M = $m: review by id under perf record -g"
  need_command perf linux-perf
  perf record -g -o "$work/perf.data" -p "$server_pid" -- sleep "$phase_seconds" 2>"$work/perf.log" &
  local perf_pid=$!
  run_wrk "$base" /v1/admission/review review.lua GATEHOUSE_LOAD_TOKEN="$token" \
    GATEHOUSE_LOAD_TARGETS="$work/targets" >/dev/null
  wait "$perf_pid"
  {
    printf '\nperf: %s, M = %s, review by id (perf record -g -p <gateway>, %s s), top 15 by self %%\n\n```\n' \
      "$database" "$m" "$phase_seconds"
    # awk, not head: head closing the pipe early would fail the run under pipefail.
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
      awk '/^ +[0-9.]+%/ && shown < 15 { sub(/[ -]+$/, ""); print; shown++ }'
    printf '```\n'
  } | tee -a "$results" >&2
}

wanted() { [[ $phases == *" $1 "* ]]; } # phase: is it in GATEHOUSE_LOAD_PHASES?

run_backend() { # database m
  local database=$1 m=$2 url phase
  case $database in
    sqlite) url="sqlite://$work/gatehouse.db" ;;
    postgres)
      pg_database="gh_load_$(date +%s)_$$"
      psql "$pg_admin" -qAtc "create database $pg_database" >/dev/null
      url="${pg_admin%/*}/$pg_database${pg_options:+?options=$pg_options}"
      ;;
    *) die "unknown database \`$database\` in GATEHOUSE_LOAD_BACKENDS" ;;
  esac
  rm -f "$work"/gatehouse.db*
  say "$database, M = $m: starting the gateway"
  start_gateway "$url"
  seed "$database" "$m"
  # The two review phases run in the order GATEHOUSE_LOAD_PHASES names them (the second one
  # meets a decision log grown by the first); the other phases keep their fixed order.
  for phase in $phases; do
    case $phase in
      review-id)
        gateway_phase "$database" "$m" "review by id" /v1/admission/review review.lua GATEHOUSE_LOAD_REVIEW_BY=id ;;
      review-digest)
        gateway_phase "$database" "$m" "review by digest" /v1/admission/review review.lua GATEHOUSE_LOAD_REVIEW_BY=digest ;;
    esac
  done
  if wanted healthz; then
    gateway_phase "$database" "$m" "GET /healthz" /healthz healthz.lua
  fi
  if [[ $paced_rate -gt 0 ]] && wanted paced; then
    local paced_label="review by id, paced at $paced_rate/s"
    if [[ $paced_settle -gt 0 ]]; then
      say "$database, M = $m: idle for $paced_settle s before the paced phase"
      sleep "$paced_settle"
      paced_label+=", after $paced_settle s idle"
    fi
    gateway_phase "$database" "$m" "$paced_label" /v1/admission/review review.lua \
      GATEHOUSE_LOAD_REVIEW_BY=id GATEHOUSE_LOAD_RATE="$paced_rate"
  fi
  if wanted mutate; then
    gateway_phase "$database" "$m" "register + verify + promote" /v1/projects/team-a/artifacts mutate.lua
  fi
  if [[ $paced_mutate_rate -gt 0 ]] && wanted paced-mutate; then
    gateway_phase "$database" "$m" "register + verify + promote, paced at $paced_mutate_rate/s" \
      /v1/projects/team-a/artifacts mutate.lua GATEHOUSE_LOAD_RATE="$paced_mutate_rate"
  fi
  if [[ $run_perf == 1 && $database == sqlite ]]; then
    profile_reviews "$database" "$m"
  fi
  stop_gateway
  [[ $database == postgres ]] && drop_pg_database
  return 0
}

# --- cedar-agent --------------------------------------------------------------------------------

# 2,000 entities: olivia, her role, two projects and 1,996 artifacts of team-a (every other one
# verified), and the policy the shipped set applies to deploy: a team-a operator may deploy a
# team-a artifact, and nothing unverified reaches prod.
agent_artifacts=1996

write_agent_inputs() {
  awk -v n="$agent_artifacts" 'BEGIN {
    printf "[{\"uid\":{\"type\":\"User\",\"id\":\"olivia\"},\"attrs\":{},\"parents\":[{\"type\":\"Role\",\"id\":\"team-a-operator\"}]}"
    printf ",{\"uid\":{\"type\":\"Role\",\"id\":\"team-a-operator\"},\"attrs\":{},\"parents\":[]}"
    printf ",{\"uid\":{\"type\":\"Project\",\"id\":\"team-a\"},\"attrs\":{},\"parents\":[]}"
    printf ",{\"uid\":{\"type\":\"Project\",\"id\":\"team-b\"},\"attrs\":{},\"parents\":[]}"
    for (i = 0; i < n; i++)
      printf ",{\"uid\":{\"type\":\"Artifact\",\"id\":\"a%d\"},\"attrs\":{\"verified\":%s},\"parents\":[{\"type\":\"Project\",\"id\":\"team-a\"}]}", i, (i % 2 ? "true" : "false")
    print "]"
  }' >"$work/agent-data.json"
  cat >"$work/agent-policies.json" <<'EOF'
[
  {"id": "role-operator-deploy", "content": "permit (principal in Role::\"team-a-operator\", action == Action::\"deploy\", resource in Project::\"team-a\");"},
  {"id": "prod-needs-verified", "content": "forbid (principal, action == Action::\"deploy\", resource) when { context.channel == \"prod\" && !resource.verified };"}
]
EOF
}

run_cedar_agent_phase() {
  say "cedar-agent: $agent_artifacts artifacts (2,000 entities)"
  write_agent_inputs
  local port
  port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 20000) }')
  "$cedar_agent" --addr 127.0.0.1 --port "$port" --log-level error \
    --data "$work/agent-data.json" --policies "$work/agent-policies.json" >"$work/agent.log" 2>&1 &
  agent_pid=$!
  local agent_base="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    curl -fsS "$agent_base/v1/policies" >/dev/null 2>&1 && break
    kill -0 "$agent_pid" 2>/dev/null || die "cedar-agent exited: $(cat "$work/agent.log")"
    sleep 0.1
  done
  local count answer
  count=$(curl -fsS "$agent_base/v1/data" | grep -o '"uid"' | wc -l)
  [[ $count -eq 2000 ]] || die "cedar-agent holds $count entities, expected 2000"
  answer=$(curl -fsS -H 'Content-Type: application/json' "$agent_base/v1/is_authorized" \
    -d '{"principal":"User::\"olivia\"","action":"Action::\"deploy\"","resource":"Artifact::\"a0\"","context":{"channel":"prod"}}')
  grep -q '"Deny"' <<<"$answer" || die "cedar-agent should deny prod for an unverified artifact: $answer"
  answer=$(curl -fsS -H 'Content-Type: application/json' "$agent_base/v1/is_authorized" \
    -d '{"principal":"User::\"olivia\"","action":"Action::\"deploy\"","resource":"Artifact::\"a0\"","context":{"channel":"dev"}}')
  grep -q '"Allow"' <<<"$answer" || die "cedar-agent should allow dev: $answer"
  local ticks_before result
  phase_start "$agent_pid"
  result=$(run_wrk "$agent_base" /v1/is_authorized cedar_agent.lua GATEHOUSE_LOAD_AGENT_ARTIFACTS="$agent_artifacts")
  record_row cedar-agent "in memory" 2000 "is_authorized" "$agent_pid" "$ticks_before" "$result"
  stop_process "$agent_pid"
  agent_pid=""
}

# --- the run ------------------------------------------------------------------------------------

say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; host write-back: $(host_writeback); results in $results"
if [[ $run_cedar_agent == 1 ]]; then
  run_cedar_agent_phase
fi
for m in $artifact_counts; do
  for database in $backends; do
    run_backend "$database" "$m"
  done
done

# Flat with scale: review throughput at the largest M over the smallest, per database and review
# phase. An M listed more than once (e.g. "200 200000 200", which brackets the large run in time
# on a noisy machine) counts as the mean of its runs.
set -- $artifact_counts
if [[ $# -gt 1 ]]; then
  awk -F'|' '
    $2 ~ /^ gateway $/ && $5 ~ /^ review by (id|digest) $/ {
      db = $3; m = $4; phase = $5
      gsub(/ /, "", db); gsub(/ /, "", m); sub(/^ /, "", phase); sub(/ $/, "", phase)
      sum[db "/" m "/" phase] += $7; runs[db "/" m "/" phase]++
      dbs[db] = 1; phases[phase] = 1
      if (small == "" || m + 0 < small + 0) small = m
      if (large == "" || m + 0 > large + 0) large = m
    }
    END {
      if (small == large) exit
      for (d in dbs) for (p in phases) {
        s = d "/" small "/" p; l = d "/" large "/" p
        if (runs[s] > 0 && runs[l] > 0)
          printf "\nflat with scale, %s, %s: M = %s is %.2fx of M = %s (%d and %d runs)\n", d, p, large, (sum[l] / runs[l]) / (sum[s] / runs[s]), small, runs[l], runs[s]
      }
    }' "$results" | tee -a "$results" >&2
fi

pg_stats_report
printf '\nload average at end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results"
printf 'host write-back: %s\n' "$(host_writeback)" >>"$results"
cat "$results"
