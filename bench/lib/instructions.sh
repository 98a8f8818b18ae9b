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

# Instructions of every backend that ran, one per line: count, file.
cg_backends() {
  local f n
  for f in "$STAGE"/cg/cg.*; do
    n=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -n 1)
    [ "${n:-0}" -gt 0 ] && printf '%s %s\n' "$n" "$f"
  done
  return 0
}

# The backend that ran the statements (the most calls to PortalRun; pgbench's
# first connection, which counts pgbench_branches, can cost more in a short
# run): its profile is kept as $1.
cg_keep_client() {  # destination file; prints its instruction count
  local runs n f
  read -r runs n f <<<"$(python3 "$BENCH_LIB/attribute.py" --statements "$STAGE"/cg/cg.* | sort -n | tail -n 1)"
  cp "$f" "$1"
  echo "$n"
}

# The backends of a `pgbench -C` run that ran a statement (pg_isready's do
# not): the median one is kept as $1, the base of the configurations with a
# library.
cg_keep_login() {  # destination file; prints its instruction count
  local n f
  read -r n f <<<"$(python3 "$BENCH_LIB/attribute.py" --statements "$STAGE"/cg/cg.* |
    awk -F'\t' '$1 >= 1 {print $2, $3}' | sort -n | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')"
  cp "$f" "$1"
  echo "$n"
}

# Attributable instructions of the login backends, median.
cg_login_attributable() {  # base profile (no library)
  local files
  files=$(python3 "$BENCH_LIB/attribute.py" --statements "$STAGE"/cg/cg.* | awk -F'\t' '$1 >= 1 {print $3}')
  # shellcheck disable=SC2086  # one file name per word
  python3 "$BENCH_LIB/attribute.py" --library "$LIBRARY" --logins "$1" $files | cut -f1 | median
}

cg_busiest() { cg_backends | cut -d' ' -f1 | sort -n | tail -n 1; }
cg_median() { cg_backends | cut -d' ' -f1 | median; }

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# Limits on the attributable instructions per statement (bench/limits).
limit_of() {  # configuration
  awk -v c="$1" '$1 == c {print $2}' "$BENCH_DIR/limits"
}

scenario_instructions() {
  if ! command -v valgrind >/dev/null; then
    skip instructions all "valgrind is not installed"
    return 0
  fi
  local short=3000 long=12000 logins=150
  [ "$SMOKE" -eq 1 ] && short=200 long=600 logins=5
  echo "== instructions: callgrind, pgbench -S -M prepared ($short and $long statements), pgbench -C -S ($logins logins)"
  local out=$RESULTS/instructions.md config ir_short ir_long per_stmt per_login base_stmt=0 base_login=0
  local attr_stmt attr_login limit started=$SECONDS
  local keep=$RESULTS/raw/callgrind
  mkdir -p "$keep"
  {
    echo "## instructions"
    echo
    echo "CPU instructions counted by callgrind in client backends (PostgresMain: login, statements, exit), which do not vary with the machine's load. Per statement: marginal over \`pgbench -n -S -M prepared -c 1\` runs of $short and $long statements. Per login: the median backend life under \`pgbench -n -C -S -c 1 -t $logins\`. Kernel work (fork, page faults) is not counted."
    echo
    echo "*Whole backend* is the marginal of everything the backend ran: it moves by a few hundred instructions per statement between runs of the same build (the socket-wait path), and loading any library shifts glibc. *Attributable* is, from the same profiles, what pg_poolgov's own functions cost plus the PostgreSQL work they cause (bench/lib/attribute.py: calls into pg_poolgov.so, minus the standard executor and utility functions and previous hooks they chain to, plus the object-access and transaction-callback dispatch): the same from run to run of one build. Limits on it: bench/limits."
    echo
    echo "| configuration | whole backend per statement | vs none | attributable per statement | limit | whole backend per login | vs none | attributable per login |"
    echo "|---|---|---|---|---|---|---|---|"
  } >"$out"
  # pg_poolgov+admission: admission control on but never saturated (one
  # client, limit 64): what taking and giving back a slot costs.
  # INSTRUCTIONS_CONFIGS picks configurations (none always runs: it is the
  # base of the dispatch and of the "vs none" columns).
  local configs="none pg_stat_statements pg_poolgov pg_poolgov+admission"
  [ -n "${INSTRUCTIONS_CONFIGS:-}" ] && configs="none ${INSTRUCTIONS_CONFIGS//none/}"
  for config in $configs; do
    local settings=()
    LIBRARY=${config%%+*}.so
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
    ir_short=$(cg_keep_client "$keep/$config.short")
    cg_start "${settings[@]}"
    "$PG_BINDIR/pgbench" -n -S -M prepared -c 1 -t "$long" $(direct_conn) >/dev/null 2>&1
    cg_stop
    ir_long=$(cg_keep_client "$keep/$config.long")
    per_stmt=$(( (ir_long - ir_short) / (long - short) ))
    python3 "$BENCH_LIB/attribute.py" --library "$LIBRARY" --top 25 \
      --marginal "$keep/$config.short" "$keep/$config.long" $((long - short)) \
      "$keep/none.short" "$keep/none.long" >"$RESULTS/raw/attributable.$config.txt"
    attr_stmt=$(head -n 1 "$RESULTS/raw/attributable.$config.txt")
    cg_start "${settings[@]}"
    rm -f "$STAGE"/cg/cg.*  # only the pgbench backends below
    "$PG_BINDIR/pgbench" -n -C -S -c 1 -t "$logins" $(direct_conn) >/dev/null 2>&1
    cg_stop
    per_login=$(cg_keep_login "$keep/$config.login")
    attr_login=$(cg_login_attributable "$keep/none.login")
    if [ "$config" = none ]; then base_stmt=$per_stmt base_login=$per_login; fi
    limit=$(limit_of "$config")
    printf '  %-20s %6s instructions per statement (attributable %s%s), %9s per login (attributable %s)\n' \
      "$config" "$per_stmt" "$attr_stmt" "${limit:+, limit $limit}" "$per_login" "$attr_login"
    awk -v c="$config" -v s="$per_stmt" -v l="$per_login" -v bs="$base_stmt" -v bl="$base_login" \
      -v as="$attr_stmt" -v al="$attr_login" -v lim="${limit:-—}" \
      'BEGIN { printf "| %s | %d | %+.2f %% | %s | %s | %d | %+.2f %% | %s |\n", c, s, 100 * (s - bs) / bs, as, lim, l, 100 * (l - bl) / bl, al }' >>"$out"
    if [ -n "$limit" ] && [ "$attr_stmt" -gt "$limit" ]; then
      echo "  FAILED: $config costs $attr_stmt attributable instructions per statement, above its limit $limit (bench/limits)"
      LIMITS_EXCEEDED+=("$config: $attr_stmt > $limit")
    fi
  done
  gzip -f "$keep"/*
  {
    echo
    echo "Where the attributable instructions go, per statement: raw/attributable.<configuration>.txt. The callgrind profiles: raw/callgrind/. The scenario took $((SECONDS - started)) s."
    echo
  } >>"$out"
}
