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
        return cls({lang: load_catalog(folder, lang) for lang in LANGUAGES})

    def gettext(self, lang: str, key: str, **values: object) -> str:
        # A missing key shows itself rather than failing the page; a test keeps catalogs complete.
        text = self.messages.get(lang, {}).get(key) or self.messages[DEFAULT_LANGUAGE].get(key, key)
        return text.format(**values) if values else text


def load_catalog(folder: Path, lang: str) -> dict[str, str]:
    """`<lang>.json` merged with every `<area>.<lang>.json` (one file per part of the product).

    A key defined twice is an error: two parts of the product must not fight over one text.
    """
    merged: dict[str, str] = {}
    for path in sorted(folder.glob(f"*{lang}.json")):
        if path.name != f"{lang}.json" and not path.name.endswith(f".{lang}.json"):
            continue
        part = json.loads(path.read_text("utf-8"))
        twice = sorted(set(part) & set(merged))
        if twice:
            raise ValueError(f"{path.name} defines keys already defined: {', '.join(twice)}")
        merged.update(part)
    return merged


def pick_language(request: web.Request) -> str:
    """An explicit ?lang= wins, then the remembered choice, then the browser's preference."""
    # The cookie is `__Host-vb_lang` with secure cookies on, `vb_lang` without: either will do
    # for a language (no harm in a planted one), and a change of the setting keeps the choice.
    remembered = request.cookies.get("__Host-" + LANGUAGE_COOKIE) or request.cookies.get(
        LANGUAGE_COOKIE
    )
    for candidate in (request.query.get("lang"), remembered):
        if candidate in LANGUAGES:
            return candidate
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def direction(lang: str) -> str:
    return "rtl" if lang in RTL_LANGUAGES else "ltr"
