"""Server-side staff sessions: the cookie holds a random token, the database only its hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.auth.passwords import upgraded_hash, verify_password
from vbranch_server.db.models import StaffSession, StaffUser

#: The cookie's base name: with secure cookies on (the default) the browser gets
#: `__Host-vb_session` (web/cookies.py), over plain-HTTP development `vb_session`.
SESSION_COOKIE = "vb_session"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate(session: AsyncSession, username: str, password: str) -> StaffUser | None:
    """The active user with this password, or None. Ends the session's transaction before the
    password is checked: a verification takes a quarter of a second in a thread, and a burst of
    logins each holding a database connection through it would take the whole pool (SQLite's is
    one connection) from every other request."""
    user = await session.scalar(select(StaffUser).where(StaffUser.username == username))
    await session.commit()
    # Verified first, even for an unknown or inactive user: the answer takes as long either way.
    if not await verify_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.active:
        return None
    stored = user.password_hash
    new_hash = await upgraded_hash(stored, password)
    if new_hash is not None:
        # Only if the hash is still the one verified: a password changed meanwhile stays changed.
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id, StaffUser.password_hash == stored)
            .values(password_hash=new_hash)
        )
    return user


async def open_session(
    session: AsyncSession, user: StaffUser, now: datetime, ttl_seconds: int
) -> tuple[str, StaffSession]:
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=_token_hash(token),
        user=user,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    # Expired sessions are swept at each login rather than by a separate job.
    await session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
    await session.flush()
    return token, row


def session_key(token: str) -> str:
    """Names a session (its sockets are kept under it) without revealing the cookie's token."""
    return _token_hash(token)[:32]


async def find_session(session: AsyncSession, token: str, now: datetime) -> StaffSession | None:
    row = await session.get(StaffSession, _token_hash(token))
    if row is None or row.expires_at <= now or not row.user.active:
        return None
    return row


async def close_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))
