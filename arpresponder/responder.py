"""The responder loop: frames in from an engine, decisions, replies out, every outcome counted.

Engines only move frames (see engines/); this loop is the same for all of
them, so is the decision, so are the counters.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping

from .addrset import AddressSet
from .codec import ArpFrame, FrameError, format_ipv4, format_mac, vlan_tags
from .decision import NOTHING_WITHHELD, Drop, decide
from .engines import Engine
from .errors import EngineError
from .observe.stats import Stats

log = logging.getLogger("arpresponder")

POLL_INTERVAL = 0.2  # seconds an idle engine waits before we look at the stop flag again


class Responder:
    """Decides for each frame and counts the outcome; hands back the replies to send."""

    def __init__(self, addresses: AddressSet, mac: bytes, stats: Stats, dry_run: bool = False,
                 on_batch: Callable[[list[bytes], list[bytes]], None] | None = None,
                 withheld: Mapping[int, Drop] = NOTHING_WITHHELD):  # fmt: skip
        self.addresses = addresses
        self.mac = mac
        self.withheld = withheld  # addresses of the set not answered here, and why (decide's withheld)
        self.stats = stats
        self.dry_run = dry_run
        self.on_batch = on_batch  # sees each batch and the replies to send (e.g. --pcap); off the hot path if None
        self._warned_conflict = False

    def handle_batch(self, frames: list[bytes]) -> list[bytes]:
        replies: list[bytes] = []
        dropped: Counter[Drop] = Counter()  # added to the stats next to the other counts, once per batch
        addresses, mac, withheld = self.addresses, self.mac, self.withheld
        debug = log.isEnabledFor(logging.DEBUG)
        for frame in frames:
            outcome = decide(frame, addresses, mac, withheld)
            if outcome.__class__ is bytes:
                replies.append(outcome)
            else:
                dropped[outcome] += 1
                if outcome is Drop.CONFLICT and not self._warned_conflict:
                    self._warn_conflict(frame)
            if debug:
                log.debug("%s", describe(frame, outcome))
        self.stats.received += len(frames)
        self.stats.replied += len(replies)
        if dropped:
            self.stats.dropped.update(dropped)
        self.stats.sketch_batch(frames)
        if self.dry_run:
            replies = []
        if self.on_batch is not None:
            self.on_batch(frames, replies)
        return replies

    def _warn_conflict(self, frame: bytes) -> None:
        self._warned_conflict = True
        request = ArpFrame.from_bytes(vlan_tags(frame)[1])  # decide() said CONFLICT: a well-formed request
        log.warning(
            "another host uses %s, an address in our set (it asked from %s); "
            "we do not answer it, and further cases are counted as 'conflict'",
            format_ipv4(request.spa), format_mac(request.sha),
        )  # fmt: skip


def describe(frame: bytes, outcome: bytes | Drop) -> str:
    """One log line for one decision."""
    return (
        f"drop {outcome}: {_text(frame)}" if isinstance(outcome, Drop) else f"reply {_text(outcome)} for {_text(frame)}"
    )


def _text(frame: bytes) -> str:
    vlans, inner = vlan_tags(frame)
    tagged = "".join(f" (vlan {vid})" for vid in vlans)
    try:
        return str(ArpFrame.from_bytes(inner)) + tagged
    except FrameError as e:
        return f"{len(frame)}-byte frame{tagged} ({type(e).__name__}: {e})"


def serve(engine: Engine, responder: Responder, stop: threading.Event) -> None:
    """Answer until stop is set. Stats are brought up to date once per batch."""
    stats = responder.stats
    while not stop.is_set():
        try:
            frames = engine.receive_batch(POLL_INTERVAL)
        except OSError as e:
            _survive_receive_error(engine.interface, e)
            continue
        if frames:
            replies = responder.handle_batch(frames)
            if replies:
                sent = engine.send_batch(replies)
                stats.sent += sent
                stats.send_errors += len(replies) - sent
        drops = engine.kernel_drops()
        if drops is not None:
            stats.kernel_drops = (stats.kernel_drops or 0) + drops


def _survive_receive_error(interface: str, error: OSError) -> None:
    """A link that goes down is reported, and works again when up; other errors end the run.

    (An interface deleted or replaced is the engine's InterfaceGone, which
    is not an OSError and ends the run too.)
    """
    if error.errno != errno.ENETDOWN:
        raise EngineError(f"receiving on {interface} failed: {error.strerror or error}") from None
    log.warning("%s went down; answering again once it is up", interface)
