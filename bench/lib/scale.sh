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
# The address case (1.2, budgets per client address): the same
# instructions per login and per statement with N address rules besides
# the bench role's two budgets: one per /32 and one per /24 of 10.0.0.0/8,
# none of which holds the clients' address, plus two that do (the bench
# role at most 500 from any one address, at most 500 from 127.0.0.0/8).
# The clients connect over TCP to 127.0.0.1 for this case (listen_addresses
# = '127.0.0.1' on BENCH_PGPORT: pick a free port), so every login looks
# its address up in the prefix lengths in use (8, 24, 32) of N rules.
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

# n address rules (see the top of this file); the bench role's two budgets
# stay.
scale_set_address_budgets() {  # n
  cluster_psql postgres "BEGIN;
    DELETE FROM poolgov.budgets WHERE role_name LIKE 'tenant\\_%' OR client_addr IS NOT NULL;
    INSERT INTO poolgov.budgets (role_name, client_addr, per_address, max_connections)
      VALUES ('$BENCH_ROLE', 'all', true, 500), (NULL, '127.0.0.0/8', false, 500);
    INSERT INTO poolgov.budgets (client_addr, max_connections)
      SELECT CASE WHEN g % 2 = 0
                  THEN '10.' || (g / 65536) % 256 || '.' || (g / 256) % 256 || '.' || g % 256
                  ELSE '10.' || (g / 256) % 256 || '.' || g % 256 || '.0/24' END, 5
        FROM generate_series(1, $1 - 2) g
      ON CONFLICT DO NOTHING;
    COMMIT;" >/dev/null
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

  # The address case: N address rules, clients over TCP (see the top).
  start_config "${settings[@]}"  # the last callgrind run stopped the server
  if [ "$(cluster_psql postgres "SELECT count(*) FROM pg_attribute
        WHERE attrelid = 'poolgov.budgets'::regclass AND attname = 'client_addr'")" -eq 1 ]; then
    local tcp_settings=("${settings[@]}" "listen_addresses = '127.0.0.1'")
    local tcp_conn="-h 127.0.0.1 -p $BENCH_PGPORT -U $BENCH_ROLE $BENCH_DB"
    {
      echo "### scale: instructions with N address rules"
      echo
      echo "The same measures with N rules on client addresses (one per /32 and per /24 of 10.0.0.0/8; two that hold the clients' address: the bench role at most 500 from any one address, at most 500 from 127.0.0.0/8) besides the bench role's two budgets; clients connect over TCP to 127.0.0.1, so every login looks its address up among the N rules."
      echo
      echo "| address rules | instructions per login | vs ${counts[0]} | instructions per statement | vs ${counts[0]} |"
      echo "|---|---|---|---|---|"
    } >>"$out"
    for n in "${counts[@]}"; do
      start_config "${tcp_settings[@]}"
      scale_set_address_budgets "$n"  # also takes the tenants' budgets out
      local rows=$((n + 2))
      cg_start "${tcp_settings[@]}"
      scale_wait_budgets "$rows"
      "$PG_BINDIR/pgbench" -n -S -M prepared -c 1 -t "$short" $tcp_conn >/dev/null 2>&1
      cg_stop
      ir_short=$(cg_busiest)
      cg_start "${tcp_settings[@]}"
      scale_wait_budgets "$rows"
      "$PG_BINDIR/pgbench" -n -S -M prepared -c 1 -t "$long" $tcp_conn >/dev/null 2>&1
      cg_stop
      ir_long=$(cg_busiest)
      per_stmt=$(((ir_long - ir_short) / (long - short)))
      cg_start "${tcp_settings[@]}"
      scale_wait_budgets "$rows"
      rm -f "$STAGE"/cg/cg.*
      "$PG_BINDIR/pgbench" -n -C -S -c 1 -t "$logins" $tcp_conn >/dev/null 2>&1
      cg_stop
      per_login=$(cg_median)
      if [ "$n" = "${counts[0]}" ]; then base_stmt=$per_stmt base_login=$per_login; fi
      printf '  %6s address rules: %10s instructions per login, %8s per statement\n' "$n" "$per_login" "$per_stmt"
      awk -v n="$n" -v s="$per_stmt" -v l="$per_login" -v bs="$base_stmt" -v bl="$base_login" \
        'BEGIN { printf "| %d | %d | %+.2f %% | %d | %+.2f %% |\n", n, l, 100 * (l - bl) / bl, s, 100 * (s - bs) / bs }' >>"$out"
    done
    echo >>"$out"
    start_config "${settings[@]}"
    cluster_psql postgres "DELETE FROM poolgov.budgets WHERE client_addr IS NOT NULL" >/dev/null
  else
    skip scale addresses "this version has no budgets per client address"
  fi

  # The next scenario starts from a cluster without tenant budgets.
  start_config "${settings[@]}"
  scale_set_budgets 2
}
