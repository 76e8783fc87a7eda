#!/usr/bin/env bash
# Spoke in CI: validate a directory of .proto files on pull/merge requests, push it as a module
# version when a tag is built (the tag is the version). The GitHub Action
# (deployments/ci/github/action.yml) and the GitLab CI template
# (deployments/ci/gitlab/spoke.gitlab-ci.yml) both run this script; any other CI can too.
#
# Usage: spoke-ci.sh MODE
#   validate  spoke validate SPOKE_DIR against the registry (nothing is stored)
#   push      spoke push SPOKE_DIR as SPOKE_MODULE@SPOKE_VERSION (default: the tag being built)
#   auto      push when building a tag, otherwise (pull/merge requests, branches) validate
#   install   find or build spoke and print its path (GitHub: also the "spoke-bin" step output)
#
# Environment:
#   SPOKE_MODULE         module name (required)
#   SPOKE_DIR            directory with the .proto files (default .)
#   SPOKE_DEPENDENCIES   "module@version" dependencies, separated by spaces, commas or newlines
#   SPOKE_VERSION        version to push (default: the tag, GITHUB_REF_NAME or CI_COMMIT_TAG)
#   SPOKE_TAG_PREFIX     removed from the tag first ("billing/" turns billing/v1.2.0 into v1.2.0)
#   SPOKE_DESCRIPTION    module description (push)
#   SPOKE_REGISTRY_URL   registry base URL; SPOKE_TOKEN its bearer token (read by spoke itself)
#   SPOKE_BIN            the spoke binary (default: spoke on PATH, else built from this checkout)
#   SPOKE_CI_BUILD_DIR   where that build goes (default $RUNNER_TEMP or $TMPDIR, /spoke-ci-build)
# CI variables read: GITHUB_REF, GITHUB_REF_TYPE, GITHUB_REF_NAME, GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY (GitHub Actions); CI_COMMIT_TAG (GitLab CI). spoke reads the GITHUB_* / CI_*
# source variables itself.
#
# Exit status: spoke's (0 ok, 1 error, 2 usage, 3 conflict, 4 not found, 5 registry unavailable).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)

say() { printf 'spoke-ci: %s\n' "$*" >&2; }
die() { printf 'spoke-ci: error: %s\n' "$*" >&2; exit "${2:-1}"; }

# GitHub step outputs, when running as a step.
output() { # name value
  if [[ -n ${GITHUB_OUTPUT:-} ]]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi
}

# A top-level string member of spoke's --json output (pretty-printed, two-space indent).
json_field() { # json name
  sed -n "s/^  \"$2\": \"\\([^\"]*\\)\",\\{0,1\\}\$/\\1/p" <<<"$1" | head -n 1
}

# The tag being built, or nothing.
ci_tag() {
  if [[ -n ${CI_COMMIT_TAG:-} ]]; then
    printf '%s' "$CI_COMMIT_TAG"
  elif [[ ${GITHUB_REF_TYPE:-} == tag && -n ${GITHUB_REF_NAME:-} ]]; then
    printf '%s' "$GITHUB_REF_NAME"
  elif [[ ${GITHUB_REF:-} == refs/tags/* ]]; then
    printf '%s' "${GITHUB_REF#refs/tags/}"
  fi
}

# spoke from SPOKE_BIN, PATH, or a build of this checkout (packages from the project's list).
find_spoke() {
  if [[ -n ${SPOKE_BIN:-} ]]; then
    [[ -x $SPOKE_BIN ]] || die "SPOKE_BIN=$SPOKE_BIN is not an executable file"
    printf '%s' "$SPOKE_BIN"
    return
  fi
  if command -v spoke >/dev/null 2>&1; then
    command -v spoke
    return
  fi
  [[ -f $SOURCE_DIR/CMakeLists.txt && -f $SOURCE_DIR/src/cli/main.c ]] ||
    die "spoke is not on PATH and $SOURCE_DIR is not a Spoke source tree; set SPOKE_BIN"
  local build=${SPOKE_CI_BUILD_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/spoke-ci-build}
  if [[ ! -x $build/spoke ]]; then
    say "building spoke from $SOURCE_DIR in $build"
    # shellcheck source-path=SCRIPTDIR/../..
    . "$SOURCE_DIR/deployments/local/lib/packages.sh"
    spoke_ensure_packages "${SPOKE_BUILD_PACKAGES[@]}" >&2
    cmake -S "$SOURCE_DIR" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPOKE_WERROR=OFF >&2
    cmake --build "$build" --target spoke -j "$(nproc 2>/dev/null || echo 2)" >&2
  fi
  printf '%s' "$build/spoke"
}

common_args() {
  local -n _args=$1
  _args=(--dir "${SPOKE_DIR:-.}")
  local deps=() dep list=${SPOKE_DEPENDENCIES:-}
  IFS=$' \t\n' read -r -d '' -a deps <<<"${list//,/ }" || true
  for dep in "${deps[@]}"; do
    _args+=(--dep "$dep")
  done
}

do_validate() {
  local spoke=$1 args
  common_args args
  say "validating ${SPOKE_DIR:-.} against ${SPOKE_REGISTRY_URL:-the default registry}"
  "$spoke" validate "${args[@]}"
}

do_push() {
  local spoke=$1 args tag version out rc=0
  [[ -n ${SPOKE_MODULE:-} ]] || die "SPOKE_MODULE is not set" 2
  tag=$(ci_tag)
  version=${SPOKE_VERSION:-}
  if [[ -z $version ]]; then
    [[ -n $tag ]] || die "not building a tag and SPOKE_VERSION is not set: nothing to push" 2
    version=${tag#"${SPOKE_TAG_PREFIX:-}"}
  fi
  common_args args
  args+=(--module "$SPOKE_MODULE" --version "$version")
  if [[ -n ${SPOKE_DESCRIPTION:-} ]]; then args+=(--description "$SPOKE_DESCRIPTION"); fi
  say "pushing ${SPOKE_DIR:-.} as $SPOKE_MODULE@$version"
  out=$("$spoke" push --json "${args[@]}") || rc=$?
  if ((rc != 0)); then
    return "$rc"
  fi
  # spoke's --json output: the pushed Version (canonical version, digest), two-space indented,
  # plus "status" (created / unchanged).
  local digest status canonical
  digest=$(json_field "$out" digest)
  status=$(json_field "$out" status)
  canonical=$(json_field "$out" version)
  version=${canonical:-$version}
  printf '%s@%s %s (%s)\n' "$SPOKE_MODULE" "$version" "$digest" "${status:-pushed}"
  output version "$version"
  output digest "$digest"
  output status "$status"
  if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    printf 'Pushed %s (%s, %s)\n' "\`$SPOKE_MODULE@$version\`" "$digest" "$status" \
      >>"$GITHUB_STEP_SUMMARY"
  fi
}

main() {
  local mode=${1:-}
  case $mode in
    validate | push | auto | install) ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; return 0 ;;
    *) die "usage: spoke-ci.sh validate|push|auto|install (got \"$mode\")" 2 ;;
  esac
  local spoke
  spoke=$(find_spoke)
  if [[ $mode == install ]]; then
    output spoke-bin "$spoke"
    printf '%s\n' "$spoke"
    return 0
  fi
  if [[ $mode == auto ]]; then
    if [[ -n $(ci_tag) ]]; then mode=push; else mode=validate; fi
    say "mode auto: $mode"
  fi
  "do_$mode" "$spoke"
}

main "$@"
