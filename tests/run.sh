#!/usr/bin/env bash
# Spoke's whole test suite, as CI runs it (.ci/run):
#   1. install missing Debian packages (the list shared with deployments/local/stack.sh) and buf
#      (the oracle of tests/oracle/, into .cache/node)
#   2. build build/ (RelWithDebInfo) and run ctest there
#   3. build build-asan/ (Debug, -DSPOKE_SANITIZE=ON: AddressSanitizer + UBSan) and run the whole
#      suite again there; integration tests then run the sanitized spoke-server
#
# Usage: tests/run.sh [--no-sanitize] [CTEST ARGS...]
#   CTEST ARGS are passed to both ctest runs, e.g. `tests/run.sh -R unit` or `-L integration`.
#   --no-sanitize, or SPOKE_TEST_SANITIZE=0, skips step 3 for quick local runs.
#   CTEST_PARALLEL_LEVEL defaults to the number of CPUs (Python tests serialise themselves on
#   the stack_ports resource lock).
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR/..
. "$REPO_DIR/deployments/local/lib/packages.sh"

sanitize=${SPOKE_TEST_SANITIZE:-1}
ctest_args=()
for arg in "$@"; do
  case $arg in
    --no-sanitize) sanitize=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) ctest_args+=("$arg") ;;
  esac
done
jobs=$(nproc)
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-$jobs}

summary=()
run_start=$SECONDS

phase() { # title command...
  local title=$1 t0=$SECONDS rc=0
  shift
  printf '\n==> %s\n' "$title"
  "$@" || rc=$?
  local took=$((SECONDS - t0))
  if ((rc == 0)); then
    summary+=("$(printf '%-34s ok      %4ds' "$title" "$took")")
    printf '==> %s: ok (%ds)\n' "$title" "$took"
  else
    summary+=("$(printf '%-34s FAILED  %4ds' "$title" "$took")")
    printf '==> %s: FAILED (exit %d, %ds)\n' "$title" "$rc" "$took"
    finish 1
  fi
}

finish() {
  printf '\n==> summary\n'
  printf '  %s\n' "${summary[@]}"
  printf '  total %ds\n' $((SECONDS - run_start))
  exit "$1"
}

# (Run through `phase`, which shellcheck cannot follow.)
# shellcheck disable=SC2317
build() { # dir cmake-args...
  local dir=$1
  shift
  cmake -S "$REPO_DIR" -B "$dir" "$@" && cmake --build "$dir" -j "$jobs"
}

# shellcheck disable=SC2317
run_ctest() { # dir
  (cd "$1" && ctest --output-on-failure --no-tests=error "${ctest_args[@]}")
}

# shellcheck disable=SC2317
run_ctest_sanitized() {
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_ctest "$REPO_DIR/build-asan"
}

# shellcheck disable=SC2317
packages() {
  spoke_ensure_packages \
    "${SPOKE_BUILD_PACKAGES[@]}" "${SPOKE_SERVER_PACKAGES[@]}" "${SPOKE_TEST_PACKAGES[@]}" &&
    spoke_ensure_npm_packages "${SPOKE_NPM_BUF_PACKAGES[@]}"
}

phase "packages" packages
phase "build (RelWithDebInfo)" build "$REPO_DIR/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPOKE_SANITIZE=OFF
phase "ctest build/" run_ctest "$REPO_DIR/build"
if [[ $sanitize != 0 ]]; then
  phase "build-asan (Debug, ASan+UBSan)" build "$REPO_DIR/build-asan" -DCMAKE_BUILD_TYPE=Debug -DSPOKE_SANITIZE=ON
  phase "ctest build-asan/" run_ctest_sanitized
else
  summary+=("$(printf '%-34s skipped (SPOKE_TEST_SANITIZE=0)' "sanitizer pass")")
fi
finish 0
