# shellcheck shell=bash
# $args, $CONN and the like are option lists, split into words on purpose.
# shellcheck disable=SC2086
# The four scenarios. Each alternates its configurations within a round
# (A B C, A B C, ...) so that every configuration sees about the same
# background load of the shared machine, and restarts PostgreSQL before each
# configuration (a preload change needs a restart).
#
# A configuration whose feature is not built is skipped with a printed
# message and a "skipped" row in the table: never a made-up number.
#
# Needs: the other bench/lib files, ROUNDS, SCALE, SMOKE, BENCH_DIR,
# FEATURE_ADMISSION, FEATURE_HEAVY_LANE.

meta() {
  local IFS=$'\t'
  echo "$*" >>"$RESULTS/meta.tsv"
}

# The configurations of one round, in an order that changes from round to
# round (A B C, C B A, B C A, ...): a slow phase of the machine must not
# always land on the same configuration.
round_order() {  # round, configs...
  local round=$1; shift
  local configs=("$@") n=$# i
  local rotate=$(((round - 1) / 2 % n)) rotated=()
  for ((i = 0; i < n; i++)); do rotated+=("${configs[(i + rotate) % n]}"); done
  if [ $((round % 2)) -eq 0 ]; then
    for ((i = n - 1; i >= 0; i--)); do echo "${rotated[i]}"; done
  else
    printf '%s\n' "${rotated[@]}"
  fi
}

skip() {  # scenario, config, reason
  meta skip "$1" "$2" "$3"
  echo "  SKIP $1/$2: $3 (no number reported)"
}

# Starts PostgreSQL (and PgBouncer) for one configuration and sets CONN to
# the connection options of its pgbench clients.
start_config() {  # preload, settings...
  pgbouncer_stop
  cluster_restart "$@"
  CONN=$(direct_conn)
}

start_config_pgbouncer() {  # settings...
  start_config "" "$@"
  pgbouncer_start
  CONN=$(bouncer_conn)
}

# Loopback TCP for the clients of every configuration: PgBouncer's
# (bouncer_conn) and PostgreSQL's (tcp_conn).
start_config_tcp() {  # preload, settings...
  start_config "$@"
  CONN=$(tcp_conn)
}

scenario_overhead() {
  local args="-n -S -M prepared -c 8 -j 2"
  echo "== overhead: pgbench $args"
  meta scenario overhead none \
    "Cost of timing every statement: \`pgbench $args\` (read-only point selects, prepared), scale $SCALE, $ROUNDS round(s) × $RUN_SECONDS s, unix socket."
  meta config overhead none "no preload"
  meta config overhead pg_stat_statements "shared_preload_libraries = 'pg_stat_statements', pg_stat_statements.track = top, extension created"
  meta config overhead pg_poolgov "shared_preload_libraries = 'pg_poolgov', poolgov.track = top (budgets set, enforce = on)"
  meta target overhead pg_poolgov none 0.99 "pg_poolgov ≥ 99 % of none"
  meta target overhead pg_poolgov pg_stat_statements 1.0 "pg_poolgov ≥ pg_stat_statements"

  local round config
  for round in $(seq "$ROUNDS"); do
    for config in $(round_order "$round" none pg_stat_statements pg_poolgov); do
      case $config in
        none) start_config "" ;;
        pg_stat_statements) start_config pg_stat_statements "pg_stat_statements.track = top" ;;
        pg_poolgov) start_config pg_poolgov "poolgov.track = top" ;;
      esac
      warmup $args $CONN
      EXPECTED_RUNS=$((EXPECTED_RUNS + 1))
      measure overhead "$config" "$round" 8 main $args $CONN
    done
  done
}

scenario_login() {
  # -C: a new connection (fork, authentication, pg_poolgov's login hook) for
  # every transaction, so the login path dominates.
  local args="-n -C -S -M simple -c 8 -j 2"
  echo "== login: pgbench $args"
  meta scenario login none \
    "Cost of the login path: \`pgbench $args\` (a new connection per transaction), scale $SCALE, $ROUNDS round(s) × $RUN_SECONDS s, unix socket, role $BENCH_ROLE (not a superuser)."
  meta config login none "no preload"
  meta config login pg_poolgov "shared_preload_libraries = 'pg_poolgov', poolgov.enforce = on, poolgov.default_budget = 500, poolgov.track = top; budgets $BENCH_ROLE = 1000 and group $BENCH_GROUP = 900"
  meta target login pg_poolgov none 0.98 "pg_poolgov ≥ 98 % of none"

  local round config
  for round in $(seq "$ROUNDS"); do
    for config in $(round_order "$round" none pg_poolgov); do
      case $config in
        none) start_config "" ;;
        pg_poolgov) start_config pg_poolgov "poolgov.enforce = on" \
          "poolgov.default_budget = 500" "poolgov.track = top" ;;
      esac
      warmup $args $CONN
      EXPECTED_RUNS=$((EXPECTED_RUNS + 1))
      measure login "$config" "$round" 8 main $args $CONN
      [ "$config" = pg_poolgov ] && show_budget_path
    done
  done
}

# Evidence that the budget check ran: pg_poolgov counted the logins of the
# bench role against its budget.
show_budget_path() {
  local row
  row=$(cluster_psql postgres "SELECT format('%s logins accepted, %s rejected, budget %s (%s)',
          accepted, rejected, budget, budget_source)
        FROM poolgov.roles WHERE role = '$BENCH_ROLE'" 2>&1) || true
  echo "    pg_poolgov, role $BENCH_ROLE: ${row:-no row in poolgov.roles}"
}

scenario_overload() {
  # 512 clients need more than the common max_connections = 300.
  local clients_list="8 64 256 512" args="-M simple -j 2" prepared_clients=256
  local conns="max_connections = 600"
  [ "$SMOKE" -eq 1 ] && { clients_list="8 32"; prepared_clients=32; }
  echo "== overload: pgbench (TPC-B) $args -c {${clients_list// /,}}, and -M prepared at $prepared_clients"
  meta scenario overload direct \
    "Many clients, few cores: TPC-B (\`pgbench $args\`, the default script) at ${clients_list// /, } clients, scale $SCALE, $conns, $ROUNDS round(s) × $RUN_SECONDS s per client count, the order of the configurations changing from round to round. Stream \`prepared\`: the same with \`-M prepared\` at $prepared_clients clients, which PgBouncer's transaction mode cannot run. Every configuration's clients connect over loopback TCP (127.0.0.1), as an application reaches a server or a pooler over the network; PgBouncer reaches PostgreSQL on the unix socket, as deployed."
  meta config overload direct "plain PostgreSQL, pgbench on 127.0.0.1 TCP"
  meta config overload pgbouncer "plain PostgreSQL behind PgBouncer (pool_mode = transaction, default_pool_size = $BOUNCER_POOL_SIZE), pgbench on 127.0.0.1 TCP, PgBouncer to PostgreSQL on the unix socket"
  meta config overload pg_poolgov "pg_poolgov admission control, poolgov.max_active_transactions = $BOUNCER_POOL_SIZE, poolgov.admission_fairness_bound and poolgov.admission_fairness_factor at their defaults (newest waiter first within a bound of twice the recent mean wait, at most 1 s), pgbench on 127.0.0.1 TCP"
  meta config overload pg_poolgov_f4 "the same with poolgov.admission_fairness_factor = 4 (newest first within 4 × the recent mean wait: more cache affinity, a longer tail)"
  meta config overload pg_poolgov_fifo "the same with poolgov.admission_fairness_bound = 0 (strict FIFO)"

  local configs=(direct pgbouncer) round config clients
  if [ "$FEATURE_ADMISSION" -eq 1 ]; then
    configs+=(pg_poolgov)
    [ "$FEATURE_FAIRNESS" -eq 1 ] && configs+=(pg_poolgov_f4 pg_poolgov_fifo)
  else
    skip overload pg_poolgov "admission control (poolgov.max_active_transactions) is not built yet"
  fi
  for round in $(seq "$ROUNDS"); do
    for config in $(round_order "$round" "${configs[@]}"); do
      case $config in
        direct) start_config_tcp "" "$conns" ;;
        pgbouncer) start_config_pgbouncer "$conns" ;;
        pg_poolgov) start_config_tcp pg_poolgov "$conns" \
          "poolgov.max_active_transactions = $BOUNCER_POOL_SIZE" ;;
        pg_poolgov_f4) start_config_tcp pg_poolgov "$conns" \
          "poolgov.max_active_transactions = $BOUNCER_POOL_SIZE" \
          "poolgov.admission_fairness_factor = 4" ;;
        pg_poolgov_fifo) start_config_tcp pg_poolgov "$conns" \
          "poolgov.max_active_transactions = $BOUNCER_POOL_SIZE" \
          "poolgov.admission_fairness_bound = 0" ;;
      esac
      warmup $args -c 8 $CONN
      for clients in $clients_list; do
        EXPECTED_RUNS=$((EXPECTED_RUNS + 1))
        measure overload "$config" "$round" "$clients" main $args -c "$clients" $CONN
      done
      if [ "$config" != pgbouncer ]; then
        EXPECTED_RUNS=$((EXPECTED_RUNS + 1))
        measure overload "$config" "$round" "$prepared_clients" prepared -M prepared -j 2 \
          -c "$prepared_clients" $CONN
      fi
    done
  done
  pgbouncer_stop
}

scenario_mixed() {
  local light=8 heavy=4
  [ "$SMOKE" -eq 1 ] && { light=4; heavy=2; }
  # Custom scripts get :scale from -s, not from the tables.
  local light_args="-n -M simple -s $SCALE -f $BENCH_DIR/scripts/select_only.sql -j 2"
  local heavy_args="-n -M simple -s $SCALE -f $BENCH_DIR/scripts/heavy_aggregate.sql -j 2"
  echo "== mixed: $light light clients (point selects) beside $heavy heavy clients (full-table aggregates)"
  meta scenario mixed direct \
    "Light point selects (bench/scripts/select_only.sql, $light clients) running at the same time as heavy aggregates over pgbench_accounts (bench/scripts/heavy_aggregate.sql, $heavy clients): two concurrent pgbench processes, scale $SCALE, $ROUNDS round(s) × $RUN_SECONDS s. The figure that matters is the p99 of the light stream."
  meta config mixed direct "plain PostgreSQL, unix socket"
  meta config mixed pgbouncer "plain PostgreSQL behind PgBouncer (pool_mode = transaction, default_pool_size = $BOUNCER_POOL_SIZE): light and heavy share the pool"
  meta config mixed pg_poolgov "pg_poolgov heavy lane: poolgov.heavy_cost = 1000, poolgov.max_heavy_transactions = 1, unix socket"

  local configs=(direct pgbouncer) round config
  if [ "$FEATURE_HEAVY_LANE" -eq 1 ]; then
    configs+=(pg_poolgov)
  else
    skip mixed pg_poolgov "the heavy lane (poolgov.heavy_cost, poolgov.max_heavy_transactions) is not built yet"
  fi
  for round in $(seq "$ROUNDS"); do
    for config in $(round_order "$round" "${configs[@]}"); do
      case $config in
        direct) start_config "" ;;
        pgbouncer) start_config_pgbouncer ;;
        # A point select is planned at a cost of about 8, the aggregate at
        # thousands (scale 1) to tens of thousands (scale 10).
        pg_poolgov) start_config pg_poolgov "poolgov.heavy_cost = 1000" \
          "poolgov.max_heavy_transactions = 1" ;;
      esac
      warmup $light_args -c "$light" $CONN
      EXPECTED_RUNS=$((EXPECTED_RUNS + 2))
      measure mixed "$config" "$round" "$light" light $light_args -c "$light" $CONN &
      BACKGROUND_PIDS+=($!)
      measure mixed "$config" "$round" "$heavy" heavy $heavy_args -c "$heavy" $CONN &
      BACKGROUND_PIDS+=($!)
      # A failure shows as a failed row in runs.tsv, or as a missing row
      # (EXPECTED_RUNS); wait's status adds nothing.
      wait "${BACKGROUND_PIDS[@]}" || true
      BACKGROUND_PIDS=()
    done
  done
  pgbouncer_stop
}
