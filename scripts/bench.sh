#!/usr/bin/env bash
# The project's benchmark lives in scripts/bench/run.sh (issue #12): nginx and haproxy baselines, pinned
# and unpinned layouts, GET, 1 MiB POST, the sign route, idle-connection memory and Redis against memory.
# This name stays for muscle memory and old docs:
#
#   scripts/bench.sh [run.sh arguments]     e.g. scripts/bench.sh --quick
#   scripts/bench.sh REQUESTS [ROUNDS]      the old form: ROUNDS is kept; runs are now timed, not counted,
#                                           so REQUESTS is ignored (use --duration SECONDS)
set -euo pipefail
here=$(dirname "$0")
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  echo "scripts/bench.sh: REQUESTS ($1) is ignored; runs last --duration seconds (see scripts/bench/run.sh --help)" >&2
  rounds=${2:-3}
  exec "$here/bench/run.sh" --rounds "$rounds"
fi
exec "$here/bench/run.sh" "$@"
