"""One background thread that runs the views' periodic tasks (rate samples, JSON snapshot, log line)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("arpresponder")


class Periodic:
    """Runs each task every `seconds` until stop is set. A task that raises is logged and not run again."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self._tasks: list[list] = []  # [next due, seconds, task, what]
        self._thread = threading.Thread(target=self._run, name="periodic", daemon=True)

    def every(self, seconds: float, task: Callable[[], None], what: str) -> None:
        """Run task every `seconds`; `what` names it in the error if it fails."""
        self._tasks.append([time.monotonic() + seconds, seconds, task, what])

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 2) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while self._tasks and not self.stop.wait(max(0.0, min(t[0] for t in self._tasks) - time.monotonic())):
            now = time.monotonic()
            for entry in list(self._tasks):
                due, seconds, task, what = entry
                if due > now:
                    continue
                entry[0] = max(due + seconds, now)  # a late run does not bunch up the next ones
                try:
                    task()
                except Exception as e:  # noqa: BLE001  (a view's bug must not end the run; it is logged)
                    log.error("%s failed, and stops: %s", what, e)
                    self._tasks.remove(entry)
