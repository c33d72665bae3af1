"""What tomllib must not be handed: nesting it recurses into, and keys it spends quadratic or outsize memory on.

tomllib parses an array or inline table inside another by recursion, so a few hundred `[` end in
RecursionError; for a key of n dotted parts (`a.a.a…`, or a `[a.a.a…]` header) it keeps a tuple of each of
the key's n prefixes, n²/2 references: 10,000 parts, 20 KB of text, take 400 MB; and every table (a header,
each part of a dotted key but the last) costs it about a kilobyte, a hundred times the text that opens it.
A config for arpresponder nests two deep (`addresses = [{ ip = … }]`), its keys have at most two parts
(`announce.count`), and it has one table ([announce]), so `shape_problem` refuses what is far past that, in
one linear pass over the text, before tomllib sees it. What it lets through costs tomllib at most about 25
times the size of the text, plus MAX_TABLES kilobytes (tests/test_config.py measures it).

The pass knows TOML's lexical rules (TOML 1.0, as tomllib reads it): strings of the four kinds, comments,
bare and quoted key parts joined by dots, brackets. It agrees with tomllib on every valid document
(tests/test_tomlguard.py generates them); where the text stops being valid (an unterminated string) it stops
too, and leaves the error to tomllib.
"""

from __future__ import annotations

import re

MAX_NESTING = 16  # arrays and inline tables inside each other (a [[table]] header counts 2 while it is read)
MAX_KEY_PARTS = 8  # parts of one dotted key or table header
MAX_TABLES = 256  # tables opened by [headers] and by the parts of dotted keys (all but the last of each key)

_BARE = r"[A-Za-z0-9_-]++"
_BASIC = r'"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"'  # one line; an escape is a backslash and the character after it
_LITERAL = r"'[^'\n]*+'"
_PART = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_NO_DOT_NEXT = r"(?![ \t]*\.)"  # a part followed by a dot begins a dotted key, which is a token of its own
# Text that neither nests nor dots a key: strings, words not followed by a dot, spaces, newlines, = and ,
_FLAT = rf"""(?: (?!\"\"\"){_BASIC}{_NO_DOT_NEXT} | (?!'''){_LITERAL}{_NO_DOT_NEXT} | {_BARE}{_NO_DOT_NEXT}
               | [^"'\#\[\]{{}}.A-Za-z0-9_-]++ )++"""
_TOKEN = re.compile(
    rf"""
      (?P<multiline> \"\"\"(?:[^"\\]++|\\[\s\S]|""?+(?!"))*+"{{3,5}}  # up to two quotes may end the content
                   | '''[\s\S]*?'{{3,5}} )
    | (?P<unterminated> \"\"\"|''' )
    | (?P<dotted> {_PART}(?:[ \t]*\.[ \t]*{_PART})++ )              # a dotted key (or a float, a time)
    | (?P<plain> (?: {_FLAT} | (?P<table> \{{ (?:{_FLAT})?+ \}} ) )++ )  # and {{ ip = "…" }}, one deep and back
    | (?P<comment> \#[^\n]*+ )
    | (?P<open> [\[{{] )
    | (?P<close> [\]}}] )
    | (?P<dot> \. )
    | (?P<quote> ["'] )                                             # a string that does not end on its line
    """,
    re.VERBOSE,
)
_PARTS = re.compile(_PART)
_KEY_END = re.compile(r"[ \t]*[=\]]")  # after a key: its '=', or the ']' of a [table] header


def shape_problem(text: str) -> tuple[int, str] | None:
    """None if tomllib may parse text; else (offset into text, what is wrong, in words). Linear in len(text)."""
    depth = tables = 0
    line_start = True  # only spaces since the last newline: a '[' here opens a [table] header
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "dotted":
            token = match.group()
            # Only a long token can hold many parts: count them then, with a regex that skips quoted dots. Any
            # dotted token counts, key or not: tomllib reads one part at a time, copying the tuple so far.
            parts = len(_PARTS.findall(token)) if len(token) > 2 * MAX_KEY_PARTS else 0
            if parts > MAX_KEY_PARTS:
                return match.start(), f"more than {MAX_KEY_PARTS} dotted parts in a key (config keys have 1 or 2)"
            if _KEY_END.match(text, match.end()):  # a key: each part but the last is a table
                tables += (parts or len(_PARTS.findall(token))) - 1
        elif kind == "plain" and depth == MAX_NESTING and match.group("table") is not None:
            return match.start("table"), f"arrays and tables nested more than {MAX_NESTING} deep (a config nests 2)"
        elif kind == "open":
            tables += line_start
            depth += 1
            if depth > MAX_NESTING:
                return match.start(), f"arrays and tables nested more than {MAX_NESTING} deep (a config nests 2)"
        elif kind == "close":
            depth = max(depth - 1, 0)
        elif kind in ("unterminated", "quote"):
            return None  # invalid from here on: tomllib stops here too, and says why
        if tables > MAX_TABLES:
            return (
                match.start(),
                f"more than {MAX_TABLES} tables, in headers or dotted keys (a config has 1: [announce])",
            )
        if kind == "plain":
            rest = match.group().rstrip(" \t")
            line_start = rest.endswith("\n") or (line_start and not rest)
        else:
            line_start = False
    return None
