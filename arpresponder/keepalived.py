"""Following keepalived's notify FIFO: its VRRP election decides whether this host answers, with no process started.

keepalived (`vrrp_notify_fifo PATH` in global_defs) writes a line to a FIFO
at every change of state: `INSTANCE "NAME" MASTER 150`. A notify script
(examples/keepalived/arpresponder-notify.sh) does the same job by running
`arpresponder activate`, which costs a Python start-up (a few hundred ms)
on the takeover path; reading the FIFO costs nothing. MASTER makes the
service active (it answers and announces every set); BACKUP, FAULT, STOP
and DELETED make it stand by.

The FIFO is opened for reading only, so that when keepalived dies (it
holds the only writing end) we read its end: the service then stands by,
rather than answer alongside the host that takes over, and waits for
keepalived to open the FIFO again. The thread is a daemon: opening a FIFO
blocks until a writer comes, and nothing is left to do at exit.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError
from .observe.control import RUN_DIR

log = logging.getLogger("arpresponder")

_LINE = re.compile(r'^(INSTANCE|GROUP) "(?P<name>[^"]*)" (?P<state>[A-Z]+)(?: \d+)?$')
ACTIVE = {"MASTER"}
STANDBY = {"BACKUP", "FAULT", "STOP", "DELETED"}


def parse(line: str, instance: str | None) -> bool | None:
    """One FIFO line → True (stand by), False (be active), or None (another instance's, or not a state line)."""
    match = _LINE.match(line.strip())
    if match is None or (instance is not None and match["name"] != instance):
        return None
    if match["state"] in ACTIVE:
        return False
    if match["state"] in STANDBY:
        return True
    return None


class KeepalivedFifo:
    """Reads keepalived's notify FIFO in a thread and calls set_standby(standby, why) for each change it says."""

    def __init__(self, path: Path, instance: str | None, set_standby: Callable[[bool, str], None]):
        self.path = path
        self.instance = instance
        self.set_standby = set_standby
        self._warned = False
        _make_fifo(path)
        self._thread = threading.Thread(target=self._run, name="keepalived", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                with open(self.path, "rb", buffering=0) as fifo:  # blocks until keepalived opens it
                    for raw in iter(lambda: _readline(fifo), b""):
                        line = raw.decode("utf-8", "replace").strip()
                        standby = parse(line, self.instance)
                        if standby is not None:
                            self.set_standby(standby, f"keepalived: {line}")
                        elif _LINE.match(line) is None and not self._warned:  # another instance's line is expected
                            self._warned = True
                            log.warning("keepalived FIFO %s: ignoring a line that is not a state change (and any more "
                                        "like it): %r", self.path, line[:80])  # fmt: skip
            except OSError as e:
                log.error("keepalived FIFO %s: %s; not following keepalived any more", self.path, e.strerror or e)
                return
            log.warning("keepalived closed %s (stopped, or died): standing by until it says otherwise", self.path)
            self.set_standby(True, "keepalived went away")


def _readline(fifo) -> bytes:
    """One line from the FIFO (with its newline), b"" at its end: read a byte at a time, no buffer to go stale."""
    line = b""
    while not line.endswith(b"\n"):
        byte = fifo.read(1)
        if not byte:
            return line
        line += byte
    return line


def _make_fifo(path: Path) -> None:
    """The FIFO at path, made (mode 0600) if there is none, in arpresponder's run directory made too if need be;
    ConfigError if something else is there, or it cannot be made. It stays at exit: a keepalived that keeps running
    writes on into the same FIFO, which the next run opens again."""
    if RUN_DIR in path.parents:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        if not stat.S_ISFIFO(path.stat().st_mode):
            raise ConfigError(f"--keepalived-fifo {path}: exists and is not a FIFO") from None
    except OSError as e:
        raise ConfigError(f"--keepalived-fifo {path}: cannot make a FIFO there: {e.strerror}") from None
