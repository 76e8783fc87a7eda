#!/usr/bin/env bash
# Spoke local stack: Postgres primary + streaming replica, three spoke-server instances and NGINX,
# run as plain processes on 127.0.0.1 (ARCHITECTURE §8, "Running it").
#
# Usage: deployments/local/stack.sh COMMAND
#   up                 install missing packages, build spoke-server, start every component that is
#                      not running (dependency order), wait until each answers, write $STACK/env
#   down [--purge]     stop everything (reverse order) and check that no port is left listening;
#                      data, logs and configs stay unless --purge, which deletes the stack directory
#   status             one line per component: name, state, pid, port(s), health
#   start C | stop C   one component; start needs C's dependencies running. Starting pg-replica
#                      without a data directory clones it from pg-primary (pg_basebackup). start
#                      also works after a crash (kill -9): stale Postgres lock files are cleared
#   promote-replica    pg_ctl promote on pg-replica (writes follow through the multi-host URL);
#                      pg-primary then refuses to start (it would be a second primary)
#   psql C [ARGS...]   psql as the postgres superuser on component C's socket, database spoke
#   ports              "name port [health-port]" for every component at the current offset
#
# Components: pg-primary pg-replica otlp-receiver s3 instance-1 instance-2 instance-3 nginx prometheus
#   (s3: the S3 server holding the blobs, @20minutes/s3rver, port 9000, data in $STACK/s3, bucket
#    spoke, credentials S3RVER/S3RVER; the instances use it, not SPOKE_FILESYSTEM_ROOT)
#   (otlp-receiver: the OTLP/HTTP metrics receiver the instances push to, port 4318;
#    prometheus: scrapes the instances' /metrics every second, port 9099; see docs/observability.md)
#   (redis-master, redis-replica: Redis 6379/6380 watched by sentinel-1..3 on 26379-26381, master
#    name spoke; the instances find the master through the sentinels. After a failover the roles
#    move: `stop redis-master` stops whichever Redis is the master now, `stop redis-replica` one
#    that is not, and `start` of the same name restarts the process it stopped, which rejoins as a
#    replica of the current master. SPOKE_REDIS_PASSWORD, when set, protects both servers.)
#
# Environment:
#   SPOKE_STACK_DIR           state directory (default <repo>/.stack): data dirs, configs,
#                             logs/<component>.log, pids/<component>.pid, blobs/, env
#   SPOKE_STACK_PORT_OFFSET   added to every default port (default 0): LB 8080, instances 8081-8083
#                             (health 9091-9093), Postgres primary 5432, replica 5433. Fixed for
#                             the life of a stack directory.
#   SPOKE_SERVER_BIN          spoke-server to run (default <repo>/build/spoke-server, built by up)
#   SPOKE_STACK_START_TIMEOUT seconds a component may take to become ready (default 90)
#   SPOKE_STACK_STOP_TIMEOUT  seconds a component may take to exit before SIGKILL (default 20)
#   SPOKE_DRAIN_MS, SPOKE_LOG_LEVEL
#                             instance defaults for the local stack (500, info); override freely
#   SPOKE_OTEL_ENDPOINT, SPOKE_OTEL_INTERVAL_MS
#                             instance defaults too: the stack's otlp-receiver, every 1000 ms
#   SPOKE_NODE_DIR            npm packages of the Node helpers (default <repo>/.cache/node)
#   other SPOKE_*             passed through to the instances (e.g. SPOKE_MAX_BODY_BYTES)
#
# Processes are only ever signalled by the PIDs this script recorded, after checking that the PID
# still belongs to the component (a recycled PID is never killed).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib/packages.sh"

STACK_DIR=$(realpath -m -- "${SPOKE_STACK_DIR:-$REPO_DIR/.stack}")
PORT_OFFSET=${SPOKE_STACK_PORT_OFFSET:-0}
START_TIMEOUT=${SPOKE_STACK_START_TIMEOUT:-90}
STOP_TIMEOUT=${SPOKE_STACK_STOP_TIMEOUT:-20}
BUILD_DIR=$REPO_DIR/build
SERVER_BIN=$(realpath -m -- "${SPOKE_SERVER_BIN:-$BUILD_DIR/spoke-server}")
PG_BIN=/usr/lib/postgresql/15/bin
NGINX_TEMPLATE=$REPO_DIR/deployments/nginx/nginx.conf

LOG_DIR=$STACK_DIR/logs
PID_DIR=$STACK_DIR/pids
RUN_DIR=$STACK_DIR/run          # Postgres unix sockets
BLOB_DIR=$STACK_DIR/blobs       # SPOKE_FILESYSTEM_ROOT shared by the instances
NGINX_PREFIX=$STACK_DIR/nginx
ENV_FILE=$STACK_DIR/env
MARKER=$STACK_DIR/.spoke-stack  # identifies a stack directory (safety for --purge)

PG_ROLE=spoke PG_PASSWORD=spoke PG_DATABASE=spoke
HEALTH_PORT_DELTA=1010          # instance API 8081 -> health 9091

# ---------------------------------------------------------------------------------------------
# Component table, in start order. Each kind implements:
#   <kind>_start NAME   launch (recording the pid), return non-zero on failure
#   <kind>_probe NAME   one readiness probe, 0 when the component serves
#   <kind>_pid NAME     print the pid when running (and verified to be this component)
#   <kind>_ports NAME   every port the component listens on
#   <kind>_health NAME  short health text for `status`
#   <kind>_stop_signal  first signal for stop (SIGKILL follows after SPOKE_STACK_STOP_TIMEOUT)
# Dependencies: comma-separated, each "a|b" meaning at least one of a, b running.
# New components (s3, redis-master, redis-replica, sentinel-1..3, prometheus) are new rows plus
# their kind's functions.
COMPONENT_TABLE='
# name        kind      port  depends on
pg-primary    pg        5432  -
pg-replica    pg        5433  -
otlp-receiver otlp      4318  -
s3            s3        9000  -
redis-master  redis     6379  -
redis-replica redis     6380  -
sentinel-1    sentinel  26379 redis-master|redis-replica
sentinel-2    sentinel  26380 redis-master|redis-replica
sentinel-3    sentinel  26381 redis-master|redis-replica
instance-1    instance  8081  pg-primary|pg-replica,s3
instance-2    instance  8082  pg-primary|pg-replica,s3
instance-3    instance  8083  pg-primary|pg-replica,s3
nginx         nginx     8080  instance-1|instance-2|instance-3
prometheus    prometheus 9099 instance-1|instance-2|instance-3
'
COMPONENTS=()
declare -A KIND PORT DEPS
while read -r _name _kind _port _deps; do
  [[ -z $_name || $_name == \#* ]] && continue
  COMPONENTS+=("$_name")
  KIND[$_name]=$_kind
  PORT[$_name]=$((_port + PORT_OFFSET))
  DEPS[$_name]=$_deps
done <<<"$COMPONENT_TABLE"

# ---------------------------------------------------------------------------------------------
# Helpers

say() { printf '%s\n' "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }
elapsed() { local ms=$(($(now_ms) - $1)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

is_component() { [[ -n ${KIND[$1]:-} ]]; }
log_of() { echo "$LOG_DIR/$1.log"; }
pidfile_of() { echo "$PID_DIR/$1.pid"; }

# Alive = exists and is not a zombie (orphans may never be reaped here).
pid_alive() {
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}
pid_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }
pid_cmdline_has() { local c; c=$(pid_cmdline "$1"); [[ $c == *"$2"* ]]; }
pid_environ_has() { # (no pipe into grep -q: with pipefail an early exit would read as failure)
  local e
  e=$(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null) || return 1
  grep -qxF -- "$2" <<<"$e"
}

pidfile_read() {
  local f pid=''
  f=$(pidfile_of "$1")
  if [[ -f $f ]]; then read -r pid <"$f" || true; fi
  echo "$pid"
}

# Direct children and their descendants of a pid.
descendants() {
  local parent=$1 p stat ppid
  for p in /proc/[0-9]*; do
    { read -r stat <"$p/stat"; } 2>/dev/null || continue
    stat=${stat##*) }
    read -r _ ppid _ <<<"$stat"
    if [[ $ppid == "$parent" ]]; then
      echo "${p#/proc/}"
      descendants "${p#/proc/}"
    fi
  done
}

wait_gone() { # pid seconds
  local deadline=$(($(now_ms) + $2 * 1000))
  while pid_alive "$1"; do
    (($(now_ms) >= deadline)) && return 1
    sleep 0.05
  done
}

port_listening() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

http_code() { # url -> status code, 000 when nothing answers
  curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

comp_pid() { "${KIND[$1]}_pid" "$1"; }
comp_ports() { "${KIND[$1]}_ports" "$1"; }
# The component that `start C` / `stop C` acts on: C, unless C's kind names a role that moves
# between components (<kind>_target VERB C, e.g. redis-master after a failover).
comp_target() { # verb name
  if declare -F "${KIND[$2]}_target" >/dev/null; then "${KIND[$2]}_target" "$1" "$2"; else echo "$2"; fi
}

# Commands that change the stack hold this lock so that concurrent invocations do not interleave.
# Every process started in the background closes fd 9 (9>&-) so that it does not keep the lock.
take_lock() {
  exec 9>>"$STACK_DIR/.lock"
  flock -w 600 9 || die "timed out waiting for $STACK_DIR/.lock (another stack.sh running?)"
}

# Creates the stack directory (and parents), keeping it traversable for the postgres and nginx
# worker users: o+x on the stack dir and on every parent this script creates.
init_stack_dir() {
  if [[ ! -d $STACK_DIR ]]; then
    local d=$STACK_DIR created=()
    while [[ ! -e $d ]]; do created+=("$d"); d=$(dirname "$d"); done
    mkdir -p "$STACK_DIR"
    chmod o+x "${created[@]}"
  elif [[ ! -f $MARKER && -n $(ls -A "$STACK_DIR") ]]; then
    die "$STACK_DIR exists, is not empty and is not a stack directory; choose another SPOKE_STACK_DIR"
  fi
  chmod o+x "$STACK_DIR"
  if [[ -f $MARKER ]]; then
    local recorded
    recorded=$(sed -n 's/^port_offset=//p' "$MARKER")
    [[ $recorded == "$PORT_OFFSET" ]] ||
      die "$STACK_DIR was created with SPOKE_STACK_PORT_OFFSET=$recorded (now $PORT_OFFSET); use that or down --purge"
  else
    printf 'port_offset=%s\n' "$PORT_OFFSET" >"$MARKER"
  fi
  mkdir -p "$LOG_DIR" "$PID_DIR"
}

check_traversable() { # user dir
  runuser -u "$1" -- test -x "$2" ||
    die "user $1 cannot reach $2 (a parent directory lacks o+x); chmod o+x it or use a SPOKE_STACK_DIR under /tmp"
}

REASON=''
wait_ready() { # name timeout-seconds
  local name=$1 kind=${KIND[$1]} deadline=$(($(now_ms) + $2 * 1000))
  while :; do
    "${kind}_probe" "$name" && return 0
    if [[ -z $(comp_pid "$name") ]]; then REASON="process exited"; return 1; fi
    if (($(now_ms) >= deadline)); then REASON="not ready after $2 s"; return 1; fi
    sleep 0.1
  done
}

fail_component() { # name reason
  local log
  log=$(log_of "$1")
  {
    printf 'stack: error: %s failed: %s\n' "$1" "$2"
    if [[ -s $log ]]; then
      printf -- '--- last 40 lines of %s ---\n' "$log"
      tail -n 40 "$log"
      printf -- '---\n'
    fi
  } >&2
  exit 1
}

check_deps() {
  local name=$1 group alt ok
  local -a groups alts
  IFS=, read -ra groups <<<"${DEPS[$name]}"
  for group in "${groups[@]}"; do
    [[ $group == - ]] && continue
    IFS='|' read -ra alts <<<"$group"
    ok=0
    for alt in "${alts[@]}"; do
      [[ -n $(comp_pid "$alt") ]] && { ok=1; break; }
    done
    ((ok)) || die "$name needs ${group//|/ or } running (stack.sh start ${alts[0]})"
  done
}

start_component() {
  local name=$1 kind=${KIND[$1]} pid t0 p
  pid=$(comp_pid "$name")
  if [[ -n $pid ]]; then
    wait_ready "$name" "$START_TIMEOUT" || fail_component "$name" "running (pid $pid) but $REASON"
    say "$name: already running (pid $pid)"
    return 0
  fi
  check_deps "$name"
  for p in $(comp_ports "$name"); do
    port_listening "$p" && die "$name: port $p is already in use by another process"
  done
  t0=$(now_ms)
  "${kind}_start" "$name" || fail_component "$name" "could not start"
  wait_ready "$name" "$START_TIMEOUT" || fail_component "$name" "$REASON"
  say "$name: started (pid $(comp_pid "$name"), port $(comp_ports "$name" | tr '\n' ' ' | sed 's/ $//')) in $(elapsed "$t0")"
}

stop_component() {
  local name=$1 kind=${KIND[$1]} pid sig desc
  pid=$(comp_pid "$name")
  if [[ -z $pid ]]; then
    rm -f "$(pidfile_of "$name")"
    say "$name: not running"
    return 0
  fi
  sig=$("${kind}_stop_signal")
  kill -s "$sig" "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    say "$name: still running after $STOP_TIMEOUT s, sending SIGKILL" >&2
    desc=$(descendants "$pid")
    # shellcheck disable=SC2086  # list of pids
    kill -s KILL "$pid" $desc 2>/dev/null || true
    wait_gone "$pid" 10 || die "$name: pid $pid survived SIGKILL"
  fi
  if declare -F "${kind}_after_stop" >/dev/null; then "${kind}_after_stop" "$name"; fi
  rm -f "$(pidfile_of "$name")"
  say "$name: stopped (pid $pid)"
}

# Starts "$@" in the background in its own session, stdout/stderr to the component's log, and
# records its pid. The component name and stack dir are put in its environment so that a pid can
# be checked to belong to this component before it is signalled.
spawn() { # name command...
  local name=$1 log
  shift
  log=$(log_of "$name")
  # (passwords and secret keys in the command's environment are masked in the log)
  printf '=== %s starting: %s\n' "$(date -u +%FT%TZ)" \
    "$(sed -E 's/((PASSWORD|SECRET_KEY)=)[^ ]*/\1***/g' <<<"$*")" >>"$log"
  (
    cd "$STACK_DIR"
    export SPOKE_STACK_COMPONENT=$name SPOKE_STACK_DIR=$STACK_DIR
    exec setsid "$@" </dev/null >>"$log" 2>&1 9>&-
  ) &
  local pid=$! deadline=$(($(now_ms) + 5000))
  echo "$pid" >"$(pidfile_of "$name")"
  # Until the exec, /proc/<pid>/environ is still the forked shell's: wait until the kind's own pid
  # lookup recognises the process (or it dies). (nginx overwrites its environ with its process
  # title, so its kind checks the command line; waiting for the environ marker stalled 5 s.)
  while pid_alive "$pid" && [[ -z $(comp_pid "$name") ]]; do
    (($(now_ms) >= deadline)) && break
    sleep 0.01
  done
}

# Default pid lookup: the recorded pid, if it still belongs to the component.
spawned_pid() {
  local pid
  pid=$(pidfile_read "$1")
  if [[ -n $pid ]] && pid_alive "$pid" && pid_environ_has "$pid" "SPOKE_STACK_COMPONENT=$1" &&
     pid_environ_has "$pid" "SPOKE_STACK_DIR=$STACK_DIR"; then
    echo "$pid"
  fi
}

# ---------------------------------------------------------------------------------------------
# Postgres (kind pg). Postgres refuses to run as root: its binaries run as the postgres user.

pg_datadir() { echo "$STACK_DIR/$1/data"; }
pg_ports() { echo "${PORT[$1]}"; }
pg_stop_signal() { echo INT; }  # fast shutdown

as_postgres() { runuser -u postgres -- "$@"; }

pg_pid() {
  local data pid=''
  data=$(pg_datadir "$1")
  { read -r pid <"$data/postmaster.pid"; } 2>/dev/null || true
  if [[ -n $pid ]] && pid_alive "$pid" && pid_cmdline_has "$pid" "$data"; then
    echo "$pid"
  fi
}

pg_probe() {
  [[ $(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -XAtq \
       "host=127.0.0.1 port=${PORT[$1]} user=$PG_ROLE dbname=$PG_DATABASE" -c 'select 1' 2>/dev/null) == 1 ]]
}

pg_super_psql() { # name psql-args... (postgres superuser over the unix socket, trusted locally)
  local name=$1
  shift
  "$PG_BIN/psql" -X -h "$RUN_DIR" -p "${PORT[$name]}" -U postgres "$@"
}

pg_role() {
  case $(pg_super_psql "$1" -d postgres -Atqc 'select pg_is_in_recovery()' 2>/dev/null) in
    t) echo standby ;;
    f) echo primary ;;
    *) echo down ;;
  esac
}

pg_health() {
  local role
  role=$(pg_role "$1")
  if [[ $role != down ]] && pg_probe "$1"; then echo "ready $role"; else echo "not-ready $role"; fi
}

pg_after_stop() { # a SIGKILLed postmaster leaves its lock file behind
  local f
  f=$(pg_datadir "$1")/postmaster.pid
  [[ -f $f && -z $(pg_pid "$1") ]] && rm -f "$f"
  return 0
}

# A postmaster that crashed (kill -9) leaves its lock files behind (data dir and socket), and its
# pid may linger as an unreaped zombie that postgres takes for a live postmaster ("lock file already
# exists"). Once no process of the old server remains (each has the data dir as its working
# directory), the lock files are stale and are removed, so `start` works after a crash as after a
# stop.
pg_clear_stale_lock() {
  local name=$1 data p busy deadline
  data=$(pg_datadir "$name")
  [[ -f $data/postmaster.pid && -z $(pg_pid "$name") ]] || return 0
  deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
  while :; do
    busy=''
    for p in /proc/[0-9]*; do
      if [[ $(readlink "$p/cwd" 2>/dev/null) == "$data" ]] && pid_alive "${p#/proc/}"; then
        busy=${p#/proc/}
        break
      fi
    done
    [[ -z $busy ]] && break
    if (($(now_ms) >= deadline)); then
      echo "$name: pid $busy of the crashed server still runs in $data" >&2
      return 1
    fi
    sleep 0.1
  done
  rm -f "$data/postmaster.pid" "$RUN_DIR/.s.PGSQL.${PORT[$name]}.lock"
}

# Settings managed by the stack, rewritten at every start (the replica gets its own port).
pg_write_stack_conf() {
  local name=$1 data
  data=$(pg_datadir "$name")
  cat >"$data/stack.conf" <<EOF
# Written by deployments/local/stack.sh at every start of $name.
port = ${PORT[$name]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN_DIR'
EOF
  chown postgres:postgres "$data/stack.conf"
}

pg_prepare_dirs() {
  local name=$1
  check_traversable postgres "$STACK_DIR"
  install -d -o postgres -g postgres -m 0755 "$RUN_DIR"
  mkdir -p "$STACK_DIR/$name"
  rm -rf "$(pg_datadir "$name")"
  install -d -o postgres -g postgres -m 0700 "$(pg_datadir "$name")"
}

pg_ctl_start() {
  local name=$1 log
  log=$(log_of "$name")
  touch "$log"
  chown postgres:postgres "$log"
  install -d -o postgres -g postgres -m 0755 "$RUN_DIR"
  pg_clear_stale_lock "$name" 2>>"$log" || return 1
  pg_write_stack_conf "$name"
  # pg_ctl's own messages and the server's output share the component log.
  # shellcheck disable=SC2094
  as_postgres "$PG_BIN/pg_ctl" start -w -t "$START_TIMEOUT" -D "$(pg_datadir "$name")" -l "$log" \
    >>"$log" 2>&1 9>&-
  comp_pid "$name" >"$(pidfile_of "$name")"
}

pg_init_primary() {
  local name=$1 data log
  data=$(pg_datadir "$name")
  log=$(log_of "$name")
  pg_prepare_dirs "$name"
  say "$name: initdb in $data"
  as_postgres "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >>"$log" 2>&1 || return 1
  cat >>"$data/postgresql.conf" <<'EOF'

# --- Spoke local stack ---
# fsync and full_page_writes are off: this is a throwaway local stack, where speed matters and a
# machine crash may lose data. Never copy these two settings to a real deployment.
# synchronous_commit stays on: a commit is acknowledged only once its WAL is written (with fsync
# off that is one write()) and the walsender has been woken to stream it, so a primary killed
# right after answering a push does not take that push with it (tests/e2e/test_chaos.py checks
# this through promote-replica). Replication stays asynchronous: see docs/operations.md.
fsync = off
full_page_writes = off
synchronous_commit = on
wal_level = replica
max_wal_senders = 10
wal_keep_size = 256MB
hot_standby = on
hot_standby_feedback = on
max_connections = 200
shared_buffers = 64MB
password_encryption = scram-sha-256
log_line_prefix = '%m [%p] %q%u@%d '
include_if_exists = 'stack.conf'
EOF
  cat >"$data/pg_hba.conf" <<'EOF'
# Spoke local stack: trust on the unix socket (inside the stack dir), passwords over TCP.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
EOF
  pg_ctl_start "$name" || return 1
  pg_super_psql "$name" -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE $PG_ROLE LOGIN REPLICATION PASSWORD '$PG_PASSWORD' IN ROLE pg_monitor" \
    -c "CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE" >>"$log" 2>&1 || return 1
  touch "$STACK_DIR/$name/.initialized"
}

pg_init_replica() {
  local name=$1 primary=pg-primary data log
  data=$(pg_datadir "$name")
  log=$(log_of "$name")
  if [[ -z $(pg_pid "$primary") ]] || ! pg_probe "$primary"; then
    die "$name has no data directory yet and is cloned from $primary: start $primary first"
  fi
  pg_prepare_dirs "$name"
  touch "$log"
  say "$name: pg_basebackup from $primary into $data"
  as_postgres env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "${PORT[$primary]}" \
    -U "$PG_ROLE" -D "$data" -R -X stream -c fast --no-sync >>"$log" 2>&1 || return 1
  touch "$STACK_DIR/$name/.initialized"
}

pg_start() {
  local name=$1
  if [[ $name == pg-primary && -n $(pg_pid pg-replica) && $(pg_role pg-replica) == primary ]]; then
    die "pg-replica has been promoted; starting pg-primary would make a second primary (down --purge to reset)"
  fi
  if [[ ! -f $STACK_DIR/$name/.initialized ]]; then
    # A half-made data dir (interrupted init): make sure nothing runs on it, then redo it.
    [[ -n $(pg_pid "$name") ]] && stop_component "$name"
    if [[ $name == pg-primary ]]; then
      pg_init_primary "$name" || return 1
      return 0  # initdb path leaves it running
    fi
    pg_init_replica "$name" || return 1
  fi
  pg_ctl_start "$name"
}

# ---------------------------------------------------------------------------------------------
# spoke-server instances (kind instance)

instance_health_port() { echo $((PORT[$1] + HEALTH_PORT_DELTA)); }
instance_ports() { echo "${PORT[$1]}"; instance_health_port "$1"; }
instance_pid() { spawned_pid "$1"; }
instance_stop_signal() { echo TERM; }  # drains for SPOKE_DRAIN_MS, then exits 0

instance_probe() {
  [[ $(http_code "http://127.0.0.1:$(instance_health_port "$1")/health/ready") == 200 ]]
}
instance_health() {
  echo "ready=$(http_code "http://127.0.0.1:$(instance_health_port "$1")/health/ready")"
}

# The SPOKE_* settings shared by all instances, as KEY=VALUE lines. Topology settings are forced;
# SPOKE_DRAIN_MS and SPOKE_LOG_LEVEL are defaults the caller may override.
backend_env() {
  local pp=${PORT[pg-primary]} rp=${PORT[pg-replica]} auth="$PG_ROLE:$PG_PASSWORD"
  echo "SPOKE_POSTGRES_URL=postgres://$auth@127.0.0.1:$pp,127.0.0.1:$rp/$PG_DATABASE?sslmode=disable&target_session_attrs=read-write&connect_timeout=2"
  echo "SPOKE_POSTGRES_REPLICA_URLS=postgres://$auth@127.0.0.1:$rp/$PG_DATABASE?sslmode=disable&connect_timeout=2"
  echo "SPOKE_FILESYSTEM_ROOT=$BLOB_DIR"
  s3_env
  redis_env
  echo "SPOKE_DRAIN_MS=${SPOKE_DRAIN_MS:-500}"
  echo "SPOKE_LOG_LEVEL=${SPOKE_LOG_LEVEL:-info}"
  echo "SPOKE_OTEL_ENDPOINT=${SPOKE_OTEL_ENDPOINT:-http://127.0.0.1:${PORT[otlp-receiver]}/v1/metrics}"
  echo "SPOKE_OTEL_INTERVAL_MS=${SPOKE_OTEL_INTERVAL_MS:-1000}"
}

# Caller's SPOKE_* variables that are settings for the instances (not the stack's own knobs and
# not what the stack sets itself): passed through, and recorded in the env file.
passthrough_env() {
  local v set
  set=$(backend_env | cut -d= -f1)
  for v in $(compgen -e); do
    [[ $v == SPOKE_* ]] || continue
    case $v in
      SPOKE_STACK_* | SPOKE_SERVER_BIN | SPOKE_BUILD_DIR | SPOKE_SOURCE_DIR | SPOKE_KEEP_STACK | \
      SPOKE_TEST_* | SPOKE_LB_URL | SPOKE_INSTANCE_URLS | SPOKE_HEALTH_URLS | \
      SPOKE_NODE_DIR | SPOKE_PROMETHEUS_URL | SPOKE_OTLP_RECEIVER_URL | \
      SPOKE_HOST | SPOKE_PORT | SPOKE_HEALTH_PORT) continue ;;
    esac
    grep -qxF -- "$v" <<<"$set" && continue
    printf '%s=%s\n' "$v" "${!v}"
  done
}

instance_start() {
  local name=$1 kv
  [[ -x $SERVER_BIN ]] || die "$name: $SERVER_BIN is not an executable (build it, or set SPOKE_SERVER_BIN)"
  mkdir -p "$BLOB_DIR"
  local -a envs=(SPOKE_HOST=127.0.0.1 "SPOKE_PORT=${PORT[$name]}"
                 "SPOKE_HEALTH_PORT=$(instance_health_port "$name")")
  while IFS= read -r kv; do envs+=("$kv"); done < <(backend_env)
  spawn "$name" env "${envs[@]}" "$SERVER_BIN"
}

# Builds build/spoke-server unless SPOKE_SERVER_BIN names the binary to use.
build_server() {
  if [[ -n ${SPOKE_SERVER_BIN:-} ]]; then
    [[ -x $SERVER_BIN ]] || die "SPOKE_SERVER_BIN=$SPOKE_SERVER_BIN is not an executable"
    return 0
  fi
  local log=$LOG_DIR/build.log t0
  local -a configure=(cmake -S "$REPO_DIR" -B "$BUILD_DIR")
  [[ -f $BUILD_DIR/CMakeCache.txt ]] || configure+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  t0=$(now_ms)
  say "build: spoke-server in $BUILD_DIR (log: $log)"
  if ! { "${configure[@]}" && cmake --build "$BUILD_DIR" --target spoke-server -j "$(nproc)"; } \
       >"$log" 2>&1 9>&-; then
    {
      echo "stack: error: build failed; errors from $log:"
      grep -E ': (fatal )?error|CMake Error|undefined reference|Error [0-9]+' "$log" | head -n 40 ||
        tail -n 40 "$log"
    } >&2
    exit 1
  fi
  say "build: done in $(elapsed "$t0")"
}

# ---------------------------------------------------------------------------------------------
# NGINX (kind nginx): renders deployments/nginx/nginx.conf into the stack dir.

nginx_bin() { command -v nginx || echo /usr/sbin/nginx; }
nginx_ports() { echo "${PORT[$1]}"; }
nginx_stop_signal() { echo TERM; }
nginx_pid() {
  local pid
  pid=$(pidfile_read "$1")
  if [[ -n $pid ]] && pid_alive "$pid" && pid_cmdline_has "$pid" "-p $NGINX_PREFIX/"; then
    echo "$pid"
  fi
}
nginx_probe() { [[ $(http_code "http://127.0.0.1:${PORT[$1]}/health/live") == 200 ]]; }
nginx_health() { echo "live=$(http_code "http://127.0.0.1:${PORT[$1]}/health/live")"; }

# The same renderer as the docker-compose and kubernetes shapes (deployments/nginx/render.sh).
nginx_render() {
  local name=$1 c
  local -a args=(--template "$NGINX_TEMPLATE" --prefix "$NGINX_PREFIX" --error-log "$(log_of "$name")"
                 --listen "127.0.0.1:${PORT[$name]}" --max-body "${SPOKE_MAX_BODY_BYTES:-16777216}")
  for c in "${COMPONENTS[@]}"; do
    [[ ${KIND[$c]} == instance ]] || continue
    args+=(--upstream "127.0.0.1:${PORT[$c]} max_fails=1 fail_timeout=2s"
           --health-upstream "127.0.0.1:$(instance_health_port "$c") max_fails=1 fail_timeout=2s")
  done
  "$REPO_DIR/deployments/nginx/render.sh" "${args[@]}" >"$NGINX_PREFIX/nginx.conf" ||
    die "nginx: could not render $NGINX_TEMPLATE"
}

nginx_start() {
  local name=$1 log bin
  log=$(log_of "$name")
  bin=$(nginx_bin)
  mkdir -p "$NGINX_PREFIX/logs" "$NGINX_PREFIX/tmp"
  check_traversable nobody "$NGINX_PREFIX/tmp"  # workers buffer request bodies there
  nginx_render "$name"
  local -a args=(-p "$NGINX_PREFIX/" -c "$NGINX_PREFIX/nginx.conf" -e "$log")
  if ! "$bin" -t -q "${args[@]}" -g 'daemon off;' >>"$log" 2>&1; then
    echo "nginx -t rejected $NGINX_PREFIX/nginx.conf" >>"$log"
    return 1
  fi
  spawn "$name" "$bin" "${args[@]}" -g 'daemon off;'
}

# ---------------------------------------------------------------------------------------------
# S3 (kind s3): @20minutes/s3rver started from deployments/local/s3rver.js (it has no bin), its
# npm package in SPOKE_NODE_DIR, its objects under $STACK_DIR/s3/<bucket>/. It checks SigV4
# signatures, so the instances' signing is exercised; it logs "s3 METHOD URL STATUS" per request.

S3_DATA_DIR=$STACK_DIR/s3
S3_BUCKET=spoke S3_REGION=us-east-1 S3_ACCESS_KEY=S3RVER S3_SECRET_KEY=S3RVER

s3_ports() { echo "${PORT[$1]}"; }
s3_pid() { spawned_pid "$1"; }
s3_stop_signal() { echo TERM; }
s3_probe() { [[ $(http_code "http://127.0.0.1:${PORT[$1]}/") == 200 ]]; }
s3_health() { echo "live=$(http_code "http://127.0.0.1:${PORT[$1]}/")"; }

# The instances' S3 settings (the bucket is created by the first instance that starts).
s3_env() {
  echo "SPOKE_S3_ENDPOINT=http://127.0.0.1:${PORT[s3]}"
  echo "SPOKE_S3_BUCKET=$S3_BUCKET"
  echo "SPOKE_S3_REGION=$S3_REGION"
  echo "SPOKE_S3_ACCESS_KEY=$S3_ACCESS_KEY"
  echo "SPOKE_S3_SECRET_KEY=$S3_SECRET_KEY"
  echo "SPOKE_S3_USE_PATH_STYLE=true"
}

s3_start() {
  local name=$1
  command -v node >/dev/null 2>&1 || spoke_ensure_packages nodejs || return 1
  spoke_ensure_npm_packages "${SPOKE_NPM_S3_PACKAGES[@]}" >>"$(log_of "$name")" 2>&1 || return 1
  mkdir -p "$S3_DATA_DIR"
  spawn "$name" env NODE_PATH="$SPOKE_NODE_DIR/node_modules" node --openssl-legacy-provider \
    "$REPO_DIR/deployments/local/s3rver.js" 127.0.0.1 "${PORT[$name]}" "$S3_DATA_DIR"
}

# ---------------------------------------------------------------------------------------------
# Redis (kinds redis and sentinel): a master and a replica (redis-server 7, no persistence: it is a
# cache) watched by three sentinels (quorum 2, down-after 1 s). Configs and data live in
# $STACK_DIR/redis/<component>/. Each sentinel rewrites its own config file, so that file is
# written once and then left to it; a Redis config is rewritten at every start with the role the
# sentinels currently give it, so a restarted old master rejoins as a replica, never as a second
# master. set-proc-title no keeps /proc/<pid>/environ intact, which is how a pid is recognised.

REDIS_MASTER_NAME=spoke
REDIS_PASSWORD=${SPOKE_REDIS_PASSWORD:-}
REDIS_DIR=$STACK_DIR/redis

redis_ports() { echo "${PORT[$1]}"; }
redis_pid() { spawned_pid "$1"; }
redis_stop_signal() { echo TERM; }
sentinel_ports() { echo "${PORT[$1]}"; }
sentinel_pid() { spawned_pid "$1"; }
sentinel_stop_signal() { echo TERM; }

redis_cli() { # port args... (password through the environment, never on the command line)
  local port=$1
  shift
  if [[ -n $REDIS_PASSWORD ]]; then
    REDISCLI_AUTH=$REDIS_PASSWORD timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 9>&-
  else
    timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 9>&-
  fi
}
sentinel_cli() { local port=$1; shift; timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 9>&-; }

redis_role() { # master | slave | down
  local role
  role=$(redis_cli "${PORT[$1]}" ROLE 2>/dev/null | head -n 1) || true
  echo "${role:-down}"
}
redis_probe() { [[ $(redis_cli "${PORT[$1]}" PING 2>/dev/null) == PONG ]]; }
redis_health() { if redis_probe "$1"; then echo "ready role=$(redis_role "$1")"; else echo not-ready; fi; }

sentinel_probe() {
  [[ $(sentinel_cli "${PORT[$1]}" SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null |
       wc -l) == 2 ]]
}
sentinel_health() {
  local addr
  addr=$(sentinel_cli "${PORT[$1]}" SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null |
         paste -sd:) || true
  if [[ -n $addr ]]; then echo "ready master=$addr"; else echo not-ready; fi
}

redis_sentinel_list() {
  local c out=''
  for c in "${COMPONENTS[@]}"; do
    [[ ${KIND[$c]} == sentinel ]] && out+="${out:+,}127.0.0.1:${PORT[$c]}"
  done
  echo "$out"
}

# The instances reach Redis through the sentinels (unless the caller set SPOKE_REDIS_URL).
redis_env() {
  if [[ -z ${SPOKE_REDIS_URL:-} ]]; then
    echo "SPOKE_REDIS_SENTINELS=$(redis_sentinel_list)"
    echo "SPOKE_REDIS_MASTER_NAME=$REDIS_MASTER_NAME"
  fi
  if [[ -n $REDIS_PASSWORD ]]; then echo "SPOKE_REDIS_PASSWORD=$REDIS_PASSWORD"; fi
}

# The Redis component that is the master now: as the first sentinel that answers says, else the
# running one whose ROLE is master. Fails when neither knows.
redis_current_master() {
  local c s port
  for s in "${COMPONENTS[@]}"; do
    [[ ${KIND[$s]} == sentinel && -n $(comp_pid "$s") ]] || continue
    port=$(sentinel_cli "${PORT[$s]}" SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" \
           2>/dev/null | sed -n 2p) || continue
    for c in "${COMPONENTS[@]}"; do
      if [[ ${KIND[$c]} == redis && ${PORT[$c]} == "$port" ]]; then echo "$c"; return 0; fi
    done
  done
  for c in "${COMPONENTS[@]}"; do
    [[ ${KIND[$c]} == redis && -n $(comp_pid "$c") ]] || continue
    if [[ $(redis_role "$c") == master ]]; then echo "$c"; return 0; fi
  done
  return 1
}

# redis-master / redis-replica name roles: stop picks the component in that role now and records
# it; start restarts the recorded component (see the header).
redis_target() { # verb name
  local verb=$1 name=$2 c='' m master='' record=$REDIS_DIR/stopped-$2
  if [[ $verb == stop ]]; then
    master=$(redis_current_master) || master=''
    if [[ $name == redis-master ]]; then
      c=$master
    else # any running Redis that is not the master (with none left, every one is)
      for m in "${COMPONENTS[@]}"; do
        if [[ ${KIND[$m]} == redis && $m != "$master" && -n $(comp_pid "$m") ]]; then c=$m; break; fi
      done
    fi
    c=${c:-$name}
    mkdir -p "$REDIS_DIR"
    echo "$c" >"$record"
  else
    if [[ -f $record ]]; then read -r c <"$record" || true; fi
    rm -f "$record"
    if [[ -z $c ]] || ! is_component "$c" || [[ -n $(comp_pid "$c") ]]; then c=$name; fi
  fi
  echo "$c"
}

redis_start() {
  local name=$1 dir=$REDIS_DIR/$1 master='' conf
  conf=$dir/redis.conf
  mkdir -p "$dir"
  master=$(redis_current_master) || master=''
  if [[ -z $master && $name != redis-master ]]; then master=redis-master; fi
  if [[ $master == "$name" ]]; then master=''; fi
  (
    umask 077
    cat >"$conf" <<EOF
# Written by deployments/local/stack.sh at every start of $name.
port ${PORT[$name]}
bind 127.0.0.1
daemonize no
set-proc-title no
dir $dir
logfile ""
save ""
appendonly no
EOF
    if [[ -n $REDIS_PASSWORD ]]; then
      printf 'requirepass "%s"\nmasterauth "%s"\n' "$REDIS_PASSWORD" "$REDIS_PASSWORD" >>"$conf"
    fi
    if [[ -n $master ]]; then echo "replicaof 127.0.0.1 ${PORT[$master]}" >>"$conf"; fi
  )
  spawn "$name" redis-server "$conf"
}

sentinel_start() {
  local name=$1 dir=$REDIS_DIR/$1 conf master
  conf=$dir/sentinel.conf
  mkdir -p "$dir"
  if [[ ! -f $conf ]]; then
    master=$(redis_current_master) || master=redis-master
    (
      umask 077
      cat >"$conf" <<EOF
# Written once by deployments/local/stack.sh; redis-sentinel rewrites it with its state.
port ${PORT[$name]}
bind 127.0.0.1
protected-mode no
daemonize no
set-proc-title no
dir $dir
logfile ""
sentinel resolve-hostnames no
sentinel monitor $REDIS_MASTER_NAME 127.0.0.1 ${PORT[$master]} 2
sentinel down-after-milliseconds $REDIS_MASTER_NAME 1000
sentinel failover-timeout $REDIS_MASTER_NAME 3000
sentinel parallel-syncs $REDIS_MASTER_NAME 1
EOF
      if [[ -n $REDIS_PASSWORD ]]; then
        printf 'sentinel auth-pass %s "%s"\n' "$REDIS_MASTER_NAME" "$REDIS_PASSWORD" >>"$conf"
      fi
    )
  fi
  spawn "$name" redis-sentinel "$conf"
}

# ---------------------------------------------------------------------------------------------
# Observability (kinds otlp and prometheus): the OTLP/HTTP receiver the instances push their
# metrics to (deployments/local/otlp-receiver.js; its npm packages live in SPOKE_NODE_DIR), and
# Prometheus scraping every instance's health port. See docs/observability.md.

PROMETHEUS_DIR=$STACK_DIR/prometheus

otlp_ports() { echo "${PORT[$1]}"; }
otlp_pid() { spawned_pid "$1"; }
otlp_stop_signal() { echo TERM; }
otlp_probe() { [[ $(http_code "http://127.0.0.1:${PORT[$1]}/health") == 200 ]]; }
otlp_health() { echo "live=$(http_code "http://127.0.0.1:${PORT[$1]}/health")"; }

otlp_start() {
  local name=$1
  command -v node >/dev/null 2>&1 || spoke_ensure_packages nodejs || return 1
  spoke_ensure_npm_packages "${SPOKE_NPM_OTLP_PACKAGES[@]}" >>"$(log_of "$name")" 2>&1 || return 1
  spawn "$name" env NODE_PATH="$SPOKE_NODE_DIR/node_modules" node \
    "$REPO_DIR/deployments/local/otlp-receiver.js" --host 127.0.0.1 --port "${PORT[$name]}"
}

prometheus_ports() { echo "${PORT[$1]}"; }
prometheus_pid() { spawned_pid "$1"; }
prometheus_stop_signal() { echo TERM; }
prometheus_probe() { [[ $(http_code "http://127.0.0.1:${PORT[$1]}/-/ready") == 200 ]]; }
prometheus_health() { echo "ready=$(http_code "http://127.0.0.1:${PORT[$1]}/-/ready")"; }

# One job, one target per instance health port (labelled with the component name), scraped
# every second so tests see their traffic quickly.
prometheus_render() {
  local c out=$PROMETHEUS_DIR/prometheus.yml
  {
    cat <<EOF
# Written by deployments/local/stack.sh at every start of $1.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 15s
scrape_configs:
  - job_name: spoke
    metrics_path: /metrics
    static_configs:
EOF
    for c in "${COMPONENTS[@]}"; do
      [[ ${KIND[$c]} == instance ]] || continue
      printf "      - targets: ['127.0.0.1:%s']\n        labels: {component: %s}\n" \
        "$(instance_health_port "$c")" "$c"
    done
  } >"$out"
}

prometheus_start() {
  local name=$1 log
  log=$(log_of "$name")
  mkdir -p "$PROMETHEUS_DIR/data"
  prometheus_render "$name"
  promtool check config "$PROMETHEUS_DIR/prometheus.yml" >>"$log" 2>&1 || return 1
  spawn "$name" prometheus --config.file="$PROMETHEUS_DIR/prometheus.yml" \
    --storage.tsdb.path="$PROMETHEUS_DIR/data" --storage.tsdb.retention.time=7d \
    --web.listen-address="127.0.0.1:${PORT[$name]}" --log.level=warn
}

# ---------------------------------------------------------------------------------------------
# Commands

urls_of_kind() { # kind port-function
  local c out=''
  for c in "${COMPONENTS[@]}"; do
    [[ ${KIND[$c]} == "$1" ]] && out+="${out:+,}http://127.0.0.1:$("$2" "$c")"
  done
  echo "$out"
}
port_of() { echo "${PORT[$1]}"; }

write_env_file() {
  local kv tmp=$ENV_FILE.tmp
  {
    echo "# Spoke local stack endpoints and instance settings (written by stack.sh up)."
    echo "SPOKE_STACK_DIR=$STACK_DIR"
    echo "SPOKE_STACK_PORT_OFFSET=$PORT_OFFSET"
    echo "SPOKE_LB_URL=http://127.0.0.1:${PORT[nginx]}"
    echo "SPOKE_INSTANCE_URLS=$(urls_of_kind instance port_of)"
    echo "SPOKE_HEALTH_URLS=$(urls_of_kind instance instance_health_port)"
    echo "SPOKE_PROMETHEUS_URL=http://127.0.0.1:${PORT[prometheus]}"
    echo "SPOKE_OTLP_RECEIVER_URL=http://127.0.0.1:${PORT[otlp-receiver]}"
    backend_env
    passthrough_env
  } | while IFS= read -r kv; do
    if [[ $kv == \#* ]]; then echo "$kv"; continue; fi
    local v=${kv#*=}
    printf "%s='%s'\n" "${kv%%=*}" "${v//\'/\'\\\'\'}"
  done >"$tmp"
  mv "$tmp" "$ENV_FILE"
}

cmd_up() {
  init_stack_dir
  take_lock
  spoke_ensure_packages "${SPOKE_BUILD_PACKAGES[@]}" "${SPOKE_SERVER_PACKAGES[@]}"
  local c need_build=0 t0
  t0=$(now_ms)
  for c in "${COMPONENTS[@]}"; do
    [[ ${KIND[$c]} == instance && -z $(comp_pid "$c") ]] && need_build=1
  done
  ((need_build)) && build_server
  for c in "${COMPONENTS[@]}"; do start_component "$c"; done
  write_env_file
  say ""
  say "Spoke local stack is up ($(elapsed "$t0")), state in $STACK_DIR"
  say "  load balancer  http://127.0.0.1:${PORT[nginx]}"
  for c in "${COMPONENTS[@]}"; do
    [[ ${KIND[$c]} == instance ]] || continue
    say "  $c     http://127.0.0.1:${PORT[$c]}  (health http://127.0.0.1:$(instance_health_port "$c"))"
  done
  say "  postgres       primary 127.0.0.1:${PORT[pg-primary]}, replica 127.0.0.1:${PORT[pg-replica]} (user/password/db: $PG_ROLE/$PG_PASSWORD/$PG_DATABASE)"
  say "  redis          127.0.0.1:${PORT[redis-master]} and 127.0.0.1:${PORT[redis-replica]}, sentinels $(redis_sentinel_list) (master name $REDIS_MASTER_NAME)"
  say "  s3             http://127.0.0.1:${PORT[s3]} (bucket $S3_BUCKET, keys $S3_ACCESS_KEY/$S3_SECRET_KEY, data $S3_DATA_DIR)"
  say "  metrics        prometheus http://127.0.0.1:${PORT[prometheus]}, OTLP receiver http://127.0.0.1:${PORT[otlp-receiver]}/received"
  say "  settings       $ENV_FILE"
  say "  logs           $LOG_DIR"
}

cmd_start() {
  local name=${1:-}
  is_component "$name" || die "unknown component '$name' (one of: ${COMPONENTS[*]})"
  init_stack_dir
  take_lock
  spoke_ensure_packages "${SPOKE_BUILD_PACKAGES[@]}" "${SPOKE_SERVER_PACKAGES[@]}"
  if [[ ${KIND[$name]} == instance && -z $(comp_pid "$name") && ! -x $SERVER_BIN ]]; then
    build_server
  fi
  local target
  target=$(comp_target start "$name")
  [[ $target == "$name" ]] || say "$name: restarting $target, which was stopped in that role"
  start_component "$target"
}

cmd_stop() {
  local name=${1:-}
  is_component "$name" || die "unknown component '$name' (one of: ${COMPONENTS[*]})"
  [[ -d $STACK_DIR ]] || { say "$name: not running"; return 0; }
  take_lock
  local target
  target=$(comp_target stop "$name")
  [[ $target == "$name" ]] || say "$name: that role is $target now"
  stop_component "$target"
}

cmd_down() {
  local purge=0 i c p deadline busy
  case ${1:-} in
    '') ;;
    --purge) purge=1 ;;
    *) die "down: unknown option '$1' (only --purge)" ;;
  esac
  if [[ ! -d $STACK_DIR ]]; then say "no stack in $STACK_DIR"; return 0; fi
  [[ -f $MARKER ]] || die "$STACK_DIR is not a stack directory"
  take_lock
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_component "${COMPONENTS[i]}"; done
  deadline=$(($(now_ms) + 10000))
  while :; do
    busy=''
    for c in "${COMPONENTS[@]}"; do
      for p in $(comp_ports "$c"); do port_listening "$p" && busy+=" $p($c)"; done
    done
    [[ -z $busy ]] && break
    (($(now_ms) >= deadline)) && die "ports still listening after down:$busy"
    sleep 0.1
  done
  if ((purge)); then
    rm -rf -- "$STACK_DIR"
    say "stack down, $STACK_DIR deleted"
  else
    say "stack down (data kept in $STACK_DIR; 'down --purge' deletes it)"
  fi
}

cmd_status() {
  local c pid state health
  for c in "${COMPONENTS[@]}"; do
    pid=''
    [[ -d $STACK_DIR ]] && pid=$(comp_pid "$c")
    if [[ -n $pid ]]; then
      state=running
      health=$("${KIND[$c]}_health" "$c")
    else
      state=stopped pid=- health=-
    fi
    printf '%-14s %-8s %-8s %-12s %s\n' "$c" "$state" "$pid" "$(comp_ports "$c" | paste -sd/)" "$health"
  done
}

cmd_promote_replica() {
  local data
  data=$(pg_datadir pg-replica)
  [[ -d $STACK_DIR ]] || die "no stack in $STACK_DIR"
  take_lock
  [[ -n $(pg_pid pg-replica) ]] || die "pg-replica is not running"
  if [[ $(pg_role pg-replica) == primary ]]; then say "pg-replica: already a primary"; return 0; fi
  as_postgres "$PG_BIN/pg_ctl" promote -w -t "$START_TIMEOUT" -D "$data" >>"$(log_of pg-replica)" 2>&1 9>&- ||
    fail_component pg-replica "pg_ctl promote failed"
  [[ $(pg_role pg-replica) == primary ]] || fail_component pg-replica "still in recovery after promote"
  say "pg-replica: promoted to primary (port ${PORT[pg-replica]})"
}

cmd_psql() {
  local name=${1:-}
  [[ ${KIND[$name]:-} == pg ]] || die "psql: expected a Postgres component (pg-primary or pg-replica)"
  shift
  exec "$PG_BIN/psql" -X -h "$RUN_DIR" -p "${PORT[$name]}" -U postgres -d "$PG_DATABASE" "$@"
}

cmd_ports() {
  local c
  for c in "${COMPONENTS[@]}"; do printf '%s %s\n' "$c" "$(comp_ports "$c" | paste -sd' ')"; done
}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

main() {
  [[ $PORT_OFFSET =~ ^[0-9]+$ ]] || die "SPOKE_STACK_PORT_OFFSET must be a non-negative integer"
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    up | down | status | start | stop | promote-replica | psql | ports) ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 2 ;;
  esac
  if [[ $cmd != ports && $cmd != status && $EUID -ne 0 ]]; then
    die "run as root (Postgres runs as the postgres user through runuser)"
  fi
  case $cmd in
    up) cmd_up ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    promote-replica) cmd_promote_replica ;;
    psql) cmd_psql "$@" ;;
    ports) cmd_ports ;;
  esac
}

main "$@"
