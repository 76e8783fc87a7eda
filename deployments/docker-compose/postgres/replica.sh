#!/bin/sh
# The streaming replica (service postgres-replica, port 5433): cloned from the primary on its
# first start (pg_basebackup -R writes primary_conninfo and standby.signal), then run as a hot
# standby. Promote it with:
#   docker compose exec -u postgres postgres-replica pg_ctl promote -D /var/lib/postgresql/data
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
export PGPASSWORD="$POSTGRES_PASSWORD"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h postgres-primary -p 5432 -U "$POSTGRES_USER"; do sleep 1; done
  pg_basebackup -h postgres-primary -p 5432 -U "$POSTGRES_USER" -D "$PGDATA" \
    -R -X stream -c fast
  chmod 0700 "$PGDATA"
fi
unset PGPASSWORD
exec postgres -D "$PGDATA" -c port=5433 -c hot_standby=on -c hot_standby_feedback=on
