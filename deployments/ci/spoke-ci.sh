#!/usr/bin/env bash
# Spoke in CI: on pull/merge requests, validate a directory of .proto files and check that it
# breaks none of the module's compatibility rules; when a tag is built, push it as a module
# version (the tag is the version). The GitHub Action (deployments/ci/github/action.yml) and the
# GitLab CI template (deployments/ci/gitlab/spoke.gitlab-ci.yml) both run this script; any other
# CI can too.
#
# Usage: spoke-ci.sh MODE
#   validate  spoke validate SPOKE_DIR against the registry (nothing is stored), then the
#             breaking check below unless SPOKE_BREAKING=false
#   breaking  spoke breaking: SPOKE_DIR against SPOKE_MODULE's latest version (or SPOKE_AGAINST);
#             skipped, with a note, while the module is not in the registry yet
#   push      spoke push SPOKE_DIR as SPOKE_MODULE@SPOKE_VERSION (default: the tag being built)
#   auto      push when building a tag, otherwise (pull/merge requests, branches) validate
#   install   find or build spoke and print its path (GitHub: also the "spoke-bin" step output)
#
# Environment:
#   SPOKE_MODULE         module name (required for push and breaking)
#   SPOKE_DIR            directory with the .proto files (default .)
#   SPOKE_DEPENDENCIES   "module@version" dependencies, separated by spaces, commas or newlines
#   SPOKE_VERSION        version to push (default: the tag, GITHUB_REF_NAME or CI_COMMIT_TAG);
#                        when set, the breaking check compares as a push of it would
#   SPOKE_TAG_PREFIX     removed from the tag first ("billing/" turns billing/v1.2.0 into v1.2.0)
#   SPOKE_DESCRIPTION    module description (push)
#   SPOKE_BREAKING       false (or 0, no, off) leaves the breaking check out of validate
#   SPOKE_AGAINST        version the breaking check compares with (default: the latest)
#   SPOKE_REGISTRY_URL   registry base URL; SPOKE_TOKEN its bearer token (read by spoke itself)
#   SPOKE_BIN            the spoke binary (default: spoke on PATH, else built from this checkout)
#   SPOKE_CI_BUILD_DIR   where that build goes (default $RUNNER_TEMP or $TMPDIR, /spoke-ci-build)
# CI variables read: GITHUB_REF, GITHUB_REF_TYPE, GITHUB_REF_NAME, GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY, GITHUB_ACTIONS (GitHub Actions: breaking changes also become error
# annotations on the lines they are about); CI_COMMIT_TAG (GitLab CI). spoke reads the
# GITHUB_* / CI_* source variables itself.
#
# Exit status: spoke's (0 ok, 1 error, 2 usage, 3 conflict, 4 not found, 5 registry unavailable,
# 6 breaking change).
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

# Off when SPOKE_BREAKING says so.
breaking_enabled() {
  case ${SPOKE_BREAKING:-true} in
    false | 0 | no | off | FALSE | False | NO | No | OFF | Off) return 1 ;;
    *) return 0 ;;
  esac
}

# A workflow command's value (GitHub's escaping); with a second argument, a property's.
gh_escape() { # text [property]
  local s=${1//'%'/%25}
  s=${s//$'\r'/%0D}
  s=${s//$'\n'/%0A}
  if [[ -n ${2:-} ]]; then
    s=${s//:/%3A}
    s=${s//,/%2C}
  fi
  printf '%s' "$s"
}

# spoke breaking's lines ("file:line:column: RULE message", buf's format) pass through. In
# GitHub Actions each also becomes an error annotation on that line of the file (paths are
# relative to SPOKE_DIR, annotations want them relative to the checkout), and the job summary
# lists them.
annotate() {
  local line file lineno col rule msg props n=0 prefix=${SPOKE_DIR:-.}
  prefix=${prefix%/}/
  if [[ $prefix == ./ ]]; then prefix=; fi
  local re='^([^:]+)(:([0-9]+))?(:([0-9]+))?: ([^ ]+) ?(.*)$'
  while IFS= read -r line; do
    printf '%s\n' "$line"
    [[ ${GITHUB_ACTIONS:-} == true && $line =~ $re ]] || continue
    file=${BASH_REMATCH[1]} lineno=${BASH_REMATCH[3]} col=${BASH_REMATCH[5]}
    rule=${BASH_REMATCH[6]} msg=${BASH_REMATCH[7]}
    props=
    if [[ $file != '<input>' ]]; then props="file=$(gh_escape "$prefix$file" p),"; fi
    if [[ -n $lineno ]]; then props+="line=$lineno,"; fi
    if [[ -n $col ]]; then props+="col=$col,"; fi
    props+="title=$(gh_escape "$rule" p)"
    printf '::error %s::%s\n' "$props" "$(gh_escape "$rule ${msg:-}")"
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
      if ((n == 0)); then
        printf "Breaking changes in \`%s\`:\n\n" "$SPOKE_MODULE" >>"$GITHUB_STEP_SUMMARY"
      fi
      printf -- "- \`%s\`\n" "${line//\`/\'}" >>"$GITHUB_STEP_SUMMARY"
    fi
    n=$((n + 1))
  done
}

do_breaking() {
  local spoke=$1 args rc=0 err
  [[ -n ${SPOKE_MODULE:-} ]] || die "SPOKE_MODULE is not set" 2
  # A module the registry does not have yet has nothing to break: its first version is the
  # baseline the next ones are compared with.
  err=$("$spoke" --quiet show "$SPOKE_MODULE" 2>&1 >/dev/null) || rc=$?
  if ((rc == 4)); then
    say "$SPOKE_MODULE is not in the registry yet: no breaking-change check (a first version" \
      "cannot break anything)"
    return 0
  elif ((rc != 0)); then
    printf '%s\n' "$err" >&2
    return "$rc"
  fi
  common_args args
  args+=(--module "$SPOKE_MODULE")
  if [[ -n ${SPOKE_AGAINST:-} ]]; then args+=(--against "$SPOKE_AGAINST"); fi
  if [[ -n ${SPOKE_VERSION:-} ]]; then args+=(--version "$SPOKE_VERSION"); fi
  local what="$SPOKE_MODULE's latest version"
  if [[ -n ${SPOKE_AGAINST:-} ]]; then
    what="$SPOKE_MODULE@$SPOKE_AGAINST"
  elif [[ -n ${SPOKE_VERSION:-} ]]; then
    what="what a push of $SPOKE_MODULE@$SPOKE_VERSION is compared with"
  fi
  say "checking ${SPOKE_DIR:-.} for breaking changes against $what"
  "$spoke" breaking "${args[@]}" | annotate || rc=$?
  return "$rc"
}

do_validate() {
  local spoke=$1 args
  common_args args
  say "validating ${SPOKE_DIR:-.} against ${SPOKE_REGISTRY_URL:-the default registry}"
  "$spoke" validate "${args[@]}"
  if ! breaking_enabled; then
    say "SPOKE_BREAKING=${SPOKE_BREAKING}: no breaking-change check"
  elif [[ -z ${SPOKE_MODULE:-} ]]; then
    say "SPOKE_MODULE is not set: no breaking-change check"
  else
    do_breaking "$spoke"
  fi
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
    validate | breaking | push | auto | install) ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; return 0 ;;
    *) die "usage: spoke-ci.sh validate|breaking|push|auto|install (got \"$mode\")" 2 ;;
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
