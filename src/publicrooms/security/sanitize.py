"""Cleaning of user text: no markup, no control, bidi-override or zero-width characters, no SQL payloads."""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

from publicrooms.errors import InvalidDisplayName, InvalidMessage, MaliciousInput

# Bidi embeddings/overrides/isolates and marks, zero-width characters, word joiner, BOM.
_INVISIBLE = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0x200C, 0x200D, 0x200E,
     0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x061C, 0x180E, 0x00AD]
)

# Each pattern is a construct that only occurs when someone is talking to a SQL parser; ordinary
# prose ("select a room", "drop by later", "O'Brien") matches none of them.
_SQL_PATTERNS = [
    r"'\s*(or|and)\s+('[^']*'|\d+|\w+)\s*(=|<|>|like\b)",   # ' OR '1'='1 / ' and 1=1
    r"\b(?:or|and)\s+(?P<n>\d+)\s*=\s*(?P=n)\b",             # or 1=1
    r"\bunion\s+(all\s+)?select\b",
    r";\s*(drop|truncate|alter|create)\s+(table|database|schema|index|view|user)\b",
    r";\s*(delete\s+from|insert\s+into|update\s+\w+\s+set|exec(ute)?\s|shutdown\b)",
    r"\bdrop\s+(table|database|schema)\s+(if\s+exists\s+)?[\w.`\"\[\]]+\s*(;|--|$)",
    r"'\s*(;|--|#|/\*)",                                    # quote then terminator/comment
    r"\b(select|insert|update|delete|drop|union)\b[^\n]*--\s*$",
    r"/\*.*?\*/",
    r"\b(pg_sleep|sleep|benchmark|waitfor\s+delay|xp_cmdshell|load_file|into\s+outfile)\s*\(?",
    r"\binformation_schema\b|\bsqlite_master\b|\bpg_catalog\b",
    r"\bselect\s+(\*|count\s*\(\s*\*\s*\)|@@\w+|version\s*\(\s*\))",
    r"\bselect\s+[\w, ]+\s+from\s+\w+\s+where\s+\w+\s*(=|like\b)",
    r"\binsert\s+into\s+\w+\s*(\(|values\b)",
    r"\bdelete\s+from\s+\w+\s*(where\b|;)",
    r"\b(char|chr|concat)\s*\(\s*\d+\s*(,\s*\d+\s*)+\)",
    r"\b0x[0-9a-f]{8,}\b",
]
_SQL = re.compile("|".join(f"(?:{p})" for p in _SQL_PATTERNS), re.IGNORECASE | re.DOTALL)


def looks_like_sql_injection(text: str) -> bool:
    """Whether the text carries a SQL-injection payload."""
    return _SQL.search(text) is not None


def strip_markup(text: str) -> str:
    """Text with every HTML tag removed, entities decoded, repeated until nothing changes.

    Decoding once and stopping would turn `&lt;script&gt;` into a live tag, hence the fixpoint.
    """
    for _ in range(5):
        cleaned = html.unescape(nh3.clean(text, tags=set(), attributes={}, strip_comments=True))
        if cleaned == text:
            break
        text = cleaned
    return text


def _strip_invisible(text: str, keep_newlines: bool) -> str:
    text = text.translate(_INVISIBLE)
    kept = []
    for char in text:
        if unicodedata.category(char) == "Cc" and not (keep_newlines and char in "\n\t"):
            if char.isspace():
                kept.append(" ")  # a tab or newline still separates words
            continue
        kept.append(char)
    return "".join(kept)


def clean_display_name(raw: object, max_length: int = 50) -> str:
    """A display name fit to show: 1..max_length characters, plain, single-line."""
    if not isinstance(raw, str):
        raise InvalidDisplayName("Display name must be a string.")
    text = unicodedata.normalize("NFC", raw)
    if looks_like_sql_injection(text):
        raise MaliciousInput("The display name was rejected.")
    text = _strip_invisible(strip_markup(text), keep_newlines=False)
    text = " ".join(text.split())
    if not 1 <= len(text) <= max_length:
        raise InvalidDisplayName(f"Display name must be 1-{max_length} characters.")
    return text


def clean_message(raw: object, max_length: int = 1000) -> str:
    """A chat message fit to show: 1..max_length characters of plain text."""
    if not isinstance(raw, str):
        raise InvalidMessage("Message must be a string.")
    text = unicodedata.normalize("NFC", raw)
    if looks_like_sql_injection(text):
        raise MaliciousInput("The message was rejected.")
    text = _strip_invisible(strip_markup(text), keep_newlines=True).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if not 1 <= len(text) <= max_length:
        raise InvalidMessage(f"Message must be 1-{max_length} characters.")
    return text
