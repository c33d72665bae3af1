"""Views that never block: a bounded worker thread for slow writes, and a tally of what a view had to give up.

A view that writes somewhere that can stall (a pcap FIFO whose reader stopped
reading, a JSON file on a hung NFS mount, a stderr nobody reads) does it from
a BoundedWorker: whoever hands it work (the loop thread, a signal handler,
another view) never waits, and what does not fit in its queue is dropped and
counted in a Tally. The servers (control socket, metrics) count the
connections they close unanswered in a Tally too, so every view reports what
it dropped the same way: a number in the stats snapshot and at most one log
line a minute.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("arpresponder")

LOG_PERIOD = 60.0  # seconds between two log lines of one Tally


class Tally:
    """How many items (frames, log records, writes, connections) a view gave up; safe to add to from any thread.

    message, if given, is a %-format with one %d (the count since the last
    line): it is logged at the first drop, then at most once every `period`
    seconds (at a drop that comes after the period), so a flood of drops is
    one line a minute, not one a drop. None: counted, never logged (the log's
    own drops, which cannot be logged).
    """

    def __init__(self, message: str | None = None, period: float = LOG_PERIOD):
        self.message = message
        self.period = period
        self.total = 0
        self._unlogged = 0
        self._next_log = 0.0
        # Reentrant: a signal handler that logs runs in the main thread, maybe while that thread is in add().
        self._lock = threading.RLock()

    def add(self, n: int = 1) -> None:
        if n <= 0:
            return
        with self._lock:
            self.total += n
            if self.message is None:
                return
            self._unlogged += n
            now = time.monotonic()
            if now < self._next_log:
                return
            count, self._unlogged, self._next_log = self._unlogged, 0, now + self.period
        log.warning(self.message, count)


class _Marker:
    """An item that sets its event when the worker reaches it: everything offered before it is handled."""

    def __init__(self) -> None:
        self.reached = threading.Event()


_STOP = object()


class BoundedWorker:
    """A daemon thread that calls handle(item) for each item offered, in order; offer() never waits.

    capacity: items queued at most; an item offered beyond it is dropped and
    its weight (e.g. the frames in a batch) added to `dropped`. The queue is a
    SimpleQueue, whose put() is safe in a signal handler, and the bound is
    checked before the put, so it may be exceeded by one item per thread
    offering at the same moment. handle() should deal with its own errors; one
    it raises is logged (once) and the worker goes on with the next item.
    finish(), if given, runs in the worker thread after the last item, at
    close(): e.g. closing the file, which may block as much as writing it.
    """

    def __init__(self, name: str, handle: Callable[[Any], None], capacity: int, dropped: Tally,
                 finish: Callable[[], None] | None = None):  # fmt: skip
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.name = name
        self.handle = handle
        self.capacity = capacity
        self.dropped = dropped
        self.finish = finish
        self._queue: queue.SimpleQueue[tuple[Any, int]] = queue.SimpleQueue()
        self._closing = False
        self._failed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, item: Any, weight: int = 1) -> bool:
        """Queue item for the worker, or drop it (counting weight) if the queue is full or closing; never waits."""
        if self._closing or self._queue.qsize() >= self.capacity:
            self.dropped.add(weight)
            return False
        self._queue.put((item, weight))
        return True

    def sync(self, timeout: float) -> bool:
        """Wait up to timeout seconds for everything offered so far to be handled; False if it was not."""
        marker = _Marker()
        self._queue.put((marker, 0))
        return marker.reached.wait(timeout)

    def close(self, timeout: float) -> bool:
        """Let the worker handle what is queued, then finish(), within timeout seconds.

        Returns False if it did not (it is stuck in a write): it is abandoned,
        a daemon thread that never holds the process up, and the items it
        still had queued are counted as dropped.
        """
        self._closing = True
        self._queue.put((_STOP, 0))
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return True
        lost = 0
        with_stop = False
        while True:
            try:
                item, weight = self._queue.get_nowait()
            except queue.Empty:
                break
            lost += weight
            with_stop |= item is _STOP
        if with_stop:
            self._queue.put((_STOP, 0))  # should the write ever return, finish() still runs
        self.dropped.add(lost)
        return False

    def _run(self) -> None:
        while True:
            item, _weight = self._queue.get()
            if item is _STOP:
                break
            if isinstance(item, _Marker):
                item.reached.set()
                continue
            self._call(self.handle, item)
        if self.finish is not None:
            self._call(self.finish)

    def _call(self, function: Callable, *args: Any) -> None:
        try:
            function(*args)
        except Exception as e:  # noqa: BLE001  (a view's bug must not end its thread, nor the run)
            if not self._failed:
                self._failed = True
                log.error("%s: %s: %s (further errors of this view are not logged)", self.name, type(e).__name__, e)
