# shellcheck shell=bash
# The throwaway PostgreSQL cluster of one bench/run.
#
# initdb runs as the postgres OS user (it refuses root) in a stage dir that
# user owns: the clone may live where postgres cannot read. The server
# listens on a unix socket in that stage dir and on 127.0.0.1: most
# scenarios use the socket; the overload scenario uses loopback TCP for
# every configuration, as it must for PgBouncer (see tcp_conn). The port is
# BENCH_PGPORT (default 55432) unless another process holds it on
# 127.0.0.1, e.g. a second bench/run on the same machine.
#
# Needs: STAGE (from stage_dir), PG_BINDIR and as_pg (scripts/lib.sh).

# A free loopback port: the one asked for unless another process holds it.
pick_port() {  # preferred port
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

BENCH_PGPORT=$(pick_port "${BENCH_PGPORT:-55432}")
BENCH_DB=bench      # pgbench tables live here, owned by the bench role
BENCH_ROLE=bench    # the LOGIN role every pgbench client uses
BENCH_GROUP=bench_group

# Connection options of a pgbench client that talks to PostgreSQL directly,
# on the unix socket.
direct_conn() {
  echo "-h $STAGE -p $BENCH_PGPORT -U $BENCH_ROLE $BENCH_DB"
}

# The same over loopback TCP: how an application reaches a server, and how
# pgbench reaches PgBouncer (bouncer_conn), so that a comparison with
# PgBouncer does not weigh a unix socket against TCP.
tcp_conn() {
  echo "-h 127.0.0.1 -p $BENCH_PGPORT -U $BENCH_ROLE $BENCH_DB"
}

cluster_psql() {  # database, SQL; prints unaligned tuples
  "$PG_BINDIR/psql" -X -q -tA -v ON_ERROR_STOP=1 -h "$STAGE" -p "$BENCH_PGPORT" \
    -U postgres -d "$1" -c "$2"
}

cluster_init() {
  local data=$STAGE/data
  as_pg "cd '$STAGE' && '$PG_BINDIR/initdb' -D '$data' -U postgres --auth=trust \
         -E UTF8 --locale=C >'$STAGE/initdb.log' 2>&1" ||
    { cat "$STAGE/initdb.log"; return 1; }
  # Settings common to every configuration. The per-configuration part
  # (preload list and extension settings) goes to bench.conf, rewritten
  # before each restart.
  cat >>"$data/postgresql.conf" <<EOF

# --- bench/run ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$STAGE'
port = $BENCH_PGPORT
max_connections = 300
shared_buffers = 256MB
# The shared machine's disk is far noisier than its CPUs, and the scenarios
# measure per-connection and per-statement CPU costs, not fsync latency.
synchronous_commit = off
# Autovacuum kicking in during one run but not its pair is pure noise.
autovacuum = off
log_min_messages = warning
include_if_exists = 'bench.conf'
EOF
}

# Writes bench.conf: the preload list, then one setting per argument.
cluster_configure() {
  local preload=$1; shift
  {
    echo "shared_preload_libraries = '$preload'"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$STAGE/data/bench.conf"
  chmod 644 "$STAGE/data/bench.conf"
}

cluster_running() {
  [ -f "$STAGE/data/postmaster.pid" ]
}

cluster_start() {
  as_pg "cd '$STAGE' && '$PG_BINDIR/pg_ctl' -D '$STAGE/data' -l '$STAGE/server.log' \
         -w -t 120 start >/dev/null" ||
    { tail -30 "$STAGE/server.log"; return 1; }
}

cluster_stop() {
  cluster_running || return 0
  as_pg "cd '$STAGE' && '$PG_BINDIR/pg_ctl' -D '$STAGE/data' -m fast -w -t 60 stop >/dev/null" ||
    as_pg "cd '$STAGE' && '$PG_BINDIR/pg_ctl' -D '$STAGE/data' -m immediate -w stop >/dev/null"
}

# A preload change needs a restart; we restart for every configuration, so
# each one starts from the same state (cold shared buffers, warm OS cache).
cluster_restart() {  # preload list, settings...
  cluster_stop
  cluster_configure "$@"
  cluster_start
}

# Roles, database, extensions, budgets and pgbench tables, once per bench/run.
cluster_setup() {  # scale
  local scale=$1
  cluster_configure pg_poolgov
  cluster_start
  # Not a superuser: pg_poolgov exempts superusers from budgets.
  cluster_psql postgres "CREATE ROLE $BENCH_GROUP NOLOGIN;
    CREATE ROLE $BENCH_ROLE LOGIN NOSUPERUSER IN ROLE $BENCH_GROUP;"
  # CREATE DATABASE cannot share psql -c's implicit transaction.
  cluster_psql postgres "CREATE DATABASE $BENCH_DB OWNER $BENCH_ROLE;"
  cluster_psql postgres "CREATE EXTENSION pg_poolgov;
    -- Budgets far above max_connections: the login path checks them on
    -- every connection but never refuses one.
    SELECT poolgov.set_budget('$BENCH_ROLE', 1000);
    SELECT poolgov.set_budget('$BENCH_GROUP', 900);" >/dev/null
  cluster_psql "$BENCH_DB" "CREATE EXTENSION pg_stat_statements;" >/dev/null
  # shellcheck disable=SC2046  # an option list, split on purpose
  "$PG_BINDIR/pgbench" -i -q -s "$scale" $(direct_conn) >"$RESULTS/raw/pgbench-init.txt" 2>&1 ||
    { cat "$RESULTS/raw/pgbench-init.txt"; return 1; }
  cluster_psql "$BENCH_DB" "CHECKPOINT;" >/dev/null
}

# 1 when the preloaded pg_poolgov defines every named setting, else 0. Only
# meaningful while pg_poolgov is preloaded.
feature_built() {
  local names n
  names=$(printf "'%s'," "$@")
  n=$(cluster_psql postgres "SELECT count(*) FROM pg_settings WHERE name IN (${names%,})")
  [ "$n" -eq "$#" ] && echo 1 || echo 0
}
