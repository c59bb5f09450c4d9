#!/usr/bin/env bash
# Install a genvm-policy policy onto a genlayer node's GenVM tree, check it, or take it off.
#
# usage:
#   ./integrate.sh PATH --policy FILE [--overlay FILE] [--version-dir NAME] [--dry-run]
#                       [--reload [URL]] [--allow-remote] [--wait SECONDS] [--follow-symlinks]
#                       [--allow-unroutable CLASS]...
#   ./integrate.sh PATH --revert [--version-dir NAME] [--dry-run] [--reload [URL]] [--wait SECONDS]
#   ./integrate.sh PATH --status [--version-dir NAME] [--overlay FILE] [--wait SECONDS]
#   ./integrate.sh --help
#
# PATH is a node root (e.g. /opt/genlayer-node), one version folder of it, a GenVM tree or
# its config/genvm-module-llm.yaml. Away from a checkout, run `genvm-policy install` itself.
# The script prepares the project's virtual environment quietly, then runs, with every
# option after the mode passed through unchanged:
#   install:  genvm-policy install --node-root PATH --policy FILE [...]
#   revert:   genvm-policy revert  --node-root PATH [...]
#   status:   genvm-policy status  --node-root PATH [...]
# See docs/INSTALL.md for what each step changes on disk and how revert restores it.
# GENVM_POLICY, when set, names the genvm-policy program to run instead of the venv's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  sed -n '4,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

if [ $# -eq 0 ]; then
  usage >&2
  exit 2
fi
case "$1" in
  -h|--help) usage; exit 0 ;;
  -*) echo "integrate.sh: error: PATH must come first (got \`$1\`)" >&2; usage >&2; exit 2 ;;
esac
node_path="$1"
shift

mode=install
args=()
for arg in "$@"; do
  case "$arg" in
    --revert) mode=revert ;;
    --status) mode=status ;;
    -h|--help) usage; exit 0 ;;
    *) args+=("$arg") ;;
  esac
done

program="${GENVM_POLICY:-}"
if [ -z "$program" ]; then
  log="$(mktemp)"
  if ! venv="$("$root/scripts/env" 2>"$log")"; then
    echo "integrate.sh: error: setting up the virtual environment failed:" >&2
    cat "$log" >&2
    rm -f "$log"
    exit 2
  fi
  rm -f "$log"
  program="$venv/bin/genvm-policy"
fi
exec "$program" "$mode" --node-root "$node_path" ${args[@]+"${args[@]}"}
