# shellcheck shell=bash disable=SC2034  # the lists are used by the scripts that source this file
# Debian packages Spoke needs to build, test and run its local stack, and one function that installs
# the missing ones. Sourced by deployments/local/stack.sh and tests/run.sh.

# Compiler and libraries for spoke-server and the spoke CLI.
SPOKE_BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libpq-dev libhiredis-dev libjansson-dev libcurl4-openssl-dev libssl-dev
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
)

# Servers the local stack runs as plain processes, plus the tools its scripts call.
# (postgresql-15 is named with --no-upgrade so an already installed server is left alone.)
SPOKE_SERVER_PACKAGES=(
  postgresql-15 redis-server redis-sentinel redis-tools nginx prometheus
  curl iproute2 util-linux
)

# The Python integration/end-to-end tests use the standard library only. The CLI tests make git
# work trees (source info, CI checkouts) and render the man page (man -l). The deployment
# manifests check (tests/docs/test_deployments.py) parses YAML with python3-yaml.
SPOKE_TEST_PACKAGES=(python3 git man-db python3-yaml clang-format)

# Load generators for bench/, not installed by default.
SPOKE_BENCH_PACKAGES=(wrk hyperfine)

# npm packages of the local stack's Node helpers, pinned (name@version), installed on demand by
# spoke_ensure_npm_packages into SPOKE_NODE_DIR. The OTLP receiver decodes with the OTLP protobuf
# schema that @opentelemetry/otlp-transformer ships.
SPOKE_NPM_OTLP_PACKAGES=(@opentelemetry/otlp-transformer@0.57.2)
# The local stack's S3 server: it verifies SigV4 signatures (unlike s3rver 3.x), credentials
# S3RVER/S3RVER; started by deployments/local/s3rver.js.
SPOKE_NPM_S3_PACKAGES=(@20minutes/s3rver@5.0.0)
# buf, the oracle of the breaking-change tests: tests/fixtures/breaking/regen.py records its
# verdicts and tests/oracle/ compares the evolution engine with it (binary node_modules/.bin/buf).
SPOKE_NPM_BUF_PACKAGES=(@bufbuild/buf@1.75.0)

# Project-local, git-ignored npm directory shared by every Node helper; programs find the packages
# with NODE_PATH=$SPOKE_NODE_DIR/node_modules.
SPOKE_NODE_DIR=${SPOKE_NODE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/.cache/node}

# Installs the npm packages among "$@" (name@version) that are missing or at another version into
# SPOKE_NODE_DIR. Does nothing (and needs no network) when all are there. Installs Debian's nodejs
# and npm first when there is no npm at all. Serialised by a lock in the directory.
spoke_ensure_npm_packages() {
  local dir=$SPOKE_NODE_DIR spec name want have missing=()
  for spec in "$@"; do
    name=${spec%@*} want=${spec##*@}
    have=''
    if [[ -f $dir/node_modules/$name/package.json ]]; then
      have=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' \
               "$dir/node_modules/$name/package.json" | head -n 1)
    fi
    [[ $have == "$want" ]] || missing+=("$spec")
  done
  ((${#missing[@]} == 0)) && return 0
  if ! command -v npm >/dev/null 2>&1; then
    spoke_ensure_packages nodejs npm || return 1
  fi
  mkdir -p "$dir"
  (
    flock -w 600 8 || { echo "error: timed out waiting for $dir/.lock" >&2; exit 1; }
    # A package.json of its own keeps npm from pruning what other helpers installed here.
    [[ -f $dir/package.json ]] || printf '{"private": true}\n' >"$dir/package.json"
    echo "installing npm packages into $dir: ${missing[*]}" >&2
    timeout 600 npm install --prefix "$dir" --no-audit --no-fund --save-exact --loglevel=error \
      "${missing[@]}" >&2
  ) 8>>"$dir/.lock"
}

# Prints the packages among "$@" that are not installed, one per line.
spoke_missing_packages() {
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
              awk '$2 == "ii" { print $1 }') || true
  local p
  for p in "$@"; do
    grep -qxF -- "${p%%:*}" <<<"$installed" || printf '%s\n' "$p"
  done
}

# Installs the packages among "$@" that are missing. Does nothing (and needs no network) when all
# are present; otherwise runs apt-get update once and installs only the missing ones.
spoke_ensure_packages() {
  local missing
  mapfile -t missing < <(spoke_missing_packages "$@")
  ((${#missing[@]} == 0)) && return 0
  echo "installing missing packages: ${missing[*]}" >&2
  local sudo=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "error: missing packages (${missing[*]}) and not root; install them first" >&2
      return 1
    fi
  fi
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-upgrade --no-install-recommends \
    "${missing[@]}" >&2
  mapfile -t missing < <(spoke_missing_packages "$@")
  if ((${#missing[@]} != 0)); then
    echo "error: still missing after apt-get install: ${missing[*]}" >&2
    return 1
  fi
}
