"""Message catalogs (Arabic and English) and choosing the visitor's language."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

LANGUAGES = ("ar", "en")
DEFAULT_LANGUAGE = "ar"
RTL_LANGUAGES = frozenset({"ar"})
LANGUAGE_COOKIE = "vb_lang"
CATALOG_DIR = Path(__file__).resolve().parent / "messages"


@dataclass(frozen=True)
class Catalogs:
    messages: dict[str, dict[str, str]]

    @classmethod
    def load(cls, folder: Path = CATALOG_DIR) -> Catalogs:
        return cls(
            {lang: json.loads((folder / f"{lang}.json").read_text("utf-8")) for lang in LANGUAGES}
        )

    def gettext(self, lang: str, key: str, **values: object) -> str:
        # A missing key shows itself rather than failing the page; a test keeps catalogs complete.
        text = self.messages.get(lang, {}).get(key) or self.messages[DEFAULT_LANGUAGE].get(key, key)
        return text.format(**values) if values else text


def pick_language(request: web.Request) -> str:
    """An explicit ?lang= wins, then the remembered choice, then the browser's preference."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def direction(lang: str) -> str:
    return "rtl" if lang in RTL_LANGUAGES else "ltr"
