"""A precise SQL-injection detector: flags input shaped to break out of a SQL literal.

An injection first leaves the quoted string or number the application put it in (a quote,
optionally closing parentheses, or a number at the very start) and then continues with SQL:
a tautology (``' OR '1'='1``), a stacked statement (``'; DROP TABLE …``), a UNION
(``" UNION SELECT … --``), a time or error function (``1 AND SLEEP(5)``, ``'; WAITFOR DELAY …``)
or a comment that cuts the rest of the query off (``admin'--``). Only that shape is flagged:
SQL words in prose, SQL questions ("why does SELECT * FROM users WHERE id = 1 return
nothing?"), quotes and semicolons in sentences are ordinary text.

Encoded variants are read the way a careless application might decode them: URL-encoding
(twice), HTML entities, full-width forms (NFKC) and comments used as spaces
(``'/**/OR/**/1=1``, MySQL's ``/*!50000UNION*/``).

libinjection (as in ModSecurity and Coraza) was considered: its only Python binding that builds
here, ``libinjection-python``, wraps the 2017 library, ships no wheels and is GPL-3.0 (this
project is MIT), so this detector stands in for it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote

_QUOTE_BREAK = r"['\"`]\s*\)*\s*"                 # leaving a string literal (and its parens)
_NUMBER_BREAK = r"^\s*-?(?:\d+(?:\.\d+)?|0x[0-9a-f]+)\s*\)*\s*"   # a numeric parameter
_BOOL = r"(?:\bor\b|\band\b|\bxor\b|\|\||&&)"
_LITERAL = r"(?:'[^']*'?|\"[^\"]*\"?|-?\d+(?:\.\d+)?|0x[0-9a-f]+|true\b|false\b|null\b)"
_OPERAND = rf"(?:\(*\s*(?:{_LITERAL}|[a-z_@][\w.@]*)\s*\)*)"
_LITERAL_OPERAND = rf"(?:\(*\s*{_LITERAL}\s*\)*)"
_COMPARE = (r"(?:=|<>|!=|<=|>=|<|>|\blike\b|\brlike\b|\bregexp\b|\bis(?:\s+not)?\b|\bin\b"
            r"|\bbetween\b|\bsounds\s+like\b)")
# Where an injected condition stops: the input ends, a comment swallows the rest, or SQL goes on.
_END = (r"\s*(?:$|--|#|/\*|;|\)|\blimit\b|\border\s+by\b|\bgroup\s+by\b|\bunion\b|\band\b|\bor\b"
        r"|\binto\b|['\"])")
_FUNCTION = (r"(?:(?:sleep|pg_sleep|benchmark|extractvalue|updatexml|ascii|substring|substr|mid"
             r"|char|chr|concat|concat_ws|convert|cast|exists|version|database|current_user"
             r"|randomblob|load_file|elt|make_set|sysdate|iif|user|group_concat|gtid_subset"
             r"|json_extract|dbms_pipe\.receive_message|utl_inaddr\.get_host_name|xp_cmdshell)\s*\("
             r"|if\()")  # SQL-only functions (not ord(), len(), hex() of everyday code)
_SUBQUERY = r"\(\s*select\b"
_STATEMENT = (
    r"(?:(?:drop|alter)\s+(?:table|database|schema|view|index|procedure|function|user|trigger"
    r"|login)\b|truncate\s+(?:table\s+)?[\w.\[\]`\"]+|delete\s+from\b|insert\s+into\b"
    r"|update\s+[\w.\[\]`\"]+\s+set\b|create\s+(?:table|user|database|procedure|function|login"
    r"|trigger|or\s+replace)\b|exec(?:ute)?\s*(?:\(|@|xp_|sp_|master\.|\w+\s+['\"])|xp_cmdshell"
    r"|shutdown\b|waitfor\s+(?:delay|time)\b|declare\s+@|set\s+@|grant\s+\w+|revoke\s+\w+"
    r"|copy\s+\w+\s+(?:from|to)\b|load\s+data\b|if\s*\(|begin\s+(?:declare|exec)"
    r"|select\s+(?:\*|@@|\d|null\b|pg_sleep|sleep|benchmark|version|user\b|database|current_"
    r"|[\w.]+\s*(?:,|\bfrom\b|\())|--|#|/\*)"
)
_UNION = r"union\s+(?:all\s+|distinct\s+)?\(*\s*select\b"
_CLAUSE = (r"(?:(?:order|group)\s+by\s+\d+\s*(?:,\s*\d+\s*)*(?:--|#|/\*|;|$)"
           r"|having\s+\d+\s*=\s*\d+|into\s+(?:out|dump)file\b|procedure\s+analyse\b"
           r"|waitfor\s+(?:delay|time)\b|limit\s+\d+\s*(?:,\s*\d+\s*)?(?:--|#|/\*)"
           r"|rlike\s+\(?\s*select\b|where\s+\d+\s*=\s*\d+)")
_NESTED_SUBQUERY = r"(?:\w+\s*\(\s*)+\(*\s*select\b"   # ORD(MID((SELECT …
_ACTIVE = rf"\(*\s*(?:{_FUNCTION}|{_SUBQUERY}|{_NESTED_SUBQUERY})"
_CONDITION = (rf"\s*(?:not\s+)?(?:{_OPERAND}\s*{_COMPARE}\s*(?:{_ACTIVE}|{_OPERAND}{_END})"
              rf"|{_LITERAL_OPERAND}\s*(?:--|#|/\*|$)|{_ACTIVE})")
_NUMERIC_CONDITION = (rf"\s*(?:not\s+)?(?:{_LITERAL_OPERAND}\s*{_COMPARE}\s*(?:{_ACTIVE}"
                      rf"|{_LITERAL_OPERAND}{_END})|(?:true|false)\s*(?:--|#|/\*|$)|{_ACTIVE})")

_PATTERNS = [
    rf"{_QUOTE_BREAK}{_BOOL}{_CONDITION}",                        # ' OR '1'='1, ' AND SLEEP(5)
    rf"['\"`]\s*(?:\+|\|\||-|\*|&|\^|\bdiv\b|\bxor\b)\s*\(*\s*(?:{_FUNCTION}|{_SUBQUERY})",  # '-SLEEP(5)-'
    rf"(?:{_QUOTE_BREAK}|{_NUMBER_BREAK}|\)\s*){_UNION}",         # ' UNION SELECT, 1 UNION SELECT
    rf"(?:{_QUOTE_BREAK}|{_NUMBER_BREAK}|^\s*);\s*{_STATEMENT}",  # '; DROP TABLE, 1; DROP TABLE
    rf"(?:{_QUOTE_BREAK}|{_NUMBER_BREAK}){_CLAUSE}",              # ' ORDER BY 3--, 1 WAITFOR DELAY
    rf"{_NUMBER_BREAK}{_BOOL}{_NUMERIC_CONDITION}",               # 1 AND SLEEP(5), 1) OR (1=1
    r"^[\w@.\-]*['\"`]\s*\)*\s*(?:--|#|/\*|;\s*(?:--|#|/\*))",     # admin'--, admin')#
    r"\bor\s+(?:(\d+)\s*=\s*\1\b|'(\w*)'\s*=\s*'\2\b|\"(\w*)\"\s*=\s*\"\3\b)",  # or 1=1 anywhere
    r"\bunion\s+(?:all\s+)?select\s+(?:(?:null|\d+|@@\w+|0x[0-9a-f]+)\s*,\s*)+(?:null|\d+|@@\w+|0x[0-9a-f]+)\b",
]
_SQL = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.DOTALL)
# What every pattern above needs somewhere: a quote or a semicolon, UNION, `or 1`, or a leading
# number followed by a boolean or a clause. Text without any of these cannot match, and most chat
# has none, so the full search runs only when one is there (`_might_be_sql`, ~10x cheaper).
_OR_NUMBER = re.compile(r"\bor\s+\d", re.IGNORECASE)
_UNION_WORD = re.compile("union", re.IGNORECASE)
_NUMBER_THEN_SQL = re.compile(rf"{_NUMBER_BREAK}(?:{_BOOL}|{_CLAUSE})", re.IGNORECASE | re.DOTALL)
_URL_ESCAPE = re.compile(r"%[0-9a-f]{2}|%u[0-9a-f]{4}", re.IGNORECASE)
_VERSIONED_COMMENT = re.compile(r"/\*!\d{0,6}|\*/")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def _views(text: str) -> list[str]:
    """The text as typed and as a decoding application or a lenient SQL parser would read it."""
    views = [text]
    if _URL_ESCAPE.search(text):
        once = unquote(re.sub(r"%u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text))
        views += [once, unquote(once), unquote(once).replace("+", " ")]
    if "+" in text:
        views += [v.replace("+", " ") for v in list(views)]
    if "&" in text:
        views += [html.unescape(v) for v in list(views)]
    if not text.isascii():
        views += [unicodedata.normalize("NFKC", v) for v in list(views)]
    if "/*" in text or "%2f" in text.lower():
        views += [_COMMENT.sub(" ", _VERSIONED_COMMENT.sub(" ", v)) for v in list(views)]
        views += [_COMMENT.sub(" ", v) for v in list(views)]
    return list(dict.fromkeys(views))


def _might_be_sql(text: str) -> bool:
    """Whether the text has what every pattern needs (str searches first: one regex search
    over a line of chat costs more than the rest of these together)."""
    if "'" in text or '"' in text or "`" in text or ";" in text:
        return True
    if text.isascii():  # else case-insensitive matching may pair letters lower() does not
        lowered = text.lower()
        if "union" in lowered:
            return True
        if "or" in lowered and _OR_NUMBER.search(text):
            return True
    elif _UNION_WORD.search(text) or _OR_NUMBER.search(text):
        return True
    return _NUMBER_THEN_SQL.match(text) is not None


def looks_like_sql_injection(text: str) -> bool:
    """Whether the text is shaped like a SQL-injection payload."""
    return any(_might_be_sql(view) and _SQL.search(view) for view in _views(text))
