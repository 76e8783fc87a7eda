#!/bin/sh
# One of the three sentinels (services sentinel-1..3). Usage: sentinel.sh PORT
# Sentinel rewrites its configuration file with what it learns (the current master, the other
# sentinels, the replicas), so the file lives on the service's volume and is written only once.
# Quorum 2 of 3: a failover needs two sentinels to agree the master is down.
set -eu
conf=/data/sentinel.conf
if [ ! -f "$conf" ]; then
  umask 077
  cat >"$conf" <<CONF
port $1
sentinel resolve-hostnames yes
sentinel monitor spoke redis-master 6379 2
sentinel auth-pass spoke "$REDIS_PASSWORD"
sentinel down-after-milliseconds spoke 5000
sentinel failover-timeout spoke 60000
sentinel parallel-syncs spoke 1
CONF
fi
exec redis-sentinel "$conf"
