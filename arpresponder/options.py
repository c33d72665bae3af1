"""Command-line values, parsed and checked as typer reads them, and command-line errors as one line.

Every option that takes a number, a path, a name or one of a few words gets one of these as its `parser=`
(`checked(rule)` makes one for any other text with a rule):

    duration: Annotated[float | None, typer.Option(metavar="SECONDS", parser=options.within(limits.DURATION))]
    stats_json: Annotated[Path | None, typer.Option(metavar="PATH", parser=options.path)]
    interface: Annotated[str | None, typer.Option("--interface", "-i", parser=options.interface)]
    engine: Annotated[EngineName | None, typer.Option(metavar="ENGINE", parser=options.one_of(EngineName))]

A parser raises typer.BadParameter; typer attaches the option to it, and `error_line` (called by
`cli.main`) turns that, and every other usage error of typer's (an unknown option or command, a missing
value, a choice not offered), into `--option: what was expected, not 'what was given'`: one line, exit 2.
Checks run while the command line is read, so a bad value is refused before anything starts.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TypeVar

import typer

from .errors import printable, quote
from .limits import Limit, interface_problem, user_problem

E = TypeVar("E", bound=Enum)


def within(limit: Limit) -> Callable[[str], int | float]:
    """A parser for a number in `limit` (limits.py): the int or float, or typer.BadParameter saying the range."""

    def parse(text: str) -> int | float:
        try:
            return limit.parse(text)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None

    return parse


def one_of(choices: type[E]) -> Callable[[str], E]:
    """A parser for one of an Enum's values: the member, or typer.BadParameter listing the values."""

    def parse(text: str) -> E:
        try:
            return choices(text)
        except ValueError:
            offered = ", ".join(str(choice.value) for choice in choices)
            raise typer.BadParameter(f"expected one of {offered}, not {quote(text)}") from None

    return parse


def path(text: str) -> Path:
    """A parser for a file name. The file is checked where it is opened, by the code that knows what for:
    typer's own checks would call a control socket or an output file that cannot be read "not readable"."""
    if not text:
        raise typer.BadParameter("expected a file name, not ''")
    return Path(text)


def checked(problem_of: Callable[[str], str | None]) -> Callable[[str], str]:
    """A parser for text with a rule: `problem_of(text)` is None for good text, else what was expected in words,
    which typer.BadParameter says with (a short prefix of) the text."""

    def parse(text: str) -> str:
        problem = problem_of(text)
        if problem:
            raise typer.BadParameter(f"{problem}, not {quote(text)}")
        return text

    return parse


def _lab_name_problem(name: str) -> str | None:
    from .lab.netns import lab_name_problem  # the lab's module only for the lab's commands

    return lab_name_problem(name)


interface = checked(interface_problem)  # an interface name, as Linux takes them (limits.interface_problem)
user = checked(user_problem)  # a user name (limits.user_problem)
lab_name = checked(_lab_name_problem)  # a lab name (lab.netns.lab_name_problem)


# --- typer's usage errors as one line ------------------------------------------------------------


def _base(name: str) -> type[Exception]:
    """click's exception class `name`, from whichever click typer uses (a copy of its own since typer 0.2x)."""
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == name)


UsageError = _base("UsageError")  # a bad command line: unknown option or command, missing or bad value
ClickException = _base("ClickException")  # any error typer would print itself


def error_line(e: Exception) -> str:
    """The one line to print for a typer/click error: `--option: problem` for a bad value; else typer's
    message, and for a usage error where to read about it (`; see 'arpresponder run --help'`)."""
    param = getattr(e, "param", None)
    if param is not None and type(e) is typer.BadParameter:  # not its subclasses, MissingParameter for one
        return printable(f"{_parameter_name(param)}: {e.message}")
    message = e.format_message().rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(e, "ctx", None)
    if isinstance(e, UsageError):  # (click's own parser raises some without a context: a value missing, say)
        message += f"; see '{ctx.command_path if ctx is not None else 'arpresponder'} --help'"
    return printable(message)


def _parameter_name(param) -> str:
    opts = getattr(param, "opts", None) or []
    if getattr(param, "param_type_name", "") == "option" and opts:
        return max(opts, key=len)  # --interface rather than -i
    return param.get_error_hint().strip("'[]")


def worker(text: str) -> tuple[int, int, int]:
    """The hidden --worker SEED:K:FD (workers.py starts its workers with it), or typer.BadParameter."""
    from .workers import parse_worker

    try:
        return parse_worker(text)
    except ValueError:
        raise typer.BadParameter(f"expected SEED:K:FD (set by `run --workers`), not {text!r}") from None
