#!/usr/bin/env bash
# The second command: set up everything the tests need and run the whole suite
# (lint, import layering and pytest; Redis and PostgreSQL tests use the real services).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export REDIS_URL_TEST="${REDIS_URL_TEST:-redis://127.0.0.1:6379/15}"
export POSTGRES_URL_TEST="${POSTGRES_URL_TEST:-postgresql://postgres@127.0.0.1:5432/test}"
exec .venv/bin/python -m pytest "$@"
