"""Logging never waits for stderr: a reader that stops reading costs log records, counted, never the caller's time."""

import json
import logging
import os
import sys
import threading
import time

import pytest

from arpresponder.observe import logs


@pytest.fixture
def log_to_pipe(monkeypatch):
    """Set up logging with stderr the write end of a pipe nobody reads until the test does; its read end.

    sys.stderr is replaced inside the test (pytest resets it between a fixture's setup and the test); the root
    logger is restored afterwards.
    """
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    read_end, write_end = os.pipe()
    pipe = open(write_end, "w", encoding="utf-8")  # noqa: SIM115  (closed below)

    def setup(**options) -> int:
        monkeypatch.setattr(sys, "stderr", pipe)
        logs.setup_logging(**options)
        return read_end

    yield setup
    logs.close_logging(timeout=0)
    root.handlers[:], root.level = saved
    monkeypatch.undo()
    pipe.close()
    os.close(read_end)


class Reader(threading.Thread):
    """Reads the pipe until stopped, as the user's terminal would once it reads again."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.data, self.stopped = fd, bytearray(), threading.Event()
        os.set_blocking(fd, False)
        self.start()

    def run(self) -> None:
        while True:
            stopping = self.stopped.is_set()  # then one last read of what is there
            try:
                while True:
                    self.data += os.read(self.fd, 1 << 20)
            except BlockingIOError:
                if stopping:
                    return
                self.stopped.wait(0.01)

    def lines(self) -> list[dict]:
        self.stopped.set()
        self.join()
        return [json.loads(line) for line in self.data.decode().splitlines()]


def test_a_stderr_nobody_reads_drops_records_without_waiting_and_says_so_later(log_to_pipe):
    read_end = log_to_pipe(verbose=True, fmt=logs.LogFormat.json)
    log = logging.getLogger("arpresponder")
    before = logs.log_dropped().total
    started = time.monotonic()
    for n in range(logs.LOG_QUEUE * 4):  # lines of ~100 bytes: the pipe's 64 KiB and the queue fill up
        log.debug("decision %d", n)
    assert time.monotonic() - started < 5  # ~1 s on this machine; blocked for ever before
    dropped = logs.log_dropped().total - before
    assert dropped > 0
    # The reader comes back: what was queued arrives, and the next record is preceded by a note on the gap.
    reader = Reader(read_end)
    logs.flush_logging(timeout=5)
    log.info("after the gap")
    logs.flush_logging(timeout=5)
    lines = reader.lines()
    assert lines[-2]["level"] == "WARNING"
    assert lines[-2]["message"] == f"{dropped} log records dropped: stderr was not read fast enough"
    assert lines[-1]["message"] == "after the gap"


def test_an_exception_keeps_its_traceback_in_the_json_line(log_to_pipe):
    read_end = log_to_pipe(fmt=logs.LogFormat.json)
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("arpresponder").exception("it failed")
    reader = Reader(read_end)
    logs.flush_logging()
    (record,) = reader.lines()
    assert record["message"] == "it failed"
    assert "ValueError: bad" in record["exception"]
