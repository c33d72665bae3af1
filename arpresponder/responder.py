"""One link's responder: a batch of frames in, the replies out, every outcome counted.

Engines only move frames (see engines/), and the service's loop hands each
link's batches here (service.py); the decision (decide()) and the counters
are the same for every engine and link.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

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
        # The batch path (answering.py) may decide this link's frames: False keeps every frame going through
        # decide() here (a policy whose withheld addresses are not a list: standby, claim mode; service.py).
        self.batch_ok = True

    def handle_batch(self, frames: list[bytes]) -> list[bytes]:
        """Decide and count a batch; the replies to send (none in a dry run)."""
        replies, dropped = self.decide_frames(frames)
        self.count(frames, replies, dropped)
        return [] if self.dry_run else replies

    def decide_frames(self, frames: list[bytes]) -> tuple[list[bytes], dict[Drop, int]]:
        """decide() for each frame: the replies, in frame order, and the drops by reason. Counts nothing (count()
        does, once the replies are sent); logs each decision under -v, and hands notice() what it sees."""
        replies: list[bytes] = []
        dropped: dict[Drop, int] = {}  # a dict, not a Counter: no Python-level __init__ before a lone reply leaves
        addresses, mac, withheld, vlan = self.addresses, self.mac, self.withheld, self.vlan
        debug = log.isEnabledFor(logging.DEBUG)
        noticed: list[tuple[bytes, Drop]] = []
        for frame in frames:
            outcome = decide(frame, addresses, mac, withheld, vlan)
            if outcome.__class__ is bytes:
                replies.append(outcome)
            else:
                dropped[outcome] = dropped.get(outcome, 0) + 1
                if outcome in NOTICED:
                    noticed.append((frame, outcome))
            if debug:
                log.debug("%s", describe(frame, outcome))
        if noticed and self.notice is not None:
            self.notice(noticed)
        return replies, dropped

    def count(self, frames: Sequence[bytes], replies: Sequence[bytes], dropped: Mapping[Drop, int]) -> None:
        """Count a decided batch (every frame once: replied, or its drop reason), feed the top-K sketch, and hand
        the frames and replies (none in a dry run) to on_batch. frames, replies: sequences of bytes (list, or a
        view that builds each only when asked: the sketch asks for a few, --pcap for all)."""
        stats = self.stats
        stats.received += len(frames)
        stats.replied += len(replies)
        if dropped:
            stats.dropped.update(dropped)
        stats.sketch_batch(frames, 4 if self.vlan else 0)  # a VLAN link's frames carry a tag: fields 4 bytes on
        if self.on_batch is not None:
            self.on_batch(list(frames), [] if self.dry_run else list(replies))


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
