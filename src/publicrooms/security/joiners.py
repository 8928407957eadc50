"""Where a zero-width joiner (U+200D) or non-joiner (U+200C) means something, and where not.

Kept:
- ZWJ inside an emoji ZWJ sequence (👩‍💻, 🏳️‍🌈, 👨🏽‍🚀, ❤️‍🔥): an emoji (with its optional
  variation selector, skin-tone modifier or tag characters) on both sides.
- ZWJ and ZWNJ by the IDNA2008 CONTEXTJ rules (RFC 5892 Appendix A.1/A.2): after a virama
  (Devanagari क्‍ष, Malayalam ൻ‍), or ZWNJ between a left/dual-joining and a right/dual-joining
  letter with only transparent marks between (Persian می‌خواهم). The `idna` package carries the
  joining-type table.
- ZWNJ between two letters, which the Unicode Standard (§23.2, "Cursive Connection and
  Ligatures") gives as the way to break a ligature or a cursive join in any script — so a
  transliterated name such as "Mehr‌nāz" keeps it too.

Removed: any other joiner (at the edges of a word, next to spaces, punctuation or another
joiner), which only hides characters.
"""

from __future__ import annotations

import unicodedata

from idna.core import valid_contextj

ZWNJ, ZWJ = "\u200c", "\u200d"

# Extended_Pictographic, compactly (Unicode emoji-data; the ranges a ZWJ sequence may join).
_PICTOGRAPHIC_RANGES = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA),
    (0x231A, 0x231B), (0x2328, 0x2328), (0x2388, 0x2388), (0x23CF, 0x23CF),
    (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
    (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x27BF),
    (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50),
    (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297),
    (0x3299, 0x3299), (0x1F000, 0x1F1E5), (0x1F200, 0x1F3FA), (0x1F400, 0x1FAFF),
    (0x1FC00, 0x1FFFD),
)
# What may sit between an emoji and the joiner that follows it.
_EMOJI_TRAILERS = {0xFE0F, 0xFE0E, 0x20E3, *range(0x1F3FB, 0x1F400), *range(0xE0020, 0xE0080)}


def is_pictographic(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _PICTOGRAPHIC_RANGES)


def _emoji_zwj(text: str, pos: int) -> bool:
    if text[pos] != ZWJ or pos + 1 >= len(text) or not is_pictographic(text[pos + 1]):
        return False
    i = pos - 1
    while i >= 0 and ord(text[i]) in _EMOJI_TRAILERS:
        i -= 1
    return i >= 0 and is_pictographic(text[i])


def _contextj(text: str, pos: int) -> bool:
    try:
        return valid_contextj(text, pos)
    except Exception:  # unassigned neighbours, over-long input: no context, no joiner
        return False


def _between_letters(text: str, pos: int) -> bool:
    return (text[pos] == ZWNJ and 0 < pos < len(text) - 1
            and unicodedata.category(text[pos - 1]).startswith("L")
            and unicodedata.category(text[pos + 1]).startswith("L"))


def joiner_is_meaningful(text: str, pos: int) -> bool:
    """Whether the ZWJ/ZWNJ at `pos` does something in its context."""
    return _emoji_zwj(text, pos) or _contextj(text, pos) or _between_letters(text, pos)


def keep_meaningful_joiners(text: str) -> str:
    """The text with every joiner that means nothing removed (decided on the input's context)."""
    if ZWJ not in text and ZWNJ not in text:
        return text
    return "".join(char for pos, char in enumerate(text)
                   if char not in (ZWJ, ZWNJ) or joiner_is_meaningful(text, pos))
