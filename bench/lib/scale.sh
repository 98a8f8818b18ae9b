# shellcheck shell=bash
# shellcheck disable=SC2086
# The scale scenario (issue 12): does the login path, and the statement
# path, cost the same with 10, 1,000 and 10,000 budgets?
#
# Tenants: roles tenant_1 .. tenant_N (NOLOGIN: they only carry budgets),
# created once; for each budget count the table poolgov.budgets holds the
# bench role's two budgets plus budgets on the first N - 2 tenants. The
# pgbench clients log in as the bench role, so every login is decided
# against a rule set of N rules, of which two apply.
#
#   instructions per login (median backend life under `pgbench -C -S`) and
#   per statement (marginal over two `pgbench -S -M prepared` lengths), by
#   callgrind like the instructions scenario; and login TPS (`pgbench -C
#   -S -c 8`, rounds alternated like the other scenarios).
#
# More than 256 budgets need poolgov.max_budgets (issue 12): when
# the built library does not define it, the counts are capped at 256 and
# results.md says so.
#
# Needs: the other bench/lib files (instructions.sh for cg_*), STAGE,
# RESULTS, SMOKE, ROUNDS, PG_BINDIR.

scale_counts() {
  if [ "$SMOKE" -eq 1 ]; then echo "10 100"; else echo "10 1000 10000"; fi
}

# Puts exactly n budgets in poolgov.budgets (the bench role's two, then
# tenants'); the trigger installs them at commit.
scale_set_budgets() {  # n
  cluster_psql postgres "BEGIN;
    DELETE FROM poolgov.budgets WHERE role_name LIKE 'tenant\\_%';
    INSERT INTO poolgov.budgets (role_name, max_connections)
      SELECT 'tenant_' || g, 5 FROM generate_series(1, $1 - 2) g;
    COMMIT;" >/dev/null
  local have
  have=$(cluster_psql postgres "SELECT count(*) FROM poolgov.budget_usage")
  [ "$have" -eq "$1" ] || { echo "  FAILED: $have budgets in force, wanted $1" >&2; return 1; }
}

# After a restart the governor loads poolgov.budgets into shared memory
# (slowly under valgrind): wait until all n rules are in force.
scale_wait_budgets() {  # n
  local i have=0
  for i in $(seq 1 240); do
    have=$(cluster_psql postgres "SELECT count(*) FROM poolgov.budget_usage" 2>/dev/null) || have=0
    [ "$have" -eq "$1" ] && return 0
    sleep 0.5
  done
  echo "  FAILED: $have budgets in force after a restart, wanted $1" >&2
  return 1
}

scenario_scale() {
  local counts max_budgets_setting="" cap=""
  read -r -a counts <<<"$(scale_counts)"
  # Is poolgov.max_budgets built? (only meaningful while pg_poolgov is preloaded)
  cluster_restart pg_poolgov
  if [ "$(feature_built poolgov.max_budgets)" -eq 1 ]; then
    max_budgets_setting="poolgov.max_budgets = $((counts[${#counts[@]} - 1] + 100))"
  else
    cap=256
    local capped=() n
    for n in "${counts[@]}"; do
      [ "$n" -gt "$cap" ] && n=$cap
      [[ " ${capped[*]} " == *" $n "* ]] || capped+=("$n")
    done
    counts=("${capped[@]}")
    echo "  poolgov.max_budgets is not built: budget counts capped at $cap (${counts[*]})"
  fi
  local largest=${counts[${#counts[@]} - 1]}
  cluster_psql postgres "DO \$\$ BEGIN
      FOR i IN 1..$largest LOOP
        EXECUTE format('CREATE ROLE %I NOLOGIN', 'tenant_' || i);
      END LOOP; END \$\$;" >/dev/null

  local settings=(pg_poolgov "poolgov.track = top" "poolgov.enforce = on"
    "poolgov.default_budget = 500")
  [ -n "$max_budgets_setting" ] && settings+=("$max_budgets_setting")
  local args="-n -C -S -M simple -c 8 -j 2"
  local base=budgets_${counts[0]}
  echo "== scale: budgets ${counts[*]}: callgrind instructions per login and per statement, login TPS (pgbench $args)"
  meta scenario scale "$base" \
    "Login TPS with many budgets: \`pgbench $args\` as role $BENCH_ROLE (2 budgets of its own among N; the other N - 2 on NOLOGIN tenant roles), $ROUNDS round(s) × $RUN_SECONDS s, unix socket. ${cap:+poolgov.max_budgets is not built in this version: counts capped at $cap.}"
  local n
  for n in "${counts[@]}"; do
    meta config scale "budgets_$n" "$n rows in poolgov.budgets; ${settings[*]:1}${max_budgets_setting:+, $max_budgets_setting}"
  done
  local last=budgets_$largest
  [ "$last" != "$base" ] && meta target scale "$last" "$base" 0.98 "$last ≥ 98 % of $base"

  # Login TPS, configurations alternated round by round.
  local round config
  for round in $(seq "$ROUNDS"); do
    for config in $(round_order "$round" "${counts[@]/#/budgets_}"); do
      n=${config#budgets_}
      start_config "${settings[@]}"
      scale_set_budgets "$n"
      warmup $args $CONN
      EXPECTED_RUNS=$((EXPECTED_RUNS + 1))
      measure scale "$config" "$round" 8 main $args $CONN
    done
  done

  # Instructions, the same method as the instructions scenario.
  if ! command -v valgrind >/dev/null; then
    skip scale instructions "valgrind is not installed"
    return 0
  fi
  local short=3000 long=12000 logins=150
  [ "$SMOKE" -eq 1 ] && short=1000 long=3000 logins=10
  local out=$RESULTS/scale.md ir_short ir_long per_stmt per_login base_stmt=0 base_login=0
  {
    echo "## scale: instructions with N budgets"
    echo
    echo "CPU instructions counted by callgrind in client backends, as in the instructions scenario: per login, the median backend life under \`pgbench -n -C -S -c 1 -t $logins\`; per statement, marginal over \`pgbench -n -S -M prepared -c 1\` runs of $short and $long statements. The bench role has 2 budgets of its own among the N. ${cap:+poolgov.max_budgets is not built in this version: counts capped at $cap.}"
    echo
    echo "| budgets | instructions per login | vs ${counts[0]} | instructions per statement | vs ${counts[0]} |"
    echo "|---|---|---|---|---|"
  } >"$out"
  for n in "${counts[@]}"; do
    start_config "${settings[@]}"
    scale_set_budgets "$n"
    cg_start "${settings[@]}"
    scale_wait_budgets "$n"
    "$PG_BINDIR/pgbench" -n -S -M prepared -c 1 -t "$short" $(direct_conn) >/dev/null 2>&1
    cg_stop
    ir_short=$(cg_busiest)
    cg_start "${settings[@]}"
    scale_wait_budgets "$n"
    "$PG_BINDIR/pgbench" -n -S -M prepared -c 1 -t "$long" $(direct_conn) >/dev/null 2>&1
    cg_stop
    ir_long=$(cg_busiest)
    per_stmt=$(((ir_long - ir_short) / (long - short)))
    cg_start "${settings[@]}"
    scale_wait_budgets "$n"
    rm -f "$STAGE"/cg/cg.*  # only the pgbench backends below
    "$PG_BINDIR/pgbench" -n -C -S -c 1 -t "$logins" $(direct_conn) >/dev/null 2>&1
    cg_stop
    per_login=$(cg_median)
    if [ "$n" = "${counts[0]}" ]; then base_stmt=$per_stmt base_login=$per_login; fi
    printf '  %6s budgets: %10s instructions per login, %8s per statement\n' "$n" "$per_login" "$per_stmt"
    awk -v n="$n" -v s="$per_stmt" -v l="$per_login" -v bs="$base_stmt" -v bl="$base_login" \
      'BEGIN { printf "| %d | %d | %+.2f %% | %d | %+.2f %% |\n", n, l, 100 * (l - bl) / bl, s, 100 * (s - bs) / bs }' >>"$out"
  done
  echo >>"$out"
  # The next scenario starts from a cluster without tenant budgets.
  start_config "${settings[@]}"
  scale_set_budgets 2
}
