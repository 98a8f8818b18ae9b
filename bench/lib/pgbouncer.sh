# shellcheck shell=bash
# PgBouncer in front of the bench cluster: transaction pooling, 8 server
# connections, clients on 127.0.0.1 only, PostgreSQL reached through its
# unix socket. It runs as the postgres OS user (PgBouncer refuses root) with
# its files in the stage dir.
#
# Needs: STAGE, BENCH_PGPORT, BENCH_DB, BENCH_ROLE (cluster.sh), as_pg.

BOUNCER_POOL_SIZE=8

# A free loopback port (pick_port, cluster.sh): BENCH_PGBOUNCER_PORT
# (default 56432) unless another process holds it.
pick_bouncer_port() {
  pick_port "${BENCH_PGBOUNCER_PORT:-56432}"
}

# Connection options of a pgbench client that goes through PgBouncer.
bouncer_conn() {
  echo "-h 127.0.0.1 -p $BOUNCER_PORT -U $BENCH_ROLE $BENCH_DB"
}

pgbouncer_start() {
  BOUNCER_PORT=$(pick_bouncer_port)
  # auth_type = trust still wants the user listed in auth_file.
  echo "\"$BENCH_ROLE\" \"\"" >"$STAGE/pgbouncer.users"
  cat >"$STAGE/pgbouncer.ini" <<EOF
[databases]
$BENCH_DB = host=$STAGE port=$BENCH_PGPORT dbname=$BENCH_DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
; no unix socket of its own: clients use loopback TCP only
unix_socket_dir =
auth_type = trust
auth_file = $STAGE/pgbouncer.users
pool_mode = transaction
default_pool_size = $BOUNCER_POOL_SIZE
reserve_pool_size = 0
max_client_conn = 1000
logfile = $STAGE/pgbouncer.log
pidfile = $STAGE/pgbouncer.pid
EOF
  chmod 644 "$STAGE/pgbouncer.ini" "$STAGE/pgbouncer.users"
  as_pg "cd '$STAGE' && pgbouncer -d -q '$STAGE/pgbouncer.ini'" ||
    { tail -20 "$STAGE/pgbouncer.log" 2>/dev/null; return 1; }

  for _ in $(seq 50); do
    "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$BOUNCER_PORT" -d "$BENCH_DB" && return 0
    sleep 0.1
  done
  echo "PgBouncer did not come up on 127.0.0.1:$BOUNCER_PORT" >&2
  tail -20 "$STAGE/pgbouncer.log" 2>/dev/null
  return 1
}

pgbouncer_stop() {
  local pid
  [ -f "$STAGE/pgbouncer.pid" ] || return 0
  pid=$(cat "$STAGE/pgbouncer.pid")
  # SIGTERM: immediate shutdown; the runs are over or being abandoned.
  kill -TERM "$pid" 2>/dev/null || true

  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STAGE/pgbouncer.pid"
}
