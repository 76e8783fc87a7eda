#!/bin/sh
# A Redis server of the cache (services redis-master and redis-replica). Usage:
#   redis.sh PORT [MASTER_HOST MASTER_PORT]
# No persistence: Redis only holds copies (ARCHITECTURE §1). The configuration is written to the
# container's tmpfs at every start so that the password never appears on a command line. After a
# Sentinel failover, a restarted former master comes up as a master with no data and the
# sentinels turn it into a replica of the current master within seconds; spoke-server only ever
# writes to the master the sentinels name, confirmed with ROLE.
set -eu
conf=/tmp/redis.conf
umask 077
{
  echo "port $1"
  echo 'save ""'
  echo "appendonly no"
  echo "maxmemory ${REDIS_MAXMEMORY:-512mb}"
  echo "maxmemory-policy allkeys-lru"
  echo "requirepass \"$REDIS_PASSWORD\""
  echo "masterauth \"$REDIS_PASSWORD\""
  if [ $# -ge 3 ]; then echo "replicaof $2 $3"; fi
} >"$conf"
exec redis-server "$conf"
