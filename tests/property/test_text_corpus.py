"""Corpora: ordinary messages and names arrive as typed (0 refused, 0 altered); SQL-injection
payload shapes are caught (≥ 95 %); script-capable markup is refused (100 %)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from publicrooms.errors import DomainError, MaliciousInput
from publicrooms.security.sanitize import (
    clean_display_name,
    clean_message,
    find_script_markup,
    looks_like_sql_injection,
)
from tests.property.text_corpus import (
    EMOJI,
    ISSUE_MESSAGES,
    ISSUE_NAMES,
    SENTENCES,
    SQLI_PAYLOADS,
    XSS_PAYLOADS,
    ordinary_messages,
    ordinary_names,
)


def _outcome(clean, text: str) -> str:  # noqa: ANN001
    try:
        return "altered" if clean(text) != text else "ok"
    except DomainError as error:
        return f"refused {error.code}: {error.message}"


def test_the_corpora_are_large_and_varied() -> None:
    messages, names = ordinary_messages(), ordinary_names()
    assert len(messages) >= 2000 and len(names) >= 500
    assert len(SENTENCES) >= 25  # languages
    assert set(ISSUE_MESSAGES) <= set(messages) and set(ISSUE_NAMES) <= set(names)
    scripts = {unicodedata.name(c).split()[0] for m in messages for c in m if c.isalpha()}
    assert {"LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "BENGALI",
            "MALAYALAM", "CJK", "HIRAGANA", "HANGUL", "THAI"} <= scripts
    assert any("\u200c" in m for m in messages) and any("\u200d" in n for n in names)


def test_ordinary_messages_arrive_exactly_as_typed() -> None:
    problems = {m: o for m in ordinary_messages() if (o := _outcome(clean_message, m)) != "ok"}
    assert problems == {}, f"{len(problems)} refused or altered"


def test_ordinary_names_arrive_exactly_as_typed() -> None:
    problems = {n: o for n in ordinary_names() if (o := _outcome(clean_display_name, n)) != "ok"}
    assert problems == {}, f"{len(problems)} refused or altered"


def test_sql_injection_corpus_detection_rate() -> None:
    assert len(SQLI_PAYLOADS) >= 300
    missed = [p for p in SQLI_PAYLOADS if not looks_like_sql_injection(p)]
    rate = 1 - len(missed) / len(SQLI_PAYLOADS)
    print(f"SQL-injection detection: {rate:.1%} of {len(SQLI_PAYLOADS)}; missed {missed}")
    assert rate >= 0.95, missed


def test_xss_corpus_is_refused_every_time() -> None:
    let_through = []
    for payload in XSS_PAYLOADS:
        try:
            clean_message(payload)
        except MaliciousInput as refused:
            assert refused.details["reason"] and "could run script" in refused.message
            continue
        let_through.append(payload)
    assert let_through == []
    assert all(find_script_markup(p) is not None for p in XSS_PAYLOADS)


# The ordinary alphabet: letters, marks, digits, spaces, punctuation and symbols (angle
# brackets included), emoji sequences and newlines; no quotes or "=", which script-capable
# markup and SQL literals need.
_ORDINARY_CHARS = st.characters(categories=["L", "M", "N", "Zs", "P", "S"],
                                exclude_characters="'\"`=")
_ORDINARY_TEXT = st.lists(st.one_of(_ORDINARY_CHARS, st.sampled_from(EMOJI), st.just("\n"),
                                    st.sampled_from(["<", ">", " <3 ", "a<b", "<div>", "</code>"])),
                          min_size=1, max_size=200).map("".join)


@given(_ORDINARY_TEXT.filter(lambda t: t == t.strip() and t and len(t) <= 1000))
def test_ordinary_alphabet_is_delivered_unchanged(text: str) -> None:
    assert clean_message(text) == text
