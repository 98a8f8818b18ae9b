# Shared helpers of scripts/test, scripts/demo and bench/run.

PG_CONFIG=$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)
PG_BINDIR=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
PGXS_DIR=$(dirname "$(dirname "$(dirname "$(pg_config --pgxs 2>/dev/null || echo /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk)")")")

# Runs a shell command as the postgres OS user when we are root (initdb and
# the test clusters refuse root), else as ourselves.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/bash -c "$1"
  else
    bash -c "$1"
  fi
}

# A fresh directory the postgres user owns (the clone may sit where that
# user cannot enter, e.g. under /root).
stage_dir() {
  local d
  d=$(mktemp -d "/tmp/poolgov-$1.XXXXXX")
  chmod 755 "$d"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$d"
  echo "$d"
}

# Builds and installs the library. `build_and_install checked` (scripts/test)
# builds it with POOLGOV_CHECK_LOCK_ORDER, which checks the lock order at
# every acquisition (src/pg/locks.hpp); without it (bench/run, scripts/demo)
# the library is built as it ships. A change of flavour rebuilds every object.
build_and_install() {
  local flavor=${1:-release}
  if [ "$(cat .build-flavor 2>/dev/null)" != "$flavor" ]; then
    rm -f src/core/*.o src/pg/*.o src/pg/*/*.o pg_poolgov.so
    echo "$flavor" >.build-flavor
  fi
  if [ "$flavor" = checked ]; then
    export POOLGOV_CHECK_LOCK_ORDER=1
  else
    unset POOLGOV_CHECK_LOCK_ORDER
  fi
  make -s -j2 >/dev/null
  if [ "$(id -u)" -eq 0 ]; then make -s install >/dev/null; else sudo make -s install >/dev/null; fi
}
