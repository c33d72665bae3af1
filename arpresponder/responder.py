"""One link's responder: a batch of frames in, the replies out, every outcome counted.

Engines only move frames (see engines/), and the service's loop hands each
link's batches here (service.py); the decision (decide()) and the counters
are the same for every engine and link.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping

from .addrset import AddressSet
from .codec import ArpFrame, FrameError, vlan_tags
from .decision import NOTHING_WITHHELD, SENDER_TELLS, Drop, decide
from .observe.stats import Stats

log = logging.getLogger("arpresponder")

NOTICED = SENDER_TELLS | {Drop.UNCLAIMED}  # the drops Responder.notice sees


class Responder:
    """Decides for each frame and counts the outcome; hands back the replies to send."""

    def __init__(self, addresses: AddressSet, mac: bytes, stats: Stats, dry_run: bool = False,
                 on_batch: Callable[[list[bytes], list[bytes]], None] | None = None,
                 withheld: Mapping[int, Drop] = NOTHING_WITHHELD, vlan: int = 0):  # fmt: skip
        self.addresses = addresses
        self.vlan = vlan  # the VLAN answered on, on the parent; 0: untagged frames
        self.mac = mac
        self.withheld = withheld  # addresses of the set not answered here, and why (decide's withheld)
        self.stats = stats
        self.dry_run = dry_run
        self.on_batch = on_batch  # sees each batch and the replies to send (e.g. --pcap); off the hot path if None
        # Sees the frames that may tell of another host using an address of ours (SENDER_TELLS), and in claim
        # mode the requests for addresses not claimed yet, with the reason each was dropped: the owner table's input.
        self.notice: Callable[[list[tuple[bytes, Drop]]], None] | None = None

    def handle_batch(self, frames: list[bytes]) -> list[bytes]:
        replies: list[bytes] = []
        dropped: Counter[Drop] = Counter()  # added to the stats next to the other counts, once per batch
        addresses, mac, withheld, vlan = self.addresses, self.mac, self.withheld, self.vlan
        debug = log.isEnabledFor(logging.DEBUG)
        noticed: list[tuple[bytes, Drop]] = []
        for frame in frames:
            outcome = decide(frame, addresses, mac, withheld, vlan)
            if outcome.__class__ is bytes:
                replies.append(outcome)
            else:
                dropped[outcome] += 1
                if outcome in NOTICED:
                    noticed.append((frame, outcome))
            if debug:
                log.debug("%s", describe(frame, outcome))
        if noticed and self.notice is not None:
            self.notice(noticed)
        self.stats.received += len(frames)
        self.stats.replied += len(replies)
        if dropped:
            self.stats.dropped.update(dropped)
        self.stats.sketch_batch(frames, 4 if vlan else 0)  # a VLAN link's frames carry a tag: fields 4 bytes on
        if self.dry_run:
            replies = []
        if self.on_batch is not None:
            self.on_batch(frames, replies)
        return replies


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
