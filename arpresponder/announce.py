"""Gratuitous ARP: tell the link that our addresses are at our MAC.

Neighbours keep a cached MAC for minutes; after a box holding alias IPs is
swapped, they keep sending to the old one until told otherwise. For each
address we send both gratuitous forms (codec.gratuitous_frames), `count`
rounds `interval` seconds apart (RFC 5227 announces twice, 2 s apart), never
faster than `rate` frames a second, so a /16 does not flood the link.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Container
from dataclasses import dataclass

from .addrset import AddressSet
from .codec import gratuitous_frames

log = logging.getLogger("arpresponder")


@dataclass(frozen=True)
class AnnounceSettings:
    """How to pace announcements. The ranges each value must lie in are limits.ANNOUNCE_*; the CLI and the config
    reader check them, as they read the values."""

    count: int = 2  # rounds (RFC 5227: ANNOUNCE_NUM)
    interval: float = 2.0  # seconds between rounds (RFC 5227: ANNOUNCE_INTERVAL)
    rate: float = 1000.0  # frames per second, at most


def announce(
    send: Callable[[bytes], None],
    addresses: AddressSet,
    interface_mac: bytes,
    settings: AnnounceSettings,
    stop: threading.Event | None = None,
    on_sent: Callable[[int], None] = lambda n: None,
    skip: Container[int] = (),
) -> int:
    """Send the announcements; returns frames sent. Stops early, between frames, when stop is set.

    skip: addresses of the set not to announce (those not answered here, e.g. a subnet's broadcast address).
    """
    stop = stop or threading.Event()
    n_addresses = len(addresses) - sum(1 for ip in skip if ip in addresses) if skip else len(addresses)
    per_round = 2 * n_addresses
    log.info(
        "announcing %d address%s: %d frames a round, %d round%s %.1f s apart, at most %.0f frames/s (about %.1f s a round)",
        n_addresses, "" if n_addresses == 1 else "es", per_round, settings.count, "" if settings.count == 1 else "s",
        settings.interval, settings.rate, per_round / settings.rate,
    )  # fmt: skip
    gap = 1.0 / settings.rate
    sent = 0
    for round_no in range(settings.count):
        if round_no and stop.wait(settings.interval):
            break
        due = time.monotonic()
        for ip, mac in addresses.addresses():
            if skip and ip in skip:
                continue
            for frame in gratuitous_frames(mac or interface_mac, ip, interface_mac):
                delay = due - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return sent
                if stop.is_set():
                    return sent
                if not _send_patiently(send, frame, stop):
                    return sent
                sent += 1
                on_sent(1)
                due += gap
    log.info("announced: %d gratuitous ARP frames sent", sent)
    return sent


RETRY_WAIT = 0.002  # seconds between tries of a frame the kernel had no room for
RETRY_FOR = 0.5  # seconds before giving up on it


def _send_patiently(send: Callable[[bytes], None], frame: bytes, stop: threading.Event) -> bool:
    """send(frame), waiting out a full queue (under a flood the replies share it); False if stopped meanwhile.

    Other errors, and a queue still full after RETRY_FOR, are raised.
    """
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            send(frame)
            return True
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN) or time.monotonic() > deadline:
                raise
        if stop.wait(RETRY_WAIT):
            return False
