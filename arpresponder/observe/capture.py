"""`run --pcap FILE`: the requests handled and the replies handed to the engine, in a pcap file tcpdump and Wireshark read.

The loop only queues each batch (with its time) for a BoundedWorker, which
formats it with scapy's PcapWriter (raw bytes as they came and went, never
dissected) and writes it with one os.write. So a file that stalls (a FIFO
whose reader stopped reading, a slow disk) never holds the loop or shutdown
up: batches that find the queue full are dropped and their frames counted as
pcap_dropped. A path that cannot be opened for writing without waiting (a FIFO
with no reader) is refused at start. Bounded: after `max_frames` records the
file is closed and capturing stops.
"""

from __future__ import annotations

import errno
import fcntl
import io
import logging
import os
import stat
import time
from pathlib import Path

from ..errors import UserError
from .worker import BoundedWorker, Tally

log = logging.getLogger("arpresponder")

DLT_EN10MB = 1  # Ethernet
QUEUE_BATCHES = 128  # batches waiting for the writer at most (≤ 32k frames, a few MiB)
CLOSE_TIMEOUT = 1.0  # seconds the queued frames get at exit


def pcap_dropped(path: Path) -> Tally:
    """The pcap_dropped count, with its log line."""
    return Tally(f"pcap: %d frames not written to {path}: the writer fell behind (a reader that stopped reading?)")


class Capture:
    """Writes what `on_batch` is given to path, from a thread of its own; UserError if path cannot be opened."""

    def __init__(self, path: Path, max_frames: int, dropped: Tally):
        from scapy.utils import PcapWriter

        self.path = path
        self.max_frames = max_frames
        self.written = 0
        self.done = False  # the limit was reached, or writing failed: the loop stops queueing
        self._fd = _open_for_writing(path)
        self._buffer = io.BytesIO()  # PcapWriter formats into it; each batch leaves in one write
        self._writer = PcapWriter(self._buffer, linktype=DLT_EN10MB, sync=False)
        self._writer.write_header(None)  # a valid (empty) file even if nothing arrives
        self._worker = BoundedWorker("pcap", self._write_batch, QUEUE_BATCHES, dropped, finish=self._close_file)
        self._worker.offer(None)  # the header, written by the worker like everything else

    def on_batch(self, frames: list[bytes], replies: list[bytes]) -> None:
        """Responder hook, in the loop thread: queue the batch's requests and replies; never waits."""
        if not self.done:
            self._worker.offer((time.time(), frames, replies), len(frames) + len(replies))

    def close(self) -> None:
        """Write what is queued and close the file, within CLOSE_TIMEOUT seconds; then abandon a stuck writer."""
        if not self._worker.close(CLOSE_TIMEOUT):
            log.warning("pcap: writing %s did not finish within %g s (a reader that stopped reading?); abandoned",
                        self.path, CLOSE_TIMEOUT)  # fmt: skip

    def _write_batch(self, item: tuple[float, list[bytes], list[bytes]] | None) -> None:
        if self.done:
            return
        if item is not None:
            stamp, frames, replies = item
            sec = int(stamp)
            usec = int((stamp - sec) * 1_000_000)
            for frame in (*frames, *replies):
                self._writer.write_packet(frame, sec=sec, usec=usec)
                self.written += 1
                if self.written >= self.max_frames:
                    self.done = True
                    break
        try:
            self._flush()
        except OSError as e:  # disk full, I/O error, the reader went away: the capture ends, answering goes on
            self.done = True
            log.error("pcap: writing %s failed (%s) after %d frames; capture stopped",
                      self.path, e.strerror or e, self.written)  # fmt: skip
            return
        if self.done:
            log.info("pcap: %d frames written to %s, the --pcap-max limit; capture stopped", self.written, self.path)
            self._close_file()

    def _flush(self) -> None:
        data = memoryview(self._buffer.getvalue())
        while data:
            data = data[os.write(self._fd, data) :]
        self._buffer.seek(0)
        self._buffer.truncate()

    def _close_file(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


def _open_for_writing(path: Path) -> int:
    """A descriptor on path, created or truncated, opened without waiting for a FIFO's reader; UserError if not."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise UserError(f"--pcap {path}: a FIFO with no reader; start the reader first") from None
        raise UserError(f"--pcap {path}: {e.strerror or e}") from None
    # Writes block again, in the worker thread only: a FIFO whose reader is slow is waited for, not spun on.
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    if stat.S_ISFIFO(os.fstat(fd).st_mode):
        log.info("pcap: %s is a FIFO; frames its reader does not take in time are dropped and counted", path)
    return fd
