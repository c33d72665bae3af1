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
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, replace

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
    enabled: bool = False  # announce at start, when the link comes up or changes MAC, and what a reload adds
    every: float | None = None  # and the whole set again every this many seconds (None: never)


def announce(
    send: Callable[[bytes], None],
    addresses: AddressSet | Entries,
    interface_mac: bytes,
    settings: AnnounceSettings,
    stop: threading.Event | None = None,
    on_sent: Callable[[int], None] = lambda n: None,
    skip: Container[int] = (),
    label: str = "",
) -> int:
    """Send the announcements; returns frames sent. Stops early, between frames, when stop is set.

    skip: addresses of the set not to announce (those not answered here, e.g. a subnet's broadcast address).
    label: the interface, to name in the log.
    """
    where = f"{label}: " if label else ""
    stop = stop or threading.Event()
    n_addresses = len(addresses) - sum(1 for ip in skip if ip in addresses) if skip else len(addresses)
    per_round = 2 * n_addresses
    seconds = per_round / settings.rate
    log.info(
        "%sannouncing %d address%s: %d frames a round, %d round%s %g s apart, at most %g frames/s (%s a round)",
        where, n_addresses, "" if n_addresses == 1 else "es", per_round, settings.count,
        "" if settings.count == 1 else "s", settings.interval, settings.rate,
        f"about {seconds:.1f} s" if seconds >= 0.1 else "under 0.1 s",
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
    log.info("%sannounced: %d gratuitous ARP frames sent", where, sent)
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


class Entries:
    """Some addresses to announce, each with its entry MAC (None: the interface's): what a reload added.

    Quacks like the AddressSet that announce() otherwise takes: addresses() and len().
    """

    def __init__(self, entries: list[tuple[int, bytes | None]]):
        self._entries = entries

    def addresses(self) -> Iterator[tuple[int, bytes | None]]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ip: int) -> bool:
        return any(entry_ip == ip for entry_ip, _ in self._entries)


def added(new: AddressSet, old: AddressSet) -> Entries:
    """What to announce after a reload: the addresses of new that old lacks, or that it answered with another MAC."""
    missing = object()
    return Entries([(ip, mac) for ip, mac in new.addresses() if old.resolve(ip, missing) != (mac or missing)])


@dataclass(frozen=True)
class Target:
    """Where and as what one link announces, read when a job starts: the engine's send, the MAC, the set."""

    send: Callable[[bytes], None]
    mac: bytes
    addresses: AddressSet
    skip: Container[int]  # addresses of the set not answered there (withheld)


class Announcer:
    """One link's gratuitous ARP, sent from a thread of its own: jobs in the order asked, and every `every` seconds.

    target() says, when a job starts, where to send and as what MAC (None:
    the link is not answering, and the job is dropped), so a job started
    after the MAC changed or the interface came back uses the new ones.
    cancel() drops what is queued and stops the job under way between two
    frames; close() ends the thread.
    """

    def __init__(self, label: str, settings: AnnounceSettings, target: Callable[[], Target | None],
                 on_sent: Callable[[int], None]):  # fmt: skip
        self.label = label
        self.settings = settings
        self.target = target
        self.on_sent = on_sent
        self._jobs: list[tuple[str, Entries | None, int | None]] = []  # (why, what: None for the whole set, rounds)
        self._wake = threading.Condition()
        self._stop_job = threading.Event()
        self._closed = False
        self._next_refresh = time.monotonic() + settings.every if settings.every else None
        self._thread = threading.Thread(target=self._run, name=f"announce {label}", daemon=True)
        self._thread.start()

    def request(self, why: str, what: Entries | None = None, rounds: int | None = None) -> None:
        """Announce `what` (default: the whole set) once the jobs before it are done, in `rounds` rounds (default:
        the settings' count; 1 for an RFC 5227 defence); `why` is logged."""
        with self._wake:
            self._jobs.append((why, what, rounds))
            self._wake.notify()

    def reconfigure(self, settings: AnnounceSettings) -> None:
        """New pace and refresh period (a reload); the job under way keeps its own."""
        with self._wake:
            self.settings = settings
            self._next_refresh = time.monotonic() + settings.every if settings.every else None
            self._wake.notify()

    def cancel(self) -> None:
        """Drop the queued jobs and stop the one under way (the link stops answering)."""
        with self._wake:
            self._jobs.clear()
            self._stop_job.set()

    def close(self, timeout: float = 2) -> None:
        with self._wake:
            self._closed = True
            self._jobs.clear()
            self._stop_job.set()
            self._wake.notify()
        self._thread.join(timeout)

    def _next_job(self) -> tuple[str, AddressSet | Entries | None, AnnounceSettings] | None:
        """Wait for a job (or the refresh); None once closed."""
        with self._wake:
            while not self._closed:
                if self._jobs:
                    why, what, rounds = self._jobs.pop(0)
                    self._stop_job.clear()
                    return why, what, self.settings if rounds is None else replace(self.settings, count=rounds)
                now = time.monotonic()
                if self._next_refresh is not None and now >= self._next_refresh:
                    self._next_refresh = now + self.settings.every
                    self._stop_job.clear()
                    # One round: a refresh, as keepalived's garp_master_refresh (not the start's RFC 5227 pair).
                    return f"every {self.settings.every:g} s", None, replace(self.settings, count=1)
                wait = None if self._next_refresh is None else self._next_refresh - now
                self._wake.wait(wait)
        return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            why, what, settings = job
            target = self.target()
            if target is None:
                continue  # not answering now: the link announces again when it does
            log.debug("%s: announcing (%s)", self.label, why)
            try:
                announce(target.send, what if what is not None else target.addresses, target.mac, settings,
                         self._stop_job, on_sent=self.on_sent, skip=target.skip, label=f"{self.label} ({why})")  # fmt: skip
            except OSError as e:
                log.warning("%s: announcing stopped: the kernel refused a frame: %s", self.label, e.strerror or e)
