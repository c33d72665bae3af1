"""The bounded worker and the tally: whoever offers work never waits, and what is dropped is counted, never lost silently."""

import logging
import threading
import time

import pytest

from arpresponder.observe.worker import BoundedWorker, Tally


class Stuck:
    """A handler that blocks on its first item until released, as a write to a FIFO nobody reads would."""

    def __init__(self):
        self.release = threading.Event()
        self.handled = []

    def __call__(self, item):
        self.release.wait(30)
        self.handled.append(item)


def test_offer_never_waits_and_counts_what_does_not_fit():
    stuck, dropped = Stuck(), Tally()
    worker = BoundedWorker("test", stuck, capacity=4, dropped=dropped)
    try:
        started = time.monotonic()
        accepted = [worker.offer(n, weight=10) for n in range(20)]
        assert time.monotonic() - started < 0.5
        # The worker took the first item and blocked on it; 4 more wait; the other 15 were dropped, 10 frames each.
        assert accepted.count(True) in (4, 5)  # 5 if the worker took item 0 off the queue before item 5 was offered
        assert dropped.total == 10 * accepted.count(False)
        stuck.release.set()
        assert worker.sync(5)
        assert stuck.handled == [n for n, ok in enumerate(accepted) if ok]  # in order
    finally:
        stuck.release.set()
        worker.close(5)


def test_close_drains_in_order_then_finishes():
    handled, finished = [], threading.Event()
    worker = BoundedWorker("test", handled.append, capacity=100, dropped=Tally(), finish=finished.set)
    for n in range(50):
        worker.offer(n)
    assert worker.close(5)
    assert handled == list(range(50)) and finished.is_set()
    assert not worker.offer(50)  # closed: dropped, counted
    assert worker.dropped.total == 1


def test_close_abandons_a_stuck_worker_in_bounded_time_and_counts_its_queue():
    stuck, dropped = Stuck(), Tally()
    worker = BoundedWorker("test", stuck, capacity=10, dropped=dropped)
    try:
        worker.offer("first", weight=3)
        time.sleep(0.1)  # the worker holds "first", stuck
        worker.offer("second", weight=5)
        worker.offer("third", weight=7)
        started = time.monotonic()
        assert worker.close(0.3) is False
        assert 0.25 < time.monotonic() - started < 1.0
        assert dropped.total == 5 + 7  # the queued ones; the one being written may still make it
    finally:
        stuck.release.set()


def test_a_failing_handler_is_logged_once_and_the_worker_goes_on(caplog):
    def handle(item):
        if item % 2:
            raise ValueError(f"odd {item}")
        handled.append(item)

    handled = []
    worker = BoundedWorker("test view", handle, capacity=10, dropped=Tally())
    with caplog.at_level(logging.ERROR, logger="arpresponder"):
        for n in range(6):
            worker.offer(n)
        assert worker.close(5)
    assert handled == [0, 2, 4]
    assert [r.getMessage() for r in caplog.records] == [
        "test view: ValueError: odd 1 (further errors of this view are not logged)"
    ]


def test_tally_logs_the_first_drop_then_at_most_once_a_period(caplog):
    tally = Tally("gave up %d things", period=0.3)
    with caplog.at_level(logging.WARNING, logger="arpresponder"):
        for _ in range(100):
            tally.add()
        time.sleep(0.35)
        tally.add(5)
    assert tally.total == 105
    assert [r.getMessage() for r in caplog.records] == ["gave up 1 things", "gave up 104 things"]


def test_a_tally_without_message_only_counts(caplog):
    tally = Tally()
    with caplog.at_level(logging.DEBUG):
        tally.add(3)
        tally.add(0)
    assert tally.total == 3 and not caplog.records


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        BoundedWorker("test", print, capacity=0, dropped=Tally())
