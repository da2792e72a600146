"""Text people type, made safe to show to others: no control or format characters.

Bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, U+061C) let a name or a file name
display differently from what it is: "invoice<U+202E>fdp.exe" shows as "invoiceexe.pdf", a
program passing for a document. Zero-width characters make two names that look the
same differ; other control characters break logs and terminals. All of them (Unicode categories
Cc, Cf, and lone surrogates Cs, which no database can store) are removed. Line breaks become a
space in a one-line field (a name, a subject) and a newline in a text that may have several
(a chat message, a note); a tab survives only there too.

Pure, and lives in the lowest layer that receives text (the signaling events), so the server's
HTTP schemas and the attachment names use the very same rule.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import BeforeValidator

#: Characters that end a line, for Unicode (str.splitlines's list).
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
#: The categories removed: control, format, surrogate.
REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def _clean(text: str, *, multiline: bool) -> str:
    if text.isprintable():  # the common case: nothing to remove or replace
        return text
    text = text.replace("\r\n", "\n")  # one line break, not two
    out = []
    for char in text:
        if char in LINE_BREAKS:
            out.append("\n" if multiline else " ")
        elif char == "\t":
            out.append("\t" if multiline else " ")
        elif unicodedata.category(char) not in REMOVED_CATEGORIES:
            out.append(char)
    return "".join(out)


def clean_line(text: str) -> str:
    """A one-line text (a name, a subject, a file name) with no control or format character."""
    return _clean(text, multiline=False)


def clean_multiline(text: str) -> str:
    """A text of several lines (chat, notes): only newlines and tabs are kept of the controls."""
    return _clean(text, multiline=True)


def _line_validator(value: Any) -> Any:
    # Non-strings go on to the type check, which refuses them with its usual message.
    return clean_line(value) if isinstance(value, str) else value


def _multiline_validator(value: Any) -> Any:
    return clean_multiline(value) if isinstance(value, str) else value


#: Put LAST in an `Annotated[str, StringConstraints(...), CleanLine]`: a before-validator wraps
#: what precedes it, so the cleaning happens before the stripping, length and emptiness checks
#: (a name made only of bidi controls is refused as empty, not stored as "").
CleanLine = BeforeValidator(_line_validator)
CleanMultiline = BeforeValidator(_multiline_validator)
