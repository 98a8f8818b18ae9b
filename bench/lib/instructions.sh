# shellcheck shell=bash
# shellcheck disable=SC2086
# The instructions scenario: CPU instructions counted by valgrind's callgrind,
# which gives the same count for the same work however busy the machine is.
# Time-based figures on a shared machine move by ±10 % between runs; a cost
# of 1 % can only be seen this way.
#
# The server runs under callgrind with collection limited to PostgresMain,
# i.e. a client backend's whole life after fork: authentication (the login
# hook), its statements, its exit. Not counted: kernel work (page faults,
# fork), which instructions do not show.
#
#   per statement: marginal instructions of `pgbench -S -M prepared` on one
#                  connection, from two runs of different lengths;
#   per login:     median instructions of a backend's life under
#                  `pgbench -C -S` (connect, one query, exit).
#
# Needs: the other bench/lib files, STAGE, RESULTS, SMOKE, PG_BINDIR.

cg_start() {  # preload, settings...
  cluster_stop
  cluster_configure "$@"
  rm -rf "$STAGE/cg"
  as_pg "mkdir -p '$STAGE/cg' && cd '$STAGE' && nohup valgrind --tool=callgrind \
    --trace-children=yes --collect-atstart=no --toggle-collect=PostgresMain \
    --callgrind-out-file='$STAGE/cg/cg.%p' '$PG_BINDIR/postgres' -D '$STAGE/data' \
    >'$STAGE/valgrind.log' 2>&1 &"
  local i
  for i in $(seq 1 180); do
    "$PG_BINDIR/pg_isready" -q -h "$STAGE" -p "$BENCH_PGPORT" && return 0
    sleep 1
  done
  echo "  FAILED: the server did not start under valgrind" >&2
  tail -20 "$STAGE/valgrind.log" >&2
  return 1
}

cg_stop() {
  cluster_stop
  sleep 2  # callgrind writes its files as the processes exit
}

# Instructions of every backend that ran, one per line.
cg_backends() {
  local f
  for f in "$STAGE"/cg/cg.*; do
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -n 1
  done | awk '$1 > 0'
}

cg_busiest() { cg_backends | sort -n | tail -n 1; }
cg_median() { cg_backends | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

scenario_instructions() {
  if ! command -v valgrind >/dev/null; then
    skip instructions all "valgrind is not installed"
    return 0
  fi
  local short=3000 long=12000 logins=150
  [ "$SMOKE" -eq 1 ] && short=1000 long=3000 logins=10
  echo "== instructions: callgrind, pgbench -S -M prepared ($short and $long statements), pgbench -C -S ($logins logins)"
  local out=$RESULTS/instructions.md config ir_short ir_long per_stmt per_login base_stmt=0 base_login=0
  {
    echo "## instructions"
    echo
    echo "CPU instructions counted by callgrind in client backends (PostgresMain: login, statements, exit), which do not vary with the machine's load. Per statement: marginal over \`pgbench -n -S -M prepared -c 1\` runs of $short and $long statements. Per login: median backend life under \`pgbench -n -C -S -c 1 -t $logins\`. Kernel work (fork, page faults) is not counted."
    echo
    echo "| configuration | instructions per statement | vs none | instructions per login | vs none |"
    echo "|---|---|---|---|---|"
  } >"$out"
  # pg_poolgov+admission: admission control on but never saturated (one
  # client, limit 64): what taking and giving back a slot costs.
  for config in none pg_stat_statements pg_poolgov pg_poolgov+admission; do
    local settings=()
    case $config in
      none) settings=("") ;;
      pg_stat_statements) settings=(pg_stat_statements "pg_stat_statements.track = top") ;;
      pg_poolgov) settings=(pg_poolgov "poolgov.track = top" "poolgov.enforce = on" "poolgov.default_budget = 500") ;;
      pg_poolgov+admission) settings=(pg_poolgov "poolgov.track = top" "poolgov.enforce = on"
        "poolgov.default_budget = 500" "poolgov.max_active_transactions = 64") ;;
    esac
    cg_start "${settings[@]}"
    "$PG_BINDIR/pgbench" -n -S -M prepared -c 1 -t "$short" $(direct_conn) >/dev/null 2>&1
    cg_stop
    ir_short=$(cg_busiest)
    cg_start "${settings[@]}"
    "$PG_BINDIR/pgbench" -n -S -M prepared -c 1 -t "$long" $(direct_conn) >/dev/null 2>&1
    cg_stop
    ir_long=$(cg_busiest)
    per_stmt=$(( (ir_long - ir_short) / (long - short) ))
    cg_start "${settings[@]}"
    rm -f "$STAGE"/cg/cg.*  # only the pgbench backends below
    "$PG_BINDIR/pgbench" -n -C -S -c 1 -t "$logins" $(direct_conn) >/dev/null 2>&1
    cg_stop
    per_login=$(cg_median)
    if [ "$config" = none ]; then base_stmt=$per_stmt base_login=$per_login; fi
    printf '  %-18s %8s instructions per statement, %10s per login\n' "$config" "$per_stmt" "$per_login"
    awk -v c="$config" -v s="$per_stmt" -v l="$per_login" -v bs="$base_stmt" -v bl="$base_login" \
      'BEGIN { printf "| %s | %d | %+.2f %% | %d | %+.2f %% |\n", c, s, 100 * (s - bs) / bs, l, 100 * (l - bl) / bl }' >>"$out"
  done
  echo >>"$out"
}
