#!/usr/bin/env bash
# The first command: set up everything and run vbranch on http://127.0.0.1:8080
# with the embedded defaults (SQLite in ./data, in-memory queue, one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/vbranch db upgrade
.venv/bin/vbranch demo --if-empty
exec .venv/bin/vbranch serve
