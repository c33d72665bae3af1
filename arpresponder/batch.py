"""Decide a whole batch of received frames at once with numpy: the common case here, everything else by decide().

`decision.decide` stays the definition of what gets an answer. This module
decides, for a batch of frames held in one numpy array (the RX ring's slots,
copied out by `RxRing.take_array`), the frames it can be sure of with a
fixed number of array operations, and builds their replies as one array
for `TxRing.send_array`. Under a flood, that replaces a few microseconds of
Python per frame with a few per batch (bench/batch_cost.py measures where
it starts to pay).

Sure, and decided here exactly as decide() would:

- a frame shorter than an Ethernet header and an ARP payload: truncated;
- an untagged Ethernet/IPv4 ARP request (htype 1 or 6), read at the fixed
  offsets decide() reads: own-frame, bad-sender, gratuitous, bad-target,
  not-in-set, not-for-us, conflict, a withheld target's reason, or the
  reply from the interface's MAC; in decide()'s order, so the first reason
  that applies wins there as here.

Unsure, left to decide(): frames the caller marks (e.g. a tag the ring
moved into the slot header, or a frame at an unusual offset), tagged
frames, anything that is not a plain request (not-request, unsupported),
requests for a target answered with an entry MAC of its own, and every
frame on a link that answers on a VLAN (vlan != 0). `BatchDecider.settle`
runs decide() on them.

Set membership is a binary search (numpy.searchsorted) over the set's
spans: its entries sorted by start with the running maximum of their ends,
which is in the union exactly when that maximum reaches the address.
"""

from __future__ import annotations

import copy
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .addrset import AddressSet
from .codec import (
    ARP_FRAME_LEN,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    HLEN_ETHERNET,
    HTYPE_ETHERNET,
    HTYPE_IEEE802,
    MIN_FRAME_LEN,
    OP_REPLY,
    OP_REQUEST,
    PLEN_IPV4,
    pack_arp,
)
from .decision import NOTHING_WITHHELD, SENDER_TELLS, Drop, decide

REPLY = -1  # BatchDecision.codes: answered, its reply in BatchDecision.replies
UNSURE = -2  # BatchDecision.codes: left to decide()
DROPS = tuple(Drop)  # BatchDecision.codes ≥ 0: the index of the Drop reason here

# Each field is read at a fixed offset from the Ethernet header as a big-endian integer: 8 bytes where a 6-byte
# MAC needs its neighbours' bytes to fill a word (masked or shifted off below), and a MAC's or address's first
# byte alone (its I/G bit; a refused address's class). The furthest byte read is tpa's last, byte 41.
_FIELDS = (("dst", ">u8", 0), ("dst0", "u1", 0), ("src", ">u8", 4), ("header", ">u8", 12), ("op_sha", ">u8", 20),
           ("sha0", "u1", 22), ("spa", ">u4", 28), ("spa0", "u1", 28), ("tpa", ">u4", 38))  # fmt: skip
# Bytes 12-19 of an untagged Ethernet/IPv4 ARP packet (ethertype, htype, ptype, hlen, plen); op is read with sha.
_HEADERS = tuple(np.uint64(int.from_bytes(struct.pack("!HHHBB", ETHERTYPE_ARP, htype, ETHERTYPE_IPV4, HLEN_ETHERNET,
                                                      PLEN_IPV4))) for htype in (HTYPE_ETHERNET, HTYPE_IEEE802))  # fmt: skip
# Constants as numpy scalars: an operation with a Python int converts it every time.
_MAC_BITS = np.uint64((1 << 48) - 1)
_0, _1, _16, _48 = np.uint64(0), np.uint8(1), np.uint64(16), np.uint64(48)
_OP_REQUEST = np.uint64(OP_REQUEST)
_ARP_FRAME_LEN = np.uint32(ARP_FRAME_LEN)
_BROADCAST_IP = np.uint32(0xFFFFFFFF)
# A non-zero address is refused (addrset.is_refused) if its first byte is 127 or 224-239, or it is 255.255.255.255.
_REFUSED_FIRST_BYTE = np.zeros(256, dtype=bool)
_REFUSED_FIRST_BYTE[[127, *range(224, 240)]] = True
_CODE = {reason: np.int8(i) for i, reason in enumerate(DROPS)}
_TELLS = np.array(sorted(_CODE[reason] for reason in SENDER_TELLS), dtype=np.int8)
_NO_REPLIES = np.empty((0, MIN_FRAME_LEN), dtype=np.uint8)
_NO_REPLIES.flags.writeable = False


@dataclass(frozen=True)
class BatchDecision:
    """What the batch path decided for N frames.

    codes: (N,) int8, one per frame in order: REPLY, UNSURE, or an index
    into DROPS. replies: (R,) × 60 bytes (uint8, shape (R, 60)), one reply
    per REPLY code, in frame order, ready for TxRing.send_array.
    sender_in_set: for telling(); None when every frame was answered.
    """

    codes: np.ndarray
    replies: np.ndarray
    sender_in_set: np.ndarray | None = None  # (N,) bool: the sender IP (read where a request's is) is in the set

    def telling(self) -> np.ndarray:
        """Indices (int64) of the frames decided here whose drop reason is in SENDER_TELLS and whose sender IP is in
        the set: those of them an owner table learns from (Responder.notice; it ignores senders outside the set)."""
        if self.sender_in_set is None:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(np.isin(self.codes, _TELLS) & self.sender_in_set)

    @property
    def unsure(self) -> np.ndarray:
        """Indices (int64) of the frames left to decide()."""
        return np.flatnonzero(self.codes == UNSURE)

    def drop_counts(self) -> Counter[Drop]:
        """The frames dropped here, by reason (unsure ones not included)."""
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(DROPS))
        return Counter({DROPS[i]: int(n) for i, n in enumerate(counts) if n})

    def outcome(self, i: int) -> bytes | Drop | None:
        """Frame i's outcome as decide() gives it: reply bytes or Drop; None when unsure. O(N): for logs and tests."""
        code = int(self.codes[i])
        if code == UNSURE:
            return None
        if code == REPLY:
            return self.replies[np.count_nonzero(self.codes[:i] == REPLY)].tobytes()
        return DROPS[code]


class BatchDecider:
    """decide() for a batch of frames at once, for one address set, interface MAC and withheld map.

    Build one per set (building sorts the set's entries: 0.1-0.2 s for a
    million); it is read-only afterwards. Same arguments as decide():
    addresses, our_mac (6 bytes), withheld (addresses of the set not
    answered here, each with its reason), vlan (the VLAN this link answers
    on; not 0: every frame is left to decide()).
    """

    def __init__(self, addresses: AddressSet, our_mac: bytes, withheld: Mapping[int, Drop] = NOTHING_WITHHELD,
                 vlan: int = 0):  # fmt: skip
        self.addresses, self.our_mac, self.withheld, self.vlan = addresses, our_mac, withheld, vlan
        self._our_mac = np.uint64(int.from_bytes(our_mac, "big"))
        singles = np.fromiter(addresses.singles, dtype=np.uint32, count=len(addresses.singles))
        range_starts = np.frombuffer(addresses.range_starts, dtype=np.uint32)
        range_ends = np.frombuffer(addresses.range_ends, dtype=np.uint32)
        self._set = _Spans(np.concatenate([singles, range_starts]), np.concatenate([singles, range_ends]))
        # Targets answered with an entry's own MAC are left to decide(): singles with a MAC, ranges with one (a
        # single without a MAC inside such a range too; rare, and decide() is right about it).
        own = [ip for ip, mac in addresses.singles.items() if mac is not None]
        ranged = [i for i, mac in enumerate(addresses.range_macs or ()) if mac is not None]
        own_mac = np.array(own, dtype=np.uint32)
        self._entry = _Spans(
            np.concatenate([own_mac, range_starts[ranged]]), np.concatenate([own_mac, range_ends[ranged]])
        )
        keys = sorted(withheld)
        self._withheld = np.array(keys, dtype=np.uint32)
        self._withheld_codes = np.array([_CODE[withheld[ip]] for ip in keys], dtype=np.int8)
        self._reply_template = _reply_template(our_mac)

    def for_mac(self, our_mac: bytes) -> BatchDecider:
        """The same decider for another interface MAC (a MAC change): the set's arrays are shared, not rebuilt."""
        other = copy.copy(self)
        other.our_mac, other._our_mac = our_mac, np.uint64(int.from_bytes(our_mac, "big"))
        other._reply_template = _reply_template(our_mac)
        return other

    def decide(self, rows: np.ndarray, lengths: np.ndarray, offset: int = 0,
               unsure: np.ndarray | None = None) -> BatchDecision:  # fmt: skip
        """Decide N frames: each starts `offset` bytes into its row of `rows` (uint8, shape (N, W), W ≥ offset + 42).

        lengths: (N,) each frame's length in bytes (bytes past it are never
        read). unsure: (N,) bool, frames to leave to decide() whatever they
        hold. Never raises on any bytes.
        """
        count = len(rows)
        if self.vlan or not count:
            return BatchDecision(np.full(count, UNSURE, dtype=np.int8), _NO_REPLIES)
        fields = np.ascontiguousarray(rows).view(_record(offset, rows.shape[1])).ravel()
        # Every test of decide() for a plain request, as masks. Numpy's cost here is per operation, not per frame
        # (microseconds each): the common case — every frame answered — takes as few as there can be.
        long = lengths >= _ARP_FRAME_LEN
        header, op_sha, dst = fields["header"], fields["op_sha"], fields["dst"]
        request = header == _HEADERS[0]
        if np.count_nonzero(request) != count:
            request |= header == _HEADERS[1]
        plain = request & (op_sha >> _48 == _OP_REQUEST) & long
        if unsure is not None:
            plain &= ~unsure
        spa, tpa, sha = fields["spa"].astype(np.uint32), fields["tpa"].astype(np.uint32), op_sha & _MAC_BITS
        own = fields["src"] & _MAC_BITS == self._our_mac
        bad_sender = (
            (fields["sha0"] & _1 != 0)
            | (sha == _0)
            | (_REFUSED_FIRST_BYTE.take(fields["spa0"]) | (spa == _BROADCAST_IP))
        )
        gratuitous = spa == tpa
        in_set = self._set.contains(tpa)
        not_for_us = (fields["dst0"] & _1 == 0) & (dst >> _16 != self._our_mac)
        conflict = self._set.contains(spa)
        refused = own | bad_sender | gratuitous | not_for_us | conflict
        entry = self._entry.contains(tpa) if len(self._entry) else None
        if entry is not None:
            refused |= entry
        withheld = self._withheld_codes_of(tpa) if len(self._withheld) else None
        if withheld is not None:
            refused |= withheld >= 0
        answered = plain & in_set & ~refused
        if np.count_nonzero(answered) == count:
            return BatchDecision(np.full(count, REPLY, dtype=np.int8), self._replies(rows, offset, None))
        # Not all answered: each frame's first reason in decide()'s order. Lowest priority first: each later
        # assignment overrides.
        codes = np.full(count, REPLY, dtype=np.int8)
        if withheld is not None:
            codes[withheld >= 0] = withheld[withheld >= 0]
        codes[conflict] = _CODE[Drop.CONFLICT]
        codes[not_for_us] = _CODE[Drop.NOT_FOR_US]
        if entry is not None:
            codes[entry] = UNSURE
        outside = ~in_set
        codes[outside] = np.where(_refused(tpa[outside]), _CODE[Drop.BAD_TARGET], _CODE[Drop.NOT_IN_SET])
        codes[gratuitous] = _CODE[Drop.GRATUITOUS]
        codes[bad_sender] = _CODE[Drop.BAD_SENDER]
        codes[own] = _CODE[Drop.OWN_FRAME]
        codes[~plain] = UNSURE
        codes[~long] = _CODE[Drop.TRUNCATED]
        if unsure is not None:
            codes[unsure] = UNSURE
        return BatchDecision(codes, self._replies(rows, offset, codes == REPLY), conflict)

    def _withheld_codes_of(self, tpa: np.ndarray) -> np.ndarray:
        """(N,) int8: the Drop code for each withheld target, -1 for the others."""
        at = np.minimum(np.searchsorted(self._withheld, tpa), len(self._withheld) - 1)
        return np.where(self._withheld[at] == tpa, self._withheld_codes[at], np.int8(-1)).astype(np.int8)

    def _replies(self, rows: np.ndarray, offset: int, answered: np.ndarray | None) -> np.ndarray:
        """The replies to the answered frames (None: all): to the sender's MAC, from ours, sender and target swapped."""
        asked = rows if answered is None else rows[answered]
        replies = np.empty((len(asked), MIN_FRAME_LEN), dtype=np.uint8)
        replies[:] = self._reply_template
        sha, spa, tpa = (asked[:, offset + at : offset + at + size] for at, size in ((22, 6), (28, 4), (38, 4)))
        replies[:, 0:6] = sha  # Ethernet destination
        replies[:, 28:32] = tpa  # sender IP: the address asked for
        replies[:, 32:38] = sha  # target MAC and IP: the asker's
        replies[:, 38:42] = spa
        return replies

    def settle(self, decision: BatchDecision, frame_at: Callable[[int], bytes]) -> tuple[list[bytes], Counter[Drop]]:
        """decide() for the frames the batch left unsure: their replies (in order) and drops by reason.

        frame_at(i): frame i's bytes as decide() takes them (tags back in
        place: RxBatch.frame). Together with decision.replies and
        decision.drop_counts(), the outcome of decide() for every frame.
        """
        replies: list[bytes] = []
        drops: Counter[Drop] = Counter()
        for i in decision.unsure:
            outcome = decide(frame_at(int(i)), self.addresses, self.our_mac, self.withheld, self.vlan)
            if outcome.__class__ is bytes:
                replies.append(outcome)
            else:
                drops[outcome] += 1
        return replies, drops


class _Spans:
    """Membership in a union of inclusive spans, overlapping or not, by one binary search per address.

    Sorted by start, an address is in the union exactly when the furthest
    end among the spans starting at or before it reaches it.
    """

    def __init__(self, starts: np.ndarray, ends: np.ndarray):
        order = np.argsort(starts, kind="stable")
        self.starts = starts[order]
        # reach[k]: the furthest end among the first k spans; -1 (reaches nothing) for none.
        self.reach = np.concatenate([[-1], np.maximum.accumulate(ends[order].astype(np.int64))]) if len(ends) else None

    def __len__(self) -> int:
        return len(self.starts)

    def contains(self, ips: np.ndarray) -> np.ndarray:
        """(N,) bool: is each address (uint32) in a span?"""
        if self.reach is None:
            return np.zeros(len(ips), dtype=bool)
        return self.reach.take(self.starts.searchsorted(ips, side="right")) >= ips


def _reply_template(our_mac: bytes) -> np.ndarray:
    """A reply from our_mac with the asker's fields zero: _replies fills them in."""
    return np.frombuffer(pack_arp(bytes(6), our_mac, OP_REPLY, our_mac, 0, bytes(6), 0), dtype=np.uint8)


def arp_targets(rows: np.ndarray, offset: int) -> np.ndarray:
    """(N,) uint32: the ARP target IP of each row's frame (starting `offset` bytes in), read where decide() reads an
    untagged request's; what it is for other frames does not matter (the batch path leaves them to decide())."""
    return rows[:, offset + 38 : offset + 42].copy().view(">u4").ravel().astype(np.uint32)


def _refused(ips: np.ndarray) -> np.ndarray:
    """addrset.is_refused for each address: 0.0.0.0, loopback, multicast, 255.255.255.255."""
    return (ips == 0) | (ips >> 24 == 127) | (ips >> 28 == 0xE) | (ips == 0xFFFFFFFF)


_RECORDS: dict[tuple[int, int], np.dtype] = {}


def _record(offset: int, width: int) -> np.dtype:
    """A row of `width` bytes whose frame starts at `offset`, as named big-endian fields (overlapping, unaligned)."""
    key = (offset, width)
    if key not in _RECORDS:
        if width < offset + ARP_FRAME_LEN:
            raise ValueError(f"rows of {width} bytes cannot hold a {ARP_FRAME_LEN}-byte frame at offset {offset}")
        names, formats, offsets = zip(*_FIELDS)
        _RECORDS[key] = np.dtype({"names": list(names), "formats": list(formats),
                                  "offsets": [offset + at for at in offsets], "itemsize": width})  # fmt: skip
    return _RECORDS[key]
