#!/usr/bin/env bash
# The test command: the whole suite, on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m pytest -q "$@"
