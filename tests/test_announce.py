"""Announcing under a flood: a full transmit queue is waited out, other errors end the announcement."""

import errno
import threading

import pytest

from arpresponder.announce import _send_patiently


def failing(times: int, code: int):
    calls = []

    def send(frame: bytes) -> None:
        calls.append(frame)
        if len(calls) <= times:
            raise OSError(code, "refused")

    return send, calls


def test_a_full_queue_is_waited_out():
    send, calls = failing(3, errno.ENOBUFS)
    assert _send_patiently(send, b"frame", threading.Event())
    assert len(calls) == 4


def test_other_errors_are_raised_at_once():
    send, calls = failing(1, errno.ENETDOWN)
    with pytest.raises(OSError):
        _send_patiently(send, b"frame", threading.Event())
    assert len(calls) == 1


def test_a_queue_that_stays_full_is_an_error_in_the_end():
    send, _ = failing(10**9, errno.ENOBUFS)
    with pytest.raises(OSError):
        _send_patiently(send, b"frame", threading.Event())


def test_stopping_while_waiting_sends_nothing_more():
    stop = threading.Event()
    stop.set()
    send, calls = failing(10**9, errno.ENOBUFS)
    assert not _send_patiently(send, b"frame", stop)
    assert len(calls) == 1
