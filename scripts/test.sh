#!/usr/bin/env bash
# `make test`: the web UI's Vitest tests, then every tier in one pytest run. Exit code 5 (no tests collected) is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
# The web UI's component tests (Vitest), with node_modules from the lock file when it changed.
make --no-print-directory ui-test || exit 1
.venv/bin/python -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "no tests were collected: failing" >&2
  exit 1
fi
exit "$code"
