"""The one rule for text people type: no control or format character survives (pure, no server)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from vbranch_signaling.plain_text import clean_line, clean_multiline
from vbranch_signaling.schemas import Chat, Join

REMOVED = {"Cc", "Cf", "Cs"}

#: Text with plenty of the characters that matter: bidi controls, zero-width ones, C0/C1
#: controls, line separators, surrogates, Arabic, and anything else Unicode has.
tricky = st.text(
    st.one_of(
        st.sampled_from(
            "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
            "\u200b\u200c\u200d\u2060\ufeff\u00ad\x00\x07\x1b\x7f\x85\r\n\t\u2028\u2029"
            "\ud800\udfff"
        ),
        st.characters(),
        st.sampled_from("سلام عليكم ab 12"),
    )
)


@given(tricky)
def test_a_line_has_no_control_or_format_character_and_cleaning_twice_changes_nothing(
    text: str,
) -> None:
    cleaned = clean_line(text)
    assert not any(unicodedata.category(c) in REMOVED for c in cleaned)
    assert "\n" not in cleaned and "\u2028" not in cleaned
    assert clean_line(cleaned) == cleaned
    # Everything visible is kept, in order.
    visible = [c for c in text if unicodedata.category(c) not in REMOVED | {"Zl", "Zp"}]
    assert [c for c in cleaned if c != " "] == [c for c in visible if c != " "]


@given(tricky)
def test_several_lines_keep_only_newlines_and_tabs(text: str) -> None:
    cleaned = clean_multiline(text)
    assert not any(unicodedata.category(c) in REMOVED and c not in "\n\t" for c in cleaned)
    assert "\r" not in cleaned
    assert clean_multiline(cleaned) == cleaned


@pytest.mark.parametrize(
    ("raw", "line", "multiline"),
    [
        ("report\u202egnp.exe.png", "reportgnp.exe.png", "reportgnp.exe.png"),
        ("\u2067محمد\u2069 Ali", "محمد Ali", "محمد Ali"),
        ("a\u200bb\u2060c\ufeff", "abc", "abc"),
        ("one\r\ntwo\rthree\u2028four", "one two three four", "one\ntwo\nthree\nfour"),
        ("tab\there", "tab here", "tab\there"),
        ("bell\x07 esc\x1b[0m nul\x00", "bell esc[0m nul", "bell esc[0m nul"),
        ("plain text, نص عادي", "plain text, نص عادي", "plain text, نص عادي"),
    ],
)
def test_examples(raw: str, line: str, multiline: str) -> None:
    assert clean_line(raw) == line
    assert clean_multiline(raw) == multiline


def test_the_socket_events_use_it() -> None:
    join = Join(category="pensions", language="ar", display_name=" \u202eSara\u200bh ")
    assert join.display_name == "Sarah"
    chat = Chat(call_id="c1", text="hello\u202e\r\nworld\u2066")
    assert chat.text == "hello\nworld"
    with pytest.raises(ValidationError):  # nothing visible left: empty, refused
        Chat(call_id="c1", text="\u202e\u200b\n")
    # The 80-character limit counts what is kept, not the invisible padding.
    assert Join(category="pensions", language="ar", display_name="x" * 80 + "\u200b" * 50)
