#!/usr/bin/env bash
# A primary and a streaming standby on one machine, with PostgreSQL's own replication
# (pg_basebackup -R), for the read-replica tests and benchmarks (issue 14, docs/scale.md).
#
#   scripts/replica.sh start [DIR]    initialise (first time) and start both; print their URLs
#   scripts/replica.sh stop  [DIR]    stop both (the standby first)
#   scripts/replica.sh promote [DIR]  promote the standby (fail-over drill)
#   scripts/replica.sh status [DIR]   replication state as the primary sees it
#
# DIR defaults to var/replica; ports are $EQREG_PRIMARY_PORT (54341) and $EQREG_STANDBY_PORT (54342).
# Both clusters trust local connections (like the embedded one): for tests, never for production.
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:-start}
root=$(realpath -m "${2:-var/replica}")
primary_port=${EQREG_PRIMARY_PORT:-54341}
standby_port=${EQREG_STANDBY_PORT:-54342}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "找不到 PostgreSQL 程序（请先运行 scripts/bootstrap.sh）" >&2; exit 1; }

# PostgreSQL refuses to run as root: then the clusters belong to the postgres system user.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
own() { mkdir -p "$@"; if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$@"; fi; }
running() { as_pg "$bin/pg_ctl" -D "$1" status >/dev/null 2>&1; }
start_one() {  # data dir, port
  running "$1" || as_pg "$bin/pg_ctl" -D "$1" -l "$root/run/$(basename "$1").log" -w \
      -o "-p $2 -k $root/run -c listen_addresses=127.0.0.1" start >/dev/null
}
url() { echo "postgresql://postgres@127.0.0.1:$1/${EQREG_REPLICA_DB:-eqreg}"; }

case "$action" in
  start)
    own "$root" "$root/run"
    if [ ! -f "$root/primary/PG_VERSION" ]; then
      own "$root/primary"
      as_pg "$bin/initdb" -D "$root/primary" -U postgres --auth=trust --encoding=UTF8 \
          --locale=C.UTF-8 >/dev/null
      # replication slots keep the WAL a briefly stopped standby still needs
      cat >> "$root/primary/postgresql.conf" <<EOF
wal_level = replica
max_wal_senders = 4
max_replication_slots = 4
hot_standby_feedback = on
EOF
    fi
    start_one "$root/primary" "$primary_port"
    as_pg "$bin/psql" -qAt -h 127.0.0.1 -p "$primary_port" -U postgres -d postgres -c \
        "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'eqreg_standby'" | grep -q 1 ||
      as_pg "$bin/psql" -qAt -h 127.0.0.1 -p "$primary_port" -U postgres -d postgres -c \
        "SELECT pg_create_physical_replication_slot('eqreg_standby')" >/dev/null
    if [ ! -f "$root/standby/PG_VERSION" ]; then
      own "$root/standby"
      chmod 0700 "$root/standby"
      as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$root/standby" \
          -R -X stream -S eqreg_standby
    fi
    start_one "$root/standby" "$standby_port"
    as_pg "$bin/psql" -qAt -h 127.0.0.1 -p "$primary_port" -U postgres -d postgres -c \
        "SELECT 1 FROM pg_database WHERE datname = '${EQREG_REPLICA_DB:-eqreg}'" | grep -q 1 ||
      as_pg "$bin/createdb" -h 127.0.0.1 -p "$primary_port" -U postgres "${EQREG_REPLICA_DB:-eqreg}"
    as_pg "$bin/psql" -qAt -h 127.0.0.1 -p "$primary_port" -U postgres -d "${EQREG_REPLICA_DB:-eqreg}" \
        -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
    echo "DATABASE_URL=$(url "$primary_port")"
    echo "DATABASE_REPLICA_URLS=$(url "$standby_port")"
    ;;
  stop)
    for dir in standby primary; do
      [ -f "$root/$dir/PG_VERSION" ] && running "$root/$dir" && as_pg "$bin/pg_ctl" -D "$root/$dir" -w -m fast stop >/dev/null
    done
    echo "stopped"
    ;;
  promote)
    as_pg "$bin/pg_ctl" -D "$root/standby" -w promote
    ;;
  status)
    as_pg "$bin/psql" -h 127.0.0.1 -p "$primary_port" -U postgres -d postgres -c \
        "SELECT application_name, state, sync_state, replay_lag FROM pg_stat_replication"
    ;;
  *)
    echo "用法：scripts/replica.sh start|stop|promote|status [DIR]" >&2; exit 2 ;;
esac
