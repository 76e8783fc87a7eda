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

# The Python integration/end-to-end tests use the standard library only.
SPOKE_TEST_PACKAGES=(python3)

# Load generators for bench/, not installed by default.
SPOKE_BENCH_PACKAGES=(wrk hyperfine)

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
