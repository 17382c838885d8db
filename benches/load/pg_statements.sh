#!/usr/bin/env bash
# What each statement cost the server, from pg_stat_statements (a server with
# shared_preload_libraries = 'pg_stat_statements' and the extension created in its admin database;
# the shared test server has neither, start a private one). Not part of CI.
#
#   benches/load/pg_statements.sh reset  [admin-url]   # before a run
#   benches/load/pg_statements.sh report [admin-url]   # after: calls, rows, mean and total ms,
#                                                      # WAL kB per call, busiest first
#
# admin-url defaults to GATEHOUSE_LOAD_PG_URL, then postgres://postgres@127.0.0.1:5432/postgres.
set -euo pipefail

action=${1:-report}
url=${2:-${GATEHOUSE_LOAD_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}}

case $action in
  reset)
    psql "$url" -qAtc "select pg_stat_statements_reset()" >/dev/null
    ;;
  report)
    psql "$url" -qAt -F ' | ' -c "
      select '| ' || calls, rows, round(mean_exec_time::numeric, 3), round(total_exec_time::numeric, 1),
             round(wal_bytes::numeric / greatest(calls, 1) / 1024, 2),
             left(regexp_replace(query, '\s+', ' ', 'g'), 110) || ' |'
      from pg_stat_statements
      where dbid <> (select oid from pg_database where datname = current_database())
      order by total_exec_time desc limit ${GATEHOUSE_PG_STATEMENTS_TOP:-15}" |
      { printf '| calls | rows | mean ms | total ms | WAL kB/call | statement |\n|---:|---:|---:|---:|---:|---|\n'; cat; }
    ;;
  *)
    echo "usage: $0 reset|report [admin-url]" >&2
    exit 2
    ;;
esac
