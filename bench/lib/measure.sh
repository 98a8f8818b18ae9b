# shellcheck shell=bash
# One measured pgbench run, and the bookkeeping around it.
#
# Every run is bounded by -T and logs every transaction (-l); the latency
# percentiles come from those logs (stats.py). Each run appends one row to
# runs.tsv, whatever happened: report.py and the final check read the
# outcome from there, which also works for runs started in the background.
#
# Needs: STAGE, RESULTS, RUN_SECONDS, WARMUP_SECONDS, BENCH_LIB, PG_BINDIR.

RUNS_HEADER="scenario	config	round	clients	stream	rc	tps	transactions	failed	p50_ms	p95_ms	p99_ms	mean_ms	client_cpu_us	other_cpu_us	server_cpu_us	p99_steady_ms"

# measure SCENARIO CONFIG ROUND CLIENTS STREAM PGBENCH-ARGS...
measure() {
  local scenario=$1 config=$2 round=$3 clients=$4 stream=$5
  shift 5
  local tag=$scenario.$config.r$round.c$clients.$stream
  local logdir=$STAGE/txlog/$tag raw=$RESULTS/raw/$tag.txt rc=0
  mkdir -p "$logdir"
  local busy_before busy_after cpu=$STAGE/cpu.$tag
  local server_before server_after
  busy_before=$(busy_ticks)
  server_before=$(server_ticks)
  timeout --foreground -k 10 "$(hard_limit "$RUN_SECONDS")" \
    /usr/bin/time -f '%U %S' -o "$cpu" \
    "$PG_BINDIR/pgbench" -T "$RUN_SECONDS" -l --log-prefix="$logdir/tx" "$@" >"$raw" 2>&1 || rc=$?
  busy_after=$(busy_ticks)
  server_after=$(server_ticks)

  local tps figures logs=()
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$raw" | head -n 1)
  shopt -s nullglob
  logs=("$logdir"/tx.*)
  shopt -u nullglob
  figures="0 0 nan nan nan nan nan"
  [ ${#logs[@]} -gt 0 ] && figures=$(python3 "$BENCH_LIB/stats.py" "${logs[@]}")
  # The logs of a 10 s run can reach tens of MB; the figures are all we keep.
  rm -rf "$logdir"

  local n failed p50 p95 p99 mean p99_steady client_us other_us server_us
  read -r n failed p50 p95 p99 mean p99_steady <<<"$figures"
  read -r client_us other_us <<<"$(cpu_per_transaction "$cpu" "$busy_before" "$busy_after" "$n")"
  server_us=$(server_cpu_per_transaction "$server_before" "$server_after" "$n")
  rm -f "$cpu"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$scenario" "$config" "$round" "$clients" "$stream" "$rc" "${tps:-0}" \
    "$n" "$failed" "$p50" "$p95" "$p99" "$mean" "$client_us" "$other_us" "$server_us" \
    "$p99_steady" >>"$RESULTS/runs.tsv"

  printf '  %-9s %-18s round %s  %4s clients %-6s %9.1f tps  p99 %9s ms\n' \
    "$scenario" "$config" "$round" "$clients" "$stream" "${tps:-0}" "$p99"
  if [ "$rc" -ne 0 ] || [ "$n" -eq 0 ]; then
    echo "  FAILED: pgbench exit code $rc, $n transactions; its output ($raw) ends with:"
    tail -n 5 "$raw" | sed 's/^/    /'
  fi
}

# An unmeasured run right after a restart, so that the measured one does not
# pay for loading shared buffers. Its failures surface in the measured run.
# CPU time the whole machine spent busy so far, in clock ticks (/proc/stat:
# user nice system irq softirq steal).
busy_ticks() {
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat
}

# CPU time the server and PgBouncer used so far, in clock ticks: the
# postmaster's own and its reaped children's (utime stime cutime cstime of
# /proc/PID/stat: every backend that exited), its live children's, and
# PgBouncer's, whichever is running. Unlike busy_ticks, other agents' load
# on a shared machine does not count. Prints 0 when no server runs.
server_ticks() {
  local pm t=0 child
  pm=$(head -n 1 "$STAGE/data/postmaster.pid" 2>/dev/null) || pm=""
  if [ -n "$pm" ] && [ -r "/proc/$pm/stat" ]; then
    # Field 2 (comm) has no spaces for postgres: fields count from there.
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    for child in $(cat "/proc/$pm/task/"*/children 2>/dev/null); do
      t=$((t + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
    done
  fi
  local bouncer
  bouncer=$(cat "$STAGE/pgbouncer.pid" 2>/dev/null) || bouncer=""
  if [ -n "$bouncer" ] && [ -r "/proc/$bouncer/stat" ]; then
    t=$((t + $(awk '{print $14 + $15}' "/proc/$bouncer/stat" 2>/dev/null || echo 0)))
  fi
  echo "$t"
}

# Server (and PgBouncer) CPU per transaction, microseconds, or nan.
server_cpu_per_transaction() {  # ticks before, after, transactions
  awk -v b="$1" -v a="$2" -v n="${3:-0}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0 && a > b) printf "%.0f\n", (a - b) * 1e6 / hz / n; else print "nan" }'
}

# Where each transaction's CPU went: pgbench's own (user + system, from
# /usr/bin/time) and everything else the machine did meanwhile (the server,
# PgBouncer, and any other load), in microseconds per transaction. Prints
# "nan nan" when there is nothing to divide.
cpu_per_transaction() {  # time output file, busy ticks before, after, transactions
  local file=$1 before=$2 after=$3 n=$4 hz
  hz=$(getconf CLK_TCK)
  if [ ! -s "$file" ] || [ "${n:-0}" -eq 0 ]; then
    echo "nan nan"
    return
  fi
  awk -v b="$before" -v a="$after" -v n="$n" -v hz="$hz" '
    NF == 2 && $1 ~ /^[0-9.]+$/ { client = ($1 + $2) * 1e6 / n; found = 1 }
    END {
      if (!found) { print "nan nan"; exit }
      other = (a - b) * 1e6 / hz / n - client
      printf "%.0f %.0f\n", client, (other < 0 ? 0 : other)
    }' "$file"
}

warmup() {
  [ "$WARMUP_SECONDS" -gt 0 ] || return 0
  timeout --foreground -k 10 "$(hard_limit "$WARMUP_SECONDS")" \
    "$PG_BINDIR/pgbench" -T "$WARMUP_SECONDS" "$@" >/dev/null 2>&1 || true
}

# -T bounds the measured part of a run, not connecting 256 clients to a
# server that stopped answering: timeout adds a hard limit well above the
# normal length (--foreground keeps pgbench in our process group, so Ctrl-C
# still reaches it). The redirections stay on the command itself, not on a
# wrapper function, so that a trap firing meanwhile still writes to our
# stderr.
hard_limit() {  # seconds of -T
  echo $(($1 * 2 + 60))
}

# Runs started with measure in the background; cleanup ends them.
BACKGROUND_PIDS=()

# Failed runs so far: pgbench exit code not 0, or no transaction at all.
failed_runs() {
  awk -F'\t' 'NR > 1 && ($6 != 0 || $8 == 0)' "$RESULTS/runs.tsv" | wc -l
}
