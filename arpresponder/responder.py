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
from .codec import ArpFrame, FrameError, format_ipv4, format_mac, vlan_tags
from .decision import NOTHING_WITHHELD, Drop, decide
from .observe.stats import Stats

log = logging.getLogger("arpresponder")


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
        self._warned_conflict = False

    def handle_batch(self, frames: list[bytes]) -> list[bytes]:
        replies: list[bytes] = []
        dropped: Counter[Drop] = Counter()  # added to the stats next to the other counts, once per batch
        addresses, mac, withheld, vlan = self.addresses, self.mac, self.withheld, self.vlan
        debug = log.isEnabledFor(logging.DEBUG)
        for frame in frames:
            outcome = decide(frame, addresses, mac, withheld, vlan)
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
        self.stats.sketch_batch(frames, 4 if vlan else 0)  # a VLAN link's frames carry a tag: fields 4 bytes on
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
