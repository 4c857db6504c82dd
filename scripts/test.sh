#!/usr/bin/env bash
# `make test`, everything CI runs, in order: the checks, the unit layer under coverage,
# the integration, end-to-end and fault suites, then the store's contract again on motor
# and on FerretDB. FerretDB's build (go, ~3 min once; only the last stage needs it) runs
# beside the checks and the unit tests, which keep one core of two busy, at a lower
# priority, and is waited for before anything starts a server.
set -euo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
pytest=(.venv/bin/python -m pytest)
mkdir -p .lmp
build_log=.lmp/ferretdb-build.log
setsid nice -n 10 .venv/bin/python -m tooling.infra.ferretdb install >"$build_log" 2>&1 &
build=$!  # its own process group, go included, stopped with the script if a step fails
trap 'kill -- "-$build" 2>/dev/null || true' EXIT

"$make" --no-print-directory lint typecheck docs
"${pytest[@]}" -m unit --cov --cov-report=
"$make" --no-print-directory coverage-report
if ! wait "$build"; then
  cat "$build_log" >&2
  echo "FerretDB could not be built (above); its stage cannot run" >&2
  exit 1
fi
trap - EXIT
echo "FerretDB, built beside the unit tests: $(tail -n 1 "$build_log")"
"${pytest[@]}" -m "integration or e2e or faults" --durations=25
"$make" --no-print-directory test-motor
"$make" --no-print-directory test-ferretdb
