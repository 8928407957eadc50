"""Finds markup that could run script if a client inserted the text as HTML.

Chat text is delivered as typed, so nothing is stripped: text that carries such markup is
refused instead, and everything else (``<3``, ``a<b``, ``if x<y and y>z``, a mention of
``<div>`` or ``<code>``) passes. Tags are read the way the HTML tokenizer reads them (a tag
starts with ``<`` or ``</`` and an ASCII letter; attribute values are entity-decoded), and every
``<`` is examined on its own, so markup hidden in another tag's attribute, a comment or a
raw-text element is found too.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# Elements that run or load active content whatever their attributes.
_SCRIPT_ELEMENTS = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal",
    "fencedframe",
})
_WHITESPACE = " \t\n\f\r"
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_TAG_START = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*)")
_SCRIPT_SCHEME = re.compile(r"(?:^|[^a-z0-9+.\-])(?:java|vb|live)script:")
_DATA_URL = re.compile(r"(?:^|[^a-z0-9+.\-])data:(?!image/(?:png|gif|jpe?g|webp|avif|bmp|x-icon)[;,])")
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})[ \t\n\f\r]?|\\(.)", re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_ACTIVE = re.compile(r"expression\s*\(|javascript:|vbscript:|behaviou?r\s*:|-moz-binding|@import")


@dataclass(frozen=True)
class Finding:
    """Why the text was refused: a short code and words for people."""

    reason: str
    explanation: str


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_UPPER)


def _attributes(text: str, pos: int) -> tuple[list[tuple[str, str | None]], int]:
    """The attributes of the tag whose name ends at `pos`, and where the tag ends."""
    attrs: list[tuple[str, str | None]] = []
    n = len(text)
    while pos < n:
        while pos < n and (text[pos] in _WHITESPACE or text[pos] == "/"):
            pos += 1
        if pos >= n or text[pos] == ">":
            break
        start = pos
        pos += 1  # the first character may be "="
        while pos < n and text[pos] not in _WHITESPACE and text[pos] not in "/>=":
            pos += 1
        name = _ascii_lower(text[start:pos])
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos < n and text[pos] == "=":
            pos += 1
            while pos < n and text[pos] in _WHITESPACE:
                pos += 1
            if pos < n and text[pos] in "\"'":
                quote = text[pos]
                end = text.find(quote, pos + 1)
                end = n if end < 0 else end
                value = text[pos + 1:end]
                pos = end + 1
            else:
                start = pos
                while pos < n and text[pos] not in _WHITESPACE and text[pos] != ">":
                    pos += 1
                value = text[start:pos]
            attrs.append((name, html.unescape(value)))
        else:
            attrs.append((name, None))
    return attrs, pos


def _url_like(value: str) -> str:
    """What a browser makes of an attribute value used as a URL (controls and spaces dropped)."""
    return _ascii_lower("".join(c for c in value if ord(c) > 0x20 and c not in "\x7f"))


def _css_is_active(css: str) -> bool:
    css = _CSS_COMMENT.sub(" ", css)
    css = _CSS_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) and int(m.group(1), 16) < 0x110000
                          else (m.group(2) or ""), css)
    return _CSS_ACTIVE.search(_ascii_lower(css)) is not None


def find_script_markup(text: str) -> Finding | None:
    """The first construct that could run script if `text` were inserted as HTML, if any."""
    if "<" not in text:
        return None
    for match in _TAG_START.finditer(text):
        closing, name = match.group(1), _ascii_lower(match.group(2))
        if name in _SCRIPT_ELEMENTS:
            return Finding(f"element:{name}", f"it contains a <{name}> element")
        if closing:
            continue
        attrs, end = _attributes(text, match.end())
        names = {attr for attr, _ in attrs}
        for attr, value in attrs:
            if value is None:
                continue
            if len(attr) > 2 and attr.startswith("on"):
                return Finding("event-handler", f"it contains an event-handler attribute ({attr}=)")
            if attr == "srcdoc":
                return Finding("srcdoc", "it contains a srcdoc attribute")
            url = _url_like(value)
            if _SCRIPT_SCHEME.search(url):
                return Finding("script-url", f"its {attr} attribute holds a script URL")
            if _DATA_URL.search(url):
                return Finding("data-url", f"its {attr} attribute holds a data: URL that can carry a page")
            if attr == "style" and _css_is_active(value):
                return Finding("active-css", "its style attribute holds script-capable CSS")
        if name == "meta" and "http-equiv" in names:
            return Finding("meta-http-equiv", "it contains a <meta http-equiv> element")
        if name == "link" and "href" in names:
            return Finding("element:link", "it contains a <link> element that loads a resource")
        if name == "style":
            close = re.compile(r"</style", re.IGNORECASE).search(text, end)
            if _css_is_active(text[end:close.start() if close else len(text)]):
                return Finding("active-css", "it contains a <style> element with script-capable CSS")
    return None
