"""Errors a user can cause and fix. The CLI prints their message on one line and exits non-zero."""


class UserError(Exception):
    """Bad input or an unusable environment; never a bug in arpresponder."""

    exit_code = 1


class ConfigError(UserError):
    """A bad --ip, config file or address file; the message names the token, key or line."""

    exit_code = 2


class EngineError(UserError):
    """The engine cannot run here (no privilege, no such interface, missing support)."""
