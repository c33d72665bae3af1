"""Logging: one line per event at INFO, one per decision at DEBUG; text for people or JSON lines for machines.

Records go to stderr through a BoundedWorker: the thread that logs (the loop
with -v, a signal handler) only queues the record, and a stderr that is not
read (a full pipe, a stopped terminal) costs records, counted as log_dropped,
never the loop's time. The worker writes with os.write on the descriptor, so
no Python buffer lock is held by a write that never returns. At exit what is
queued gets LOG_CLOSE_TIMEOUT seconds to go out.

Notable records (INFO and up) are also kept, the last few, for the live
panel and the control socket (RecentEvents).
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import logging.handlers
import os
import sys
import time
from collections import deque
from enum import StrEnum
from typing import TextIO

from .worker import BoundedWorker, Tally

LOG_QUEUE = 4096  # records waiting for stderr at most; more are dropped and counted
LOG_CLOSE_TIMEOUT = 1.0  # seconds the queued records get at exit

_dropped = Tally()  # never logged: a line about lost lines would be lost the same way


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, message; and exception, if the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
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


class _QueueToWorker(logging.handlers.QueueHandler):
    """Hands each record to a BoundedWorker; a full queue drops the record (counted), never waits.

    The first record queued after a drop carries the number dropped since the
    one before (`dropped_before`), so the writer notes the gap where it is.
    """

    def __init__(self, worker: BoundedWorker):
        super().__init__(None)  # no queue: enqueue() is the worker's offer()
        self.worker = worker
        self._noted = worker.dropped.total  # drops already noted (or from before this handler)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is merged now (its arguments may change later, in this thread); the traceback is kept as
        # text, not as frames that would stay alive in the queue. Unlike the stdlib's prepare(), the record keeps
        # its message and exception apart, for the JSON format.
        record = copy.copy(record)
        record.msg = record.message = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        dropped = self.worker.dropped.total
        record.dropped_before = dropped - self._noted
        if self.worker.offer(record):
            self._noted = dropped


class _StreamWriter:
    """The worker's side: formats a record and writes it to the stream's descriptor, all of it, or gives up.

    A stream without a descriptor (a test's capture object) is written to
    with write(). Once a write fails (stderr closed: EPIPE), the records that
    follow are counted as dropped.
    """

    def __init__(self, stream: TextIO, formatter: logging.Formatter, dropped: Tally):
        self.stream = stream
        self.formatter = formatter
        self.dropped = dropped
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.broken = False

    def __call__(self, record: logging.LogRecord) -> None:
        if self.broken:
            self.dropped.add()
            return
        lines = []
        lost = getattr(record, "dropped_before", 0)
        if lost:  # tell the reader where the gap is, now that it reads again
            note = logging.makeLogRecord({"msg": f"{lost} log records dropped: stderr was not read fast enough",
                                          "levelno": logging.WARNING, "levelname": "WARNING"})  # fmt: skip
            lines.append(self.formatter.format(note))
        lines.append(self.formatter.format(record))
        text = "".join(f"{line}\n" for line in lines)
        try:
            if self.fd is None:
                self.stream.write(text)
                self.stream.flush()
            else:
                data = memoryview(text.encode(self.encoding, "backslashreplace"))
                while data:
                    data = data[os.write(self.fd, data) :]
        except OSError:
            self.broken = True
            self.dropped.add()


def setup_logging(verbose: bool = False, fmt: LogFormat = LogFormat.text, to_stderr: bool = True) -> None:
    """Configure the root logger once: INFO, and arpresponder's own DEBUG with verbose (a library's debug output,
    pyroute2's say, is not ours to show); stderr unless a full-screen view owns it."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    logging.getLogger("arpresponder").setLevel(logging.DEBUG if verbose else logging.NOTSET)
    close_logging()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    if to_stderr:
        if fmt is LogFormat.json:
            formatter: logging.Formatter = JsonFormatter()
        else:
            formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
        worker = BoundedWorker("log", _StreamWriter(sys.stderr, formatter, _dropped), LOG_QUEUE, _dropped)
        root.addHandler(_QueueToWorker(worker))


def _workers() -> list[BoundedWorker]:
    return [h.worker for h in logging.getLogger().handlers if isinstance(h, _QueueToWorker)]


def flush_logging(timeout: float = LOG_CLOSE_TIMEOUT) -> None:
    """Wait up to timeout seconds for the records logged so far to be written (e.g. before an error line)."""
    for worker in _workers():
        worker.sync(timeout)


def close_logging(timeout: float = LOG_CLOSE_TIMEOUT) -> None:
    """Write what is queued, within timeout seconds, and stop the writer; records logged later are dropped."""
    for worker in _workers():
        worker.close(timeout)


def log_dropped() -> Tally:
    """The records dropped so far because stderr was not read (or failed), for the stats snapshot."""
    return _dropped


def keep_events(maxlen: int = 5) -> deque[dict]:
    """From now on, keep the last maxlen notable records; the deque they go to (Stats.events)."""
    events: deque[dict] = deque(maxlen=maxlen)
    logging.getLogger().addHandler(RecentEvents(events))
    return events


atexit.register(close_logging)  # registered after logging's own shutdown hook, so it runs before it
