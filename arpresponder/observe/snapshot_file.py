"""`run --stats-json PATH`: the snapshot, written to a file every second and at exit, from a thread of its own.

Each write (a temp file, then a rename) runs in a BoundedWorker that takes the
snapshot when it writes, so at most one write waits: on a hung mount the
periodic thread, the other views and the loop go on, and each second that
finds a write still waiting counts one in stats_json_dropped. A write that
fails (disk full, no descriptor left) is logged once, tried again every
second, and logged again when it works. At start the first write must finish
within START_TIMEOUT; at exit the last one gets CLOSE_TIMEOUT, then it is
abandoned.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from .worker import BoundedWorker, Tally

log = logging.getLogger("arpresponder")

START_TIMEOUT = 5.0  # seconds: a path that cannot be written within this is an error at start
CLOSE_TIMEOUT = 1.0  # seconds the last write gets at exit


def stats_json_dropped(path: Path) -> Tally:
    """The stats_json_dropped count, with its log line."""
    return Tally(f"--stats-json {path}: %d write(s) skipped: the one before had not finished (a hung mount?)")


class SnapshotFile:
    """Keeps PATH holding the latest snapshot; UserError at start if the first write fails or hangs."""

    def __init__(self, path: Path, snapshot: Callable[[], dict], dropped: Tally):
        self.path = path
        self.snapshot = snapshot
        self._error: str | None = None  # why the last write failed; None once one works
        self._started = False  # the first write's failure is the start's error, not a log line
        self._worker = BoundedWorker("stats-json", self._write, capacity=1, dropped=dropped)
        self._worker.offer(None)
        if not self._worker.sync(START_TIMEOUT):
            self._worker.close(0)
            raise UserError(f"--stats-json {path}: the first write did not finish within {START_TIMEOUT:g} s")
        if self._error:
            self._worker.close(0)
            raise UserError(f"--stats-json {path}: {self._error}")
        self._started = True

    def update(self) -> None:
        """Ask for a write of the current snapshot (the periodic task); never waits."""
        self._worker.offer(None)

    def close(self) -> None:
        """A last write, after the loop's final counts, within CLOSE_TIMEOUT seconds."""
        self._worker.offer(None)
        if not self._worker.close(CLOSE_TIMEOUT):
            log.warning(
                "--stats-json %s: the last write did not finish within %g s; abandoned", self.path, CLOSE_TIMEOUT
            )

    def _write(self, _request: None) -> None:
        try:
            write_snapshot(self.path, self.snapshot())
        except OSError as e:
            if self._error is None:
                self._error = str(e.strerror or e)
                if self._started:
                    log.error("--stats-json %s: writing failed: %s; trying again every second", self.path, self._error)
            return
        if self._error is not None:
            self._error = None
            log.info("--stats-json %s: written again", self.path)


def write_snapshot(path: Path, snapshot: dict) -> None:
    """Replace path with the snapshot as JSON, atomically: a reader sees the old file or the new one. OSError if not."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(snapshot, f, indent=1)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
