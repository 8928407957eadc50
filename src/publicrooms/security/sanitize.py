"""User text: chat arrives as typed; display names are cleaned; SQL payloads are refused.

- Chat messages are delivered and stored exactly as typed, after trimming. Only C0/C1 control
  characters (newline and tab kept; CR LF and a lone CR become a newline) and bidi
  embeddings/overrides/isolates (U+202A–U+202E, U+2066–U+2069) are removed. Nothing else is
  ever rewritten: a message carrying markup that could run script if a client inserted it as
  HTML is refused (MALICIOUS_INPUT, the reason in the message and in `details.reason`).
- Display names (SPEC §6): HTML tags, control characters, bidi controls and invisible
  characters are removed; a zero-width joiner/non-joiner is kept where it means something
  (see joiners.py).
- Both refuse SQL-injection-shaped input (see sqli.py) with MALICIOUS_INPUT.
"""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

from publicrooms.errors import InvalidDisplayName, InvalidMessage, MaliciousInput
from publicrooms.security.joiners import is_pictographic, keep_meaningful_joiners
from publicrooms.security.markup import Finding, find_script_markup
from publicrooms.security.sqli import looks_like_sql_injection

__all__ = ["clean_display_name", "clean_message", "find_script_markup",
           "looks_like_sql_injection", "strip_markup"]

# Bidi embeddings, overrides and isolates: the only format characters chat removes.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])

# What a display name loses besides those: bidi marks, zero-width space, word joiner, invisible
# operators, deprecated format characters, BOM, Mongolian vowel separator, soft hyphen,
# interlinear annotation controls, Hangul fillers used as blank names. ZWJ/ZWNJ are decided by
# context (joiners.py); tag characters survive only in emoji tag sequences (🏴󠁧󠁢󠁳󠁣󠁴󠁿).
_NAME_INVISIBLE = dict.fromkeys([
    *_BIDI_CONTROLS, 0x200B, 0x200E, 0x200F, 0x061C, *range(0x2060, 0x2065),
    *range(0x206A, 0x2070), 0xFEFF, 0x180E, 0x00AD, *range(0xFFF9, 0xFFFC), 0x3164, 0xFFA0,
])
_TAG_CHARACTERS = re.compile("[\U000e0000-\U000e007f]+")


def strip_markup(text: str) -> str:
    """Text with every HTML tag removed, entities decoded, repeated until nothing changes.

    Decoding once and stopping would turn `&lt;script&gt;` into a live tag, hence the fixpoint.
    Only what the HTML tokenizer reads as a tag goes (`<b>`, `</x`, `<!--`): `<3` and `a < b`
    stay.
    """
    for _ in range(5):
        if "<" not in text and "&" not in text:
            break
        cleaned = html.unescape(nh3.clean(text, tags=set(), attributes={}, strip_comments=True))
        if cleaned == text:
            break
        text = cleaned
    return text


def _remove_controls(text: str, keep: str) -> str:
    """Text without C0/C1 controls (those in `keep` stay; other whitespace controls -> space)."""
    if text.isprintable() and "\r" not in text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cs":
            continue  # a lone surrogate is not text (no encoding can carry it)
        if category == "Cc" and char not in keep:
            if char.isspace():
                kept.append(" ")  # a tab or newline still separates words
            continue
        kept.append(char)
    return "".join(kept)


def _emoji_tags_only(text: str) -> str:
    """Tag characters kept only after an emoji (subdivision flags), removed elsewhere."""
    return _TAG_CHARACTERS.sub(
        lambda m: m.group(0) if m.start() > 0 and is_pictographic(text[m.start() - 1]) else "",
        text)


def _clean_name_once(text: str) -> str:
    text = _remove_controls(text, keep="").translate(_NAME_INVISIBLE)
    text = _emoji_tags_only(text)
    return keep_meaningful_joiners(strip_markup(text))


def clean_display_name(raw: object, max_length: int = 50) -> str:
    """A display name fit to show: 1..max_length characters, plain, single-line."""
    if not isinstance(raw, str):
        raise InvalidDisplayName("Display name must be a string.")
    text = unicodedata.normalize("NFC", raw)
    for _ in range(5):  # until removing one thing no longer exposes another
        cleaned = _clean_name_once(text)
        if cleaned == text:
            break
        text = cleaned
    text = " ".join(text.split())
    if looks_like_sql_injection(text) or looks_like_sql_injection(unicodedata.normalize("NFC", raw)):
        raise MaliciousInput("Display name refused: it looks like a SQL-injection payload.",
                             details={"reason": "sql-injection"})
    if not 1 <= len(text) <= max_length:
        raise InvalidDisplayName(f"Display name must be 1-{max_length} characters.")
    return text


def _refuse_markup(finding: Finding) -> MaliciousInput:
    return MaliciousInput(
        f"Message refused: {finding.explanation}, which could run script. "
        "Plain text, angle brackets and tag names are fine; leave out the markup.",
        details={"reason": finding.reason})


def clean_message(raw: object, max_length: int = 1000) -> str:
    """The chat message as typed (trimmed; controls and bidi overrides removed), or refused."""
    if not isinstance(raw, str):
        raise InvalidMessage("Message must be a string.")
    text = _remove_controls(raw, keep="\n\t").translate(_BIDI_CONTROLS).strip()
    if not 1 <= len(text) <= max_length:
        raise InvalidMessage(f"Message must be 1-{max_length} characters.")
    finding = find_script_markup(text)
    if finding is not None:
        raise _refuse_markup(finding)
    if looks_like_sql_injection(text):
        raise MaliciousInput("Message refused: it looks like a SQL-injection payload.",
                             details={"reason": "sql-injection"})
    return text
