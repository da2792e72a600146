"""Argon2id password hashes, computed off the event loop.

One argon2 computation holds a core and 64 MiB for about a quarter of a second: on the event
loop it would stall every request and Socket.IO relay of the process. So each runs in a thread
of a pool of `MAX_CONCURRENT_HASHES`, which is also the bound on how many run at once: a burst of
logins queues there (each queued one is dropped if its request goes away) while the loop keeps
serving. A pool rather than a semaphore around the default executor: a request cancelled while
its hash runs cannot free a slot the still-running thread occupies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")

MIN_PASSWORD_LENGTH = 10

#: Argon2 computations at once in a process: one per core of the 2-core servers it runs on.
MAX_CONCURRENT_HASHES = 2

#: The parameters new hashes get; a login upgrades a stored hash made with others.
HASHER = PasswordHasher()

_POOL = ThreadPoolExecutor(max_workers=MAX_CONCURRENT_HASHES, thread_name_prefix="argon2")


async def _off_loop(work: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_POOL, work)


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Made with the current parameters, like every up-to-date stored hash: verifying against it
    # when the user does not exist costs what a wrong password costs.
    return hasher.hash("not-a-real-password-only-for-timing")


async def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    hasher = HASHER
    return await _off_loop(lambda: hasher.hash(password))


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no stored hash (no such user) a real verification still
    runs, so "unknown user" and "wrong password" take the same time."""
    hasher = HASHER

    def verify() -> bool:
        try:
            return hasher.verify(stored_hash or _dummy_hash(hasher), password)
        except (VerificationError, InvalidHashError):
            return False

    return await _off_loop(verify) and stored_hash is not None


async def upgraded_hash(stored_hash: str, password: str) -> str | None:
    """A new hash of the (verified) `password` if `stored_hash` was made with other parameters
    than new hashes get; None when it is current. No length rule: it is already the password."""
    hasher = HASHER
    if not hasher.check_needs_rehash(stored_hash):
        return None
    return await _off_loop(lambda: hasher.hash(password))
