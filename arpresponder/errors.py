"""Errors a user can cause and fix. The CLI prints their message on one line and exits non-zero."""

QUOTE_MAX = 40  # characters of operator text an error message shows at most


class UserError(Exception):
    """Bad input or an unusable environment; never a bug in arpresponder."""

    exit_code = 1


class ConfigError(UserError):
    """A bad --ip, config file or address file; the message names the token, key or line."""

    exit_code = 2


class EngineError(UserError):
    """The engine cannot run here (no privilege, no such interface, missing support)."""


def quote(value: object, limit: int = QUOTE_MAX) -> str:
    """value as an error message shows it: at most `limit` characters of it, quoted, non-printables escaped.

    A string shows as the repr of its first `limit` characters (quotes; escapes for control characters, for
    surrogates standing for undecodable bytes, for other non-printables); anything else as its repr (which
    escapes the strings in it) cut to `limit`. What is cut says so: `'198.51.100.7 198.51.100.8 198.51.100.9 1'…
    (52 characters)`. Why: a bad token may come from any file a config names, read by whoever runs
    arpresponder (root), and must not disclose more of that file than it takes to find the mistake; and a
    million-character value must not make a million-character error line.
    """
    if isinstance(value, str):
        shown, length = repr(value[:limit]), len(value)
    else:
        text = repr(value)
        shown, length = text[:limit], len(text)
    return shown if length <= limit else f"{shown}… ({length} characters)"


def printable(text: str) -> str:
    """text with every non-printable character (newline, control characters, surrogates standing for bytes
    that were not UTF-8) escaped as repr() escapes it: an error line stays one line and shows what was there."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
