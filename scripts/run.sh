#!/usr/bin/env bash
# The first command: set up everything and run vbranch on http://127.0.0.1:8080
# with the embedded defaults (SQLite in ./data, in-memory queue, one process).
set -euo pipefail
cd "$(dirname "$0")/.."
# Plain HTTP on loopback: cookies without Secure (a browser would not send them back) and no
# HSTS. Production keeps the default, secure cookies, behind HTTPS.
export VBRANCH_SECURE_COOKIES="${VBRANCH_SECURE_COOKIES:-false}"
bash scripts/setup.sh
.venv/bin/vbranch db upgrade
.venv/bin/vbranch demo --if-empty
exec .venv/bin/vbranch serve
