#!/usr/bin/env bash
# Review by id and by digest on PostgreSQL at M artifacts, filled by SQL in seconds instead of
# through the API (run.sh's seeding phase), for one or more gateway binaries side by side:
#
#   benches/load/pg_prefilled.sh M BINARY [BINARY...]
#
# One artifact is registered through the API (so its row is what the gateway writes), cloned
# M - 1 times with fresh ids and digests by SQL, and analyzed; then each binary in turn serves the
# same database and wrk runs review.lua by id and by digest (GATEHOUSE_LOAD_SECONDS each, 32
# connections). Prints one line per binary and phase: req/s, p50/p99 ms, gateway CPU µs/req,
# load average. Environment as run.sh (GATEHOUSE_LOAD_PG_URL, _SECONDS, _CONNECTIONS, _THREADS).
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: $0 M BINARY [BINARY...]" >&2; exit 2; }
m=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
pg_admin=${GATEHOUSE_LOAD_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
seconds=${GATEHOUSE_LOAD_SECONDS:-10}
connections=${GATEHOUSE_LOAD_CONNECTIONS:-32}
threads=${GATEHOUSE_LOAD_THREADS:-2}
issuer="https://load.gatehouse.invalid"
clk_tck=$(getconf CLK_TCK)
work=$(mktemp -d -t gatehouse-prefilled.XXXXXX)
database="gh_prefilled_$(date +%s)_$$"
url="${pg_admin%/*}/$database"
server_pid=""

cleanup() {
  [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  psql "$pg_admin" -qAtc "drop database if exists $database with (force)" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

start() { # binary
  cat >"$work/gatehouse.toml" <<EOF
listen = "127.0.0.1:0"
database_url = "$url"
policy_dir = "$repo/policies"
schema_file = "$repo/schemas/gatehouse.cedarschema"

[trust]
verify_on_register = false

[[auth.issuers]]
issuer = "$issuer"
audience = "gatehouse"
algorithms = ["ES256"]
public_key_file = "$repo/fixtures/keys/issuer-es256.pub.pem"
dev_private_key_file = "$repo/fixtures/keys/issuer-es256.key"
EOF
  RUST_LOG=info,sqlx=warn "$1" --config "$work/gatehouse.toml" serve 2>"$work/server.log" &
  server_pid=$!
  local address=""
  for _ in $(seq 600); do
    address=$(sed -n 's/.*gatehouse listening.*address=\([0-9.:]*\).*/\1/p' "$work/server.log" | head -n1)
    [[ -n $address ]] && break
    sleep 0.1
  done
  [[ -n $address ]] || { cat "$work/server.log" >&2; exit 1; }
  base="http://$address"
  token=$("$1" --config "$work/gatehouse.toml" token mint --issuer "$issuer" --sub olivia \
    --project team-a=operator --ttl 86400)
}

stop() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}

psql "$pg_admin" -qAtc "create database $database" >/dev/null
start "$1"
curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  "$base/v1/projects/team-a/artifacts" \
  -d '{"app":"trainer","artifact_kind":"oci","digest":"sha256:ffffffffffffffff000000000000000000000000000000000000000000000000","tag":"v1","source":{"source_type":"oci_registry","uri":"registry.local/gpuaas/apps/trainer"}}' >/dev/null
stop
columns=$(psql "$url" -qAtc "select string_agg(column_name, ', ' order by ordinal_position) from information_schema.columns where table_name = 'artifacts' and column_name not in ('id', 'digest')")
psql "$url" -qc "insert into artifacts (id, digest, $columns)
  select gen_random_uuid(), format('sha256:%s%s', lpad(to_hex(i), 16, '0'), repeat('0', 48)), $columns
  from artifacts, generate_series(0, $m - 2) as i" -c "vacuum analyze artifacts"
psql "$url" -qAtF' ' -c "select id, digest from artifacts" >"$work/targets"
echo "M = $(wc -l <"$work/targets") artifacts; load average $(cut -d' ' -f1-3 /proc/loadavg)"

for binary in "$@"; do
  start "$binary"
  for by in id digest; do
    before=$(cpu_ticks "$server_pid")
    out=$(env GATEHOUSE_LOAD_DIR="$here" GATEHOUSE_LOAD_THREADS="$threads" GATEHOUSE_LOAD_TOKEN="$token" \
      GATEHOUSE_LOAD_TARGETS="$work/targets" GATEHOUSE_LOAD_REVIEW_BY="$by" \
      wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$here/review.lua" "$base/v1/admission/review")
    result=$(grep '^RESULT ' <<<"$out")
    awk -v r="$result" -v b="$binary" -v by="$by" -v ticks=$(($(cpu_ticks "$server_pid") - before)) -v hz="$clk_tck" \
      -v la="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
        n = split(r, kv, " "); for (i = 2; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
        errors = v["status_errors"] + v["socket_errors"] + v["unexpected"]
        printf "%s review by %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.0f CPU µs/req, %d errors, load %s\n",
          b, by, v["requests"] / v["seconds"], v["p50_ms"], v["p99_ms"], ticks * 1e6 / hz / v["requests"], errors, la
      }'
  done
  stop
done
