"""Creating staff accounts with their role and skills (the CLI's `user add`; admin pages later)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.auth.passwords import hash_password
from vbranch_server.db.models import ServiceCategory, StaffRole, StaffUser
from vbranch_server.i18n import LANGUAGES
from vbranch_signaling.plain_text import clean_line

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class StaffAccountError(ValueError):
    pass


async def add_staff_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: StaffRole,
    display_name: str,
    languages: Sequence[str],
    categories: Sequence[str],
    sign_language: bool,
    now: datetime,
) -> StaffUser:
    if not USERNAME_PATTERN.fullmatch(username):
        raise StaffAccountError(
            "a username is 2-64 lowercase letters, digits, dots, dashes or underscores"
        )
    unknown_languages = sorted(set(languages) - set(LANGUAGES))
    if unknown_languages:
        raise StaffAccountError(f"unknown language(s): {', '.join(unknown_languages)}")
    known = set(await session.scalars(select(ServiceCategory.code)))
    unknown_categories = sorted(set(categories) - known)
    if unknown_categories:
        raise StaffAccountError(f"unknown service categories: {', '.join(unknown_categories)}")
    if await session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise StaffAccountError(f"the username {username!r} is taken")
    try:
        password_hash = await hash_password(password)
    except ValueError as exc:
        raise StaffAccountError(str(exc)) from None
    user = StaffUser(
        username=username,
        # Shown to customers and colleagues: no bidi or zero-width trick in it.
        display_name=clean_line(display_name).strip()[:120] or username,
        password_hash=password_hash,
        role=role,
        languages=list(dict.fromkeys(languages)),
        categories=list(dict.fromkeys(categories)),
        sign_language=sign_language,
        active=True,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user
