#!/usr/bin/env bash
# The second command: set up everything the tests need and run the whole suite
# (lint, import layering and pytest; Redis and PostgreSQL tests use the real services).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# The browser tests drive the system's Chromium (Playwright's own browser download cannot work
# everywhere); install it when it is missing and this user may.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing Chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export REDIS_URL_TEST="${REDIS_URL_TEST:-redis://127.0.0.1:6379/15}"
export POSTGRES_URL_TEST="${POSTGRES_URL_TEST:-postgresql://postgres@127.0.0.1:5432/test}"
exec .venv/bin/python -m pytest "$@"
