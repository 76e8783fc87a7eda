#!/usr/bin/env bash
# Spoke's benchmark: every figure beside a baseline measured in the same run on the same machine,
# in interleaved rounds, printed as a table and written to bench/results/<date>.md.
# docs/performance.md explains each step and the latest table.
#
# Usage: bench/run.sh [--smoke] [--rounds N] [--duration SECONDS] [--keep] [--out FILE]
#   --smoke       a tiny version of every step (1 round of 1 s, 200 seeded modules) in < 1 minute;
#                 checks that each step works and errs nowhere, writes no file under bench/results/
#   --rounds N    rounds of each step (default 3); reported figures are medians over rounds
#   --duration S  seconds of each wrk measurement (default 5; pushes run 1.5x as long)
#   --keep        leave the stack and its directory (printed) instead of stopping and deleting it
#   --out FILE    write the table there instead of bench/results/<date>.md
#
# Steps (wrk -t2 for all; -c64 for the cached GETs, -c16 for the others):
#   1. cached version GET through NGINX + 3 instances  vs  NGINX -> NGINX serving the same bytes
#   2. the same GET straight to one instance           vs  that static NGINX directly
#   3. cold GET: a version never read before, Redis flushed: Postgres + S3
#   4. pushes/s from 8 CI-like clients (1-20 files, every push compiled by protoc)
#   5. GET /modules and .../versions/latest on 10,000 modules x 10 versions (seeded by SQL), after
#      one first read of every module's latest (itself recorded)
#   6. RSS per instance idle and under load; time from exec to /health/ready
#
# It starts its own stack (deployments/local/stack.sh, private SPOKE_STACK_DIR, a free port offset,
# 127.0.0.1 only) and its own two baseline NGINX servers, and stops all of them by PID at the end.
# Environment: SPOKE_SERVER_BIN (default: stack.sh builds build/spoke-server), or SPOKE_BUILD_DIR
# (its spoke-server); SPOKE_BENCH_DIR (work directory, default a new /tmp/spoke-bench.XXXXXX).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
STACK_SH=$REPO_DIR/deployments/local/stack.sh
BENCH_PY=$BENCH_DIR/lib/bench.py
WRK_LUA=$BENCH_DIR/lib/wrk.lua
# shellcheck source-path=SCRIPTDIR/..
. "$REPO_DIR/deployments/local/lib/packages.sh"

say() { printf '%s\n' "$*"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }

smoke=0 rounds=3 duration=5 keep=0 out=''
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --duration) duration=${2:?--duration needs seconds}; shift ;;
    --keep) keep=1 ;;
    --out) out=${2:?--out needs a file}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ $rounds =~ ^[1-9][0-9]*$ && $duration =~ ^[1-9][0-9]*$ ]] || die "--rounds and --duration take positive integers"
modules=10000 versions=10 clients=8 ready_runs=5
if ((smoke)); then
  rounds=1 duration=1 modules=200 ready_runs=1
fi
push_seconds=$((duration * 3 / 2))
((EUID == 0)) || die "run as root (the stack runs Postgres through runuser)"

spoke_ensure_packages "${SPOKE_BENCH_PACKAGES[@]}" python3 >&2
if [[ -z ${SPOKE_SERVER_BIN:-} && -n ${SPOKE_BUILD_DIR:-} ]]; then
  export SPOKE_SERVER_BIN=$SPOKE_BUILD_DIR/spoke-server
fi
SERVER_BIN=${SPOKE_SERVER_BIN:-$REPO_DIR/build/spoke-server}

WORK=${SPOKE_BENCH_DIR:-$(mktemp -d /tmp/spoke-bench.XXXXXX)}
mkdir -p "$WORK"
chmod 755 "$WORK"  # the postgres and nginx worker users traverse it
STACK=$WORK/stack
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
LOG=$WORK/bench.log

# ---------------------------------------------------------------------------------------------
# Ports: a random offset at which every stack port and the benchmark's own are free, kept under
# the ephemeral range like the tests' stacks (tests/lib/spoketest.py).

BASE_STATIC=8090 BASE_CEILING=8091 BASE_READY=8095  # + offset; READY uses two ports

port_free() { [[ -z $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

pick_offset() {
  local -a ports
  mapfile -t ports < <(SPOKE_STACK_PORT_OFFSET=0 bash "$STACK_SH" ports | awk '{for (i = 2; i <= NF; i++) print $i}')
  ports+=("$BASE_STATIC" "$BASE_CEILING" "$BASE_READY" $((BASE_READY + 1)))
  local top=0 p low high off ok
  for p in "${ports[@]}"; do ((p > top)) && top=$p; done
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  high=$((low - top - 1))
  for _ in $(seq 200); do
    off=$(((RANDOM % (high / 10)) * 10 + 100))
    ((off <= high)) || continue
    ok=1
    for p in "${ports[@]}"; do port_free $((p + off)) || { ok=0; break; }; done
    ((ok)) && { echo "$off"; return 0; }
  done
  die "no free port offset found"
}

OFFSET=$(pick_offset)
export SPOKE_STACK_DIR=$STACK SPOKE_STACK_PORT_OFFSET=$OFFSET
STATIC_PORT=$((BASE_STATIC + OFFSET)) CEILING_PORT=$((BASE_CEILING + OFFSET))
READY_PORT=$((BASE_READY + OFFSET))

# ---------------------------------------------------------------------------------------------
# Cleanup: the baseline NGINX servers by their PIDs, the stack by stack.sh (PIDs it recorded).

BASELINE_PIDS=()
cleanup() {
  local rc=$? pid
  for pid in "${BASELINE_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${BASELINE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -d $STACK ]]; then
    if ((keep)); then
      say "bench: stack left running in $STACK (offset $OFFSET); stop it with:" \
          "SPOKE_STACK_DIR=$STACK SPOKE_STACK_PORT_OFFSET=$OFFSET $STACK_SH down --purge"
    else
      bash "$STACK_SH" down --purge >>"$LOG" 2>&1 || say "bench: stack down failed (log: $LOG)" >&2
    fi
  fi
  if ((rc == 0 && !keep)) && [[ -z ${SPOKE_BENCH_DIR:-} ]]; then rm -rf -- "$WORK"; fi
  ((rc == 0)) || say "bench: failed; work directory $WORK (log: $LOG)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Machine conditions: how idle the CPUs were just before, and the load averages.

cpu_idle_pct() { # seconds -> idle % of all CPUs over that window
  local -a a b
  read -r -a a </proc/stat; sleep "$1"; read -r -a b </proc/stat
  local idle=$((b[4] + b[5] - a[4] - a[5])) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  ((total > 0)) && echo $((100 * idle / total)) || echo 0
}

meta() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/meta.tsv"; }
: >"$WORK/meta.tsv"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta smoke "$smoke"
meta rounds "$rounds"
meta duration "$duration"
meta push_seconds "$push_seconds"
meta modules "$modules"
meta versions "$versions"
meta clients "$clients"
meta cpus "$(nproc)"
meta cpu_model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
meta kernel "$(uname -r)"
meta wrk "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
meta nginx "$(nginx -v 2>&1 | sed 's/.*nginx\///')"
meta commit "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
meta dirty "$(git -C "$REPO_DIR" status --porcelain 2>/dev/null | grep -c . || true)"
meta idle_before "$(cpu_idle_pct 2)"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# The stack, the data and the baselines.

t_start=$(now_ms)
say "bench: stack in $STACK (port offset $OFFSET), log $LOG"
bash "$STACK_SH" up >>"$LOG" 2>&1 || die "stack.sh up failed (log: $LOG)"
set -a
# shellcheck disable=SC1091
. "$STACK/env"
set +a
LB=$SPOKE_LB_URL
IFS=, read -r -a INSTANCES <<<"$SPOKE_INSTANCE_URLS"
instance_pids() { local i; for i in 1 2 3; do cat "$STACK/pids/instance-$i.pid"; done; }
redis_port=$(bash "$STACK_SH" ports | awk '$1 == "redis-master" {print $2}')

mkdir -p "$WORK/www"
body_bytes=$(python3 "$BENCH_PY" setup "$LB" "$WORK/www")
meta body_bytes "$body_bytes"
GET_PATH=/modules/bench.demo/versions/1.0.0

say "bench: seeding $modules modules x $versions versions"
t_seed=$(now_ms)
python3 "$BENCH_PY" seed-sql "$modules" "$versions" >"$WORK/seed.sql"
bash "$STACK_SH" psql pg-primary -q -f "$WORK/seed.sql" >>"$LOG" 2>&1 || die "seeding failed (log: $LOG)"
# Index-only scans need the visibility map that a bulk insert leaves unset.
bash "$STACK_SH" psql pg-primary -q -c 'VACUUM (ANALYZE) modules, versions, version_files' >>"$LOG" 2>&1
meta seed_seconds "$(( ($(now_ms) - t_seed) / 1000 ))"

# Two NGINX servers on the same template's terms: STATIC serves the cached GET's exact bytes from
# a file; CEILING is deployments/nginx/nginx.conf rendered by the same renderer as the stack's
# load balancer, with STATIC as its only upstream. access_log is off on STATIC only (a static file
# server is the best case an application can be).
start_nginx() { # name conf
  local dir=$WORK/$1
  nginx -t -q -p "$dir/" -c "$2" -g 'daemon off;' >>"$LOG" 2>&1 || die "nginx -t rejected $2"
  setsid nginx -p "$dir/" -c "$2" -g 'daemon off;' </dev/null >>"$LOG" 2>&1 &
  BASELINE_PIDS+=($!)
}
wait_http() { # url
  local deadline=$(($(now_ms) + 10000))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' -m 2 "$1") == 200 ]]; do
    (($(now_ms) < deadline)) || die "$1 did not answer 200"
    sleep 0.05
  done
}
for d in static ceiling; do mkdir -p "$WORK/$d/tmp" "$WORK/$d/logs"; done
chmod -R o+rX "$WORK/www"
cat >"$WORK/static/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/static/nginx.pid;
error_log $WORK/static/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $WORK/static/tmp/client_body;
    proxy_temp_path $WORK/static/tmp/proxy;
    fastcgi_temp_path $WORK/static/tmp/fastcgi;
    uwsgi_temp_path $WORK/static/tmp/uwsgi;
    scgi_temp_path $WORK/static/tmp/scgi;
    server {
        listen 127.0.0.1:$STATIC_PORT;
        root $WORK/www;
        location / {
            default_type "application/json; charset=utf-8";
            try_files /body.json =404;
        }
    }
}
EOF
"$REPO_DIR/deployments/nginx/render.sh" --prefix "$WORK/ceiling" --error-log "$WORK/ceiling/error.log" \
  --listen "127.0.0.1:$CEILING_PORT" --max-body 16777216 \
  --upstream "127.0.0.1:$STATIC_PORT" --health-upstream "127.0.0.1:$STATIC_PORT" >"$WORK/ceiling/nginx.conf"
start_nginx static "$WORK/static/nginx.conf"
wait_http "http://127.0.0.1:$STATIC_PORT$GET_PATH"
start_nginx ceiling "$WORK/ceiling/nginx.conf"
wait_http "http://127.0.0.1:$CEILING_PORT$GET_PATH"
cmp -s <(curl -s "http://127.0.0.1:$CEILING_PORT$GET_PATH") <(curl -s "$LB$GET_PATH") ||
  die "the baseline does not serve the same bytes as the registry"

# ---------------------------------------------------------------------------------------------
# Measurements. Every result is one JSON line in $RESULTS: {"name", "round", ...figures}.

record() { # name round json
  python3 -c 'import json, sys; d = json.loads(sys.argv[3]); d.update(name=sys.argv[1], round=int(sys.argv[2])); print(json.dumps(d))' \
    "$1" "$2" "$3" >>"$RESULTS"
}
bench_json() { sed -n 's/^BENCH_JSON //p' | tail -n1; }

# wrk with bench/lib/wrk.lua: name round conns url [KEY=VALUE for the script...]
run_wrk() {
  local name=$1 round=$2 conns=$3 url=$4 json
  shift 4
  json=$(env "$@" BENCH_THREADS=2 wrk -t2 -c"$conns" -d"${duration}s" -s "$WRK_LUA" "$url" 2>>"$LOG" | bench_json)
  [[ -n $json ]] || die "wrk $name gave no result"
  record "$name" "$round" "$json"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
rss_all() { local p out=''; for p in $(instance_pids); do out+="${out:+,}$(rss_kb "$p")"; done; echo "[$out]"; }

# 6a. Idle RSS: the stack is up, the data pushed and seeded, nothing has loaded it yet.
sleep 1
record rss_idle 0 "{\"kb\": $(rss_all)}"

# Warm-up (not recorded): every instance caches the version, connections are open.
for u in "$LB" "${INSTANCES[@]}" "http://127.0.0.1:$CEILING_PORT" "http://127.0.0.1:$STATIC_PORT"; do
  wrk -t2 -c16 -d1s "$u$GET_PATH" >/dev/null 2>&1
done

# 1 + 2, interleaved: each round runs the four in a rotated order, so drift in the machine's other
# load hits the figures and their baselines alike. RSS under load is sampled mid-run.
targets=(ceiling app static direct)
declare -A URL=([ceiling]="http://127.0.0.1:$CEILING_PORT$GET_PATH" [app]="$LB$GET_PATH"
                [static]="http://127.0.0.1:$STATIC_PORT$GET_PATH" [direct]="${INSTANCES[0]}$GET_PATH")
say "bench: steps 1-2, cached GET vs NGINX baselines ($rounds rounds of ${duration}s each)"
for ((r = 1; r <= rounds; r++)); do
  for ((k = 0; k < 4; k++)); do
    t=${targets[$(((k + r - 1) % 4))]}
    if [[ $t == app ]]; then
      run_wrk "get_$t" "$r" 64 "${URL[$t]}" BENCH_MODE=fixed &
      wrk_pid=$!
      sleep "$(awk -v d="$duration" 'BEGIN {print d * 0.6}')"
      rss=$(rss_all)
      wait "$wrk_pid" || die "wrk get_app failed"
      record rss_load "$r" "{\"kb\": $rss}"
    else
      run_wrk "get_$t" "$r" 64 "${URL[$t]}" BENCH_MODE=fixed
    fi
  done
done

# 3. Cold: each request names a seeded version nobody has read (no L1 entry on any instance), and
# Redis is flushed before each round; rounds take disjoint ranges of versions.
say "bench: step 3, cold GET"
per_round=$((modules * 9 / rounds))
for ((r = 1; r <= rounds; r++)); do
  redis-cli -h 127.0.0.1 -p "$redis_port" FLUSHALL >>"$LOG" 2>&1
  run_wrk get_cold "$r" 16 "$LB" BENCH_MODE=cold BENCH_START=$(((r - 1) * per_round)) BENCH_MODULES="$modules"
done
meta cold_versions_per_round "$per_round"

# 4. Pushes through the load balancer.
say "bench: step 4, pushes from $clients clients (${push_seconds}s per round)"
for ((r = 1; r <= rounds; r++)); do
  json=$(python3 "$BENCH_PY" push "$LB" "$push_seconds" "$clients" "$r" | bench_json)
  [[ -n $json ]] || die "the push driver gave no result"
  record push "$r" "$json"
done

# 5. The module list and latest on the seeded registry. First every module's latest is read once
# (recorded: first reads are the cold path), then the rounds run the list and latest interleaved
# on a registry whose modules have all been read before.
say "bench: step 5, GET /modules and latest on $modules modules x $versions versions"
json=$(python3 "$BENCH_PY" sweep "$LB" "$modules" 16 | bench_json)
[[ -n $json ]] || die "the first-read sweep gave no result"
record latest_first 0 "$json"
for ((r = 1; r <= rounds; r++)); do
  run_wrk list "$r" 16 "$LB" BENCH_MODE=list BENCH_MODULES="$modules"
  run_wrk latest "$r" 16 "$LB" BENCH_MODE=latest BENCH_MODULES="$modules"
done

# 6b. Start to ready: a fourth instance with the stack's settings, started and stopped in turn.
say "bench: step 6, start to ready ($ready_runs starts)"
json=$(python3 "$BENCH_PY" ready "$SERVER_BIN" "$STACK/env" "$READY_PORT" "$ready_runs" | bench_json)
[[ -n $json ]] || die "the ready measurement gave no result"
record ready 0 "$json"

meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
meta total_seconds "$(( ($(now_ms) - t_start) / 1000 ))"

# ---------------------------------------------------------------------------------------------
# The table.

if [[ -z $out ]]; then
  if ((smoke)); then
    out=$WORK/smoke.md
  else
    mkdir -p "$BENCH_DIR/results"
    out=$BENCH_DIR/results/$(date -u +%Y-%m-%d-%H%M%S).md
  fi
fi
python3 "$BENCH_PY" report "$RESULTS" "$WORK/meta.tsv" "$out"
((smoke)) || say "bench: written to ${out#"$REPO_DIR"/}"
