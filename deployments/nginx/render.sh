#!/usr/bin/env bash
# Renders the NGINX template (deployments/nginx/nginx.conf) for one deployment shape: fills its
# @PLACEHOLDERS@ and prints the configuration on stdout. The one renderer behind every shape:
# deployments/local/stack.sh (loopback upstreams), deployments/generate.sh (docker-compose and
# kubernetes), tests/docs/test_deployments.py (nginx -t of each). Fails when a placeholder is left.
#
# Usage: render.sh --prefix DIR --error-log DEST --listen ADDR --max-body BYTES
#                  --upstream 'HOST:PORT [PARAMS]'... --health-upstream 'HOST:PORT [PARAMS]'...
#                  [--template FILE]
#   --upstream         one per spoke-server instance (API port), e.g. '127.0.0.1:8081 max_fails=1 fail_timeout=2s'
#   --health-upstream  the same instances' SPOKE_HEALTH_PORT, same form
#   --max-body         the instances' SPOKE_MAX_BODY_BYTES (an integer number of bytes)
set -euo pipefail

die() { printf 'render.sh: %s\n' "$*" >&2; exit 2; }

template=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/nginx.conf
prefix='' error_log='' listen='' max_body=''
ups=() hups=()
while (($#)); do
  (($# >= 2)) || die "$1 needs a value"
  case $1 in
    --prefix) prefix=$2 ;;
    --error-log) error_log=$2 ;;
    --listen) listen=$2 ;;
    --max-body) max_body=$2 ;;
    --upstream) ups+=("$2") ;;
    --health-upstream) hups+=("$2") ;;
    --template) template=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
[[ -n $prefix && -n $error_log && -n $listen ]] || die "--prefix, --error-log and --listen are required"
[[ $max_body =~ ^[0-9]+$ ]] || die "--max-body must be a number of bytes (SPOKE_MAX_BODY_BYTES), got '$max_body'"
((${#ups[@]} && ${#hups[@]})) || die "at least one --upstream and one --health-upstream"

# sed replacement text: escape the delimiter, & and backslashes.
esc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
# One "server ...;" line per instance, indented like the template's upstream blocks.
servers() {
  local s out=''
  for s in "$@"; do
    [[ $s != *';'* && $s != *$'\n'* ]] || die "upstream '$s' must not contain ';' or a newline"
    out+="${out:+\\n        }server $(esc "$s");"
  done
  printf '%s' "$out"
}

# Comment lines are left alone (the template documents its placeholders there).
out=$(sed -e "/^[[:space:]]*#/!{
                s|@PREFIX@|$(esc "$prefix")|g
                s|@ERROR_LOG@|$(esc "$error_log")|g
                s|@LISTEN@|$(esc "$listen")|g
                s|@UPSTREAMS@|$(servers "${ups[@]}")|g
                s|@HEALTH_UPSTREAMS@|$(servers "${hups[@]}")|g
                s|@MAX_BODY@|$max_body|g
              }" "$template")
if left=$(grep -v '^[[:space:]]*#' <<<"$out" | grep -E '@[A-Z_]+@'); then
  die "unrendered placeholder in $template: $left"
fi
printf '%s\n' "$out"
