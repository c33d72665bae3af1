"""Logging: one line per event at INFO, one per decision at DEBUG; text for people or JSON lines for machines.

Notable records (INFO and up) are also kept, the last few, for the live
panel and the control socket (RecentEvents).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import deque
from enum import StrEnum


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, message."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class RecentEvents(logging.Handler):
    """Keeps the last notable records as {"time", "level", "message"} in a bounded deque."""

    def __init__(self, events: deque[dict]):
        super().__init__(logging.INFO)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "periodic", False):
            return  # the --stats-interval line repeats what the panel shows; it would push the events out
        self.events.append(
            {"time": round(record.created, 3), "level": record.levelname, "message": record.getMessage()}
        )


def setup_logging(verbose: bool = False, fmt: LogFormat = LogFormat.text, to_stderr: bool = True) -> None:
    """Configure the root logger once: DEBUG with verbose, else INFO; stderr unless a full-screen view owns it."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    if to_stderr:
        handler = logging.StreamHandler(sys.stderr)
        if fmt is LogFormat.json:
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S"))
        root.addHandler(handler)


def keep_events(maxlen: int = 5) -> deque[dict]:
    """From now on, keep the last maxlen notable records; the deque they go to (Stats.events)."""
    events: deque[dict] = deque(maxlen=maxlen)
    logging.getLogger().addHandler(RecentEvents(events))
    return events
