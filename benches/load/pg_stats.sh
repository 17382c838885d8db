# Sourced by run.sh: what one phase cost the PostgreSQL side, per request. With
# GATEHOUSE_LOAD_PG_STATS=1 every PostgreSQL phase also gets a row in a second table at the end
# of the results:
#
#   commits/req | WAL flushes/req | WAL kB/req | backend CPU µs/req | statements/req
#
# - commits: xact_commit of the bench database (pg_stat_database), so a decision batch of 20
#   reviews shows 0.05 and a mutation's transaction plus its share of a seal shows ~1.x.
# - WAL flushes (wal_sync) and WAL bytes come from pg_stat_wal, which is cluster-wide: other
#   databases on the same server (tests) count too, so read them on a quiet server only.
# - backend CPU: utime + stime of the server processes connected to the bench database
#   (pg_stat_activity), sampled before and after; the WAL writer and checkpointer are not in it.
# - statements: sqlx's statement log lines in the gateway's log; only counted when the gateway
#   logs them (run.sh sets RUST_LOG with sqlx::query=debug when GATEHOUSE_LOAD_PG_STATS=1, which
#   costs the gateway some CPU of its own: compare statement counts, not rates, in such runs).

pg_stats_enabled() { [[ ${GATEHOUSE_LOAD_PG_STATS:-0} == 1 && -n ${pg_database:-} ]]; }

pg_stats_query() { psql "$pg_admin" -qAtF' ' -c "$1"; }

pg_backend_ticks() { # -> CPU ticks of the bench database's server processes
  local total=0 pid
  for pid in $(pg_stats_query "select pid from pg_stat_activity where datname = '$pg_database'"); do
    [[ -r /proc/$pid/stat ]] || continue
    total=$((total + $(cpu_ticks "$pid")))
  done
  echo "$total"
}

pg_stats_snapshot() { # -> "commits wal_sync wal_bytes ticks log_lines"
  local db wal lines=0
  pg_stats_query "select pg_stat_clear_snapshot()" >/dev/null
  db=$(pg_stats_query "select xact_commit from pg_stat_database where datname = '$pg_database'")
  wal=$(pg_stats_query "select wal_sync, wal_bytes from pg_stat_wal")
  [[ -f $work/server.log ]] && lines=$(grep -c 'sqlx::query' "$work/server.log" || true)
  echo "$db $wal $(pg_backend_ticks) $lines"
}

pg_stats_begin() {
  pg_stats_enabled || return 0
  pg_stats_before=$(pg_stats_snapshot)
}

pg_stats_end() { # m phase requests
  pg_stats_enabled || return 0
  local after
  after=$(pg_stats_snapshot)
  if [[ ! -s $work/pg_stats ]]; then
    printf '\n| PostgreSQL side | M | phase | commits/req | WAL flushes/req | WAL kB/req | backend CPU µs/req | statements/req |\n' >"$work/pg_stats"
    printf '|---|---:|---|---:|---:|---:|---:|---:|\n' >>"$work/pg_stats"
  fi
  awk -v b="$pg_stats_before" -v a="$after" -v m="$1" -v p="$2" -v n="$3" -v hz="$clk_tck" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    if (n <= 0) n = 1
    statements = y[5] - x[5]
    printf "| postgres | %s | %s | %.3f | %.3f | %.2f | %.0f | %s |\n", m, p,
      (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / 1024 / n, (y[4] - x[4]) * 1e6 / hz / n,
      (statements > 0 ? sprintf("%.2f", statements / n) : "-")
  }' | tee -a "$work/pg_stats" >&2
}

pg_stats_report() { # appends the second table to the results
  [[ -s $work/pg_stats ]] && cat "$work/pg_stats" >>"$results"
  return 0
}

pg_stats_keep_log() { # keeps the gateway's log (with sqlx's statement timings) beside the results
  pg_stats_enabled || return 0
  cp "$work/server.log" "${results%.md}.$pg_database.server.log"
}
