#!/usr/bin/env bash
# Shared setup for run.sh and test.sh: a virtual environment with the project, and the npm libraries.
# Safe to run again: each step only does what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "vbranch needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2; exit 1; }
command -v npm >/dev/null || { echo "vbranch needs npm (Node.js) for the browser libraries" >&2; exit 1; }

extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating the virtual environment in .venv"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
# Reinstall only when the project's requirements changed since the last install.
stamp=".venv/.vbranch-installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing vbranch${extras:+ with [$extras]} into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing the browser libraries (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
