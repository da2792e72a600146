"""Server-side staff sessions: the cookie holds a random token, the database only its hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.auth.passwords import verify_password
from vbranch_server.db.models import StaffSession, StaffUser

#: The cookie's base name: with secure cookies on (the default) the browser gets
#: `__Host-vb_session` (web/cookies.py), over plain-HTTP development `vb_session`.
SESSION_COOKIE = "vb_session"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate(session: AsyncSession, username: str, password: str) -> StaffUser | None:
    user = await session.scalar(select(StaffUser).where(StaffUser.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        return None
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
