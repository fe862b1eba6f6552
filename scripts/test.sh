#!/usr/bin/env bash
# `make test`: the web UI (built, and its Vitest tests), then every tier in one pytest run. Exit code 5 (no
# tests collected) is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
# The web UI: built (the browser test drives it through the gateway) and its Vitest component tests run;
# node_modules come from the lock file, again only when it changed.
make --no-print-directory ui ui-test || exit 1
.venv/bin/python -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "no tests were collected: failing" >&2
  exit 1
fi
exit "$code"
