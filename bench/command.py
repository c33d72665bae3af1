"""How each bench runs as a command: SIGTERM unwinds like Ctrl-C, and an interruption or a failure is one line."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import NoReturn

from arpresponder.errors import UserError


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through every `with` and `finally`: floods, responders, the lab


def run_main(name: str, main: Callable[[], int]) -> NoReturn:
    """Exit with main()'s code. SIGTERM and Ctrl-C remove what main() built (its `with` blocks) and exit 130; a
    RuntimeError (trafgen failed) or UserError (no lab, a responder that did not start) prints `NAME: error: …`
    and exits 1. Never a traceback for those."""
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"{name}: interrupted; the lab is removed", file=sys.stderr)
        sys.exit(130)
    except (RuntimeError, UserError) as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        sys.exit(1)
