"""`vbranch serve`'s garbage collector settings (run in a child process: they are process-wide)."""

from __future__ import annotations

import subprocess
import sys

from vbranch_server.gc_tuning import THRESHOLDS

SCRIPT = """
import gc
import vbranch_server.app  # what a server loads before it starts
from vbranch_server.gc_tuning import settle_after_start
before = gc.get_freeze_count()
settle_after_start()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_what_a_server_loaded_is_frozen_and_collections_come_less_often() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    before, frozen, *thresholds = map(int, done.stdout.split())
    assert before == 0
    assert frozen > 10_000  # the modules, tables and catalogs a server keeps for its lifetime
    assert tuple(thresholds) == THRESHOLDS
    assert THRESHOLDS[0] > 700  # CPython's default, whose pauses this replaces
