"""What to do with one received frame: the reply to send, or the named reason not to.

The reference is the Linux kernel answering for an address assigned to its
interface; the README's decision table lists each case, measured against a
kernel on a veth pair (tests/test_kernel_parity.py repeats the measurement).
Where we differ from it on purpose, the reason says so:

- BAD_SENDER also covers a multicast, broadcast or zero sender MAC, which
  the kernel answers (its reply would go to a group or to nobody);
- OWN_FRAME: the kernel answers frames that carry its own MAC as source; we
  drop them so two instances, or a loop, never talk to each other.

VLAN tags: engines hand frames over as they were on the wire, an 802.1Q or
802.1ad tag included (the packet engine puts back the tag the kernel moved
into the ring header). A priority tag (VLAN ID 0, IEEE 802.1Q: "priority
only") is read past and the frame answered untagged, as the kernel does. A
tag for another VLAN is not ours to answer: the kernel, with no VLAN device
for it, marks such a frame "for another host" and ignores it. A link that
answers on a VLAN of its parent (`vlan`) answers only frames tagged with
it, and tags its replies the same way (VLAN ID only, priority 0: what a
kernel VLAN device sends by default).

`decide` is pure: no sockets, no clocks, no logging. Every engine calls it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from enum import StrEnum

from .addrset import AddressSet, is_refused
from .codec import (
    ARP_FRAME,
    ARP_FRAME_LEN,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    ETHERTYPE_QINQ,
    ETHERTYPE_VLAN,
    HLEN_ETHERNET,
    HTYPE_ETHERNET,
    HTYPE_IEEE802,
    OP_REPLY,
    OP_REQUEST,
    PLEN_IPV4,
    ZERO_MAC,
    pack_arp,
)


class Drop(StrEnum):
    """Why a frame got no reply. The values are the names stats and logs show."""

    TRUNCATED = "truncated"  # shorter than Ethernet header + ARP payload (42 bytes)
    UNSUPPORTED = "unsupported"  # not ARP for Ethernet/IPv4 (ethertype, htype, ptype, hlen, plen)
    NOT_REQUEST = "not-request"  # a reply, or an op we do not know
    OWN_FRAME = "own-frame"  # Ethernet source is our own MAC: one of our frames, looped back
    BAD_SENDER = "bad-sender"  # sender MAC not one host, or sender IP multicast/broadcast/loopback
    GRATUITOUS = "gratuitous"  # sender IP == target IP: an announcement, not a question
    BAD_TARGET = "bad-target"  # target IP nobody may own (0.0.0.0, loopback, multicast, broadcast)
    NOT_IN_SET = "not-in-set"  # someone else's address
    NOT_FOR_US = "not-for-us"  # unicast to another host's MAC
    CONFLICT = "conflict"  # sender uses an address in our set: another host claims it
    OTHER_VLAN = "other-vlan"  # 802.1Q-tagged for a VLAN we do not answer on (VLAN ID 0 is answered)
    SUBNET_BROADCAST = "subnet-broadcast"  # target is in the set but is a broadcast address the kernel routes here
    YIELDED = "yielded"  # target is in the set, but another host uses it now (on_conflict = yield or defend)
    UNCLAIMED = "unclaimed"  # claim = unowned: nobody is known to use the target, and we have not claimed it yet
    OWNED = "owned-by-other"  # claim = unowned: another host uses the target
    STANDBY = "standby"  # this instance stands by (keepalived's backup): it counts requests, answers none


# Bytes 12-21 of an ARP request for Ethernet/IPv4: ethertype, htype (1, or 6 as Linux also takes), ptype, hlen,
# plen, op. Comparing them in one go is the hot path's first test; only frames that fail it are looked at field by field.
_REQUEST_HEADERS = (
    struct.pack("!HHHBBH", ETHERTYPE_ARP, HTYPE_ETHERNET, ETHERTYPE_IPV4, HLEN_ETHERNET, PLEN_IPV4, OP_REQUEST),
    struct.pack("!HHHBBH", ETHERTYPE_ARP, HTYPE_IEEE802, ETHERTYPE_IPV4, HLEN_ETHERNET, PLEN_IPV4, OP_REQUEST),
)
_ADDRESS_FIELDS = struct.Struct("!6s6s10x6sI6xI")  # eth_dst, eth_src, sha, spa, tpa
_VLAN_TAG = struct.Struct("!HH")  # TPID, TCI: the 4 bytes a tag inserts after the MAC addresses
_TAG_LEN = _VLAN_TAG.size
_VLAN_ID_MASK = 0x0FFF  # of the TCI; the top 4 bits are priority and drop eligibility
_TAG_TYPES = (ETHERTYPE_VLAN, ETHERTYPE_QINQ)
NOTHING_WITHHELD: Mapping[int, Drop] = {}


def decide(
    frame: bytes,
    addresses: AddressSet,
    our_mac: bytes,
    withheld: Mapping[int, Drop] = NOTHING_WITHHELD,
    vlan: int = 0,
) -> bytes | Drop:
    """The reply frame (60 bytes; 64 tagged) for an ARP request we should answer, else the Drop reason.

    frame: an Ethernet frame as received (at least 42 bytes to be an ARP
    request; 802.1Q/802.1ad tags may follow the MAC addresses).
    addresses: the set we answer for; our_mac: the interface's MAC (6 bytes).
    withheld: addresses of the set not to be answered here, each with the
    reason (e.g. a broadcast address of the interface's subnet); empty costs
    nothing. vlan: the VLAN ID this link answers on, on its parent
    interface; 0 for untagged frames. Never raises, whatever the bytes.
    """
    if len(frame) < ARP_FRAME_LEN:
        return Drop.TRUNCATED
    if frame[12:22] not in _REQUEST_HEADERS or vlan:
        return _not_a_plain_request(frame, addresses, our_mac, withheld, vlan)
    eth_dst, eth_src, sha, spa, tpa = _ADDRESS_FIELDS.unpack_from(frame)
    if eth_src == our_mac:
        return Drop.OWN_FRAME
    if sha[0] & 1 or sha == ZERO_MAC or (spa and is_refused(spa)):  # spa 0.0.0.0 is a probe: answered
        return Drop.BAD_SENDER
    if spa == tpa:
        return Drop.GRATUITOUS
    mac = addresses.resolve(tpa, our_mac)
    if mac is None:  # a refused target is never in a set (AddressSet refuses them): only here is it worth asking
        return Drop.BAD_TARGET if is_refused(tpa) else Drop.NOT_IN_SET
    # Broadcast and multicast reach every host (the kernel answers both); a
    # unicast must be for our MAC or for the entry's own, as a peer refreshing
    # its cache sends it.
    if not eth_dst[0] & 1 and eth_dst != our_mac and eth_dst != mac:
        return Drop.NOT_FOR_US
    if addresses.resolve(spa, our_mac) is not None:
        return Drop.CONFLICT
    if withheld and tpa in withheld:
        return withheld[tpa]
    return pack_arp(sha, our_mac, OP_REPLY, mac, tpa, sha, spa)


def _not_a_plain_request(
    frame: bytes, addresses: AddressSet, our_mac: bytes, withheld: Mapping[int, Drop], vlan: int
) -> bytes | Drop:
    """Decide a frame that is tagged, not an Ethernet/IPv4 ARP request, or on a link that answers on a VLAN."""
    tpid, tci = _VLAN_TAG.unpack_from(frame, 12)
    if tpid in _TAG_TYPES:
        # Priority tags (VLAN ID 0) are read past, as many as there are (a loop: no recursion depth to exhaust);
        # the frame inside is decided as an untagged one.
        while tpid in _TAG_TYPES:
            vid = tci & _VLAN_ID_MASK
            if vid:
                if vid != vlan:
                    return Drop.OTHER_VLAN
                outcome = decide(frame[:12] + frame[12 + _TAG_LEN :], addresses, our_mac, withheld)
                if outcome.__class__ is Drop:
                    return outcome
                return outcome[:12] + _VLAN_TAG.pack(tpid, vid) + outcome[12:]
            frame = frame[:12] + frame[12 + _TAG_LEN :]
            if len(frame) < 12 + _TAG_LEN:
                return Drop.TRUNCATED
            tpid, tci = _VLAN_TAG.unpack_from(frame, 12)
        return decide(frame, addresses, our_mac, withheld, vlan)
    if vlan:
        return Drop.OTHER_VLAN  # untagged (or priority-tagged): the parent's own network, not this VLAN
    _dst, _src, ethertype, htype, ptype, hlen, plen, _op, *_ = ARP_FRAME.unpack_from(frame)
    if (
        ethertype != ETHERTYPE_ARP
        or (htype != HTYPE_ETHERNET and htype != HTYPE_IEEE802)
        or ptype != ETHERTYPE_IPV4
        or hlen != HLEN_ETHERNET
        or plen != PLEN_IPV4
    ):
        return Drop.UNSUPPORTED
    return Drop.NOT_REQUEST


# A frame whose sender may be another host using an address of ours, by the reason decide() dropped it for: a
# request (for any target) or an announcement from that address, a reply from it. The responder asks sender_of()
# of these only: the frames it answers, and those malformed or from us, say nothing about other hosts.
SENDER_TELLS = frozenset(
    {Drop.CONFLICT, Drop.GRATUITOUS, Drop.NOT_REQUEST, Drop.NOT_IN_SET, Drop.BAD_TARGET, Drop.NOT_FOR_US}
)
_SENDER = struct.Struct("!12xH6xH6sI")  # ethertype, (htype ptype hlen plen skipped), op, sha, spa


def sender_of(frame: bytes) -> tuple[int, bytes] | None:
    """(sender IP, sender MAC) of an untagged Ethernet/IPv4 ARP request or reply that says its sender uses that IP:
    not a probe (sender IP 0.0.0.0 claims nothing, RFC 5227), and the MAC one host's. None for anything else."""
    if len(frame) < ARP_FRAME_LEN or frame[14:20] not in _ETHER_IPV4:
        return None
    ethertype, op, sha, spa = _SENDER.unpack_from(frame)
    if ethertype != ETHERTYPE_ARP or op not in (OP_REQUEST, OP_REPLY) or not spa or sha[0] & 1 or sha == ZERO_MAC:
        return None
    return spa, sha


def probe_target(frame: bytes) -> int | None:
    """The target IP of an RFC 5227 probe (a request with sender IP 0.0.0.0), else None."""
    if len(frame) < ARP_FRAME_LEN or frame[12:22] not in _REQUEST_HEADERS or frame[28:32] != b"\0\0\0\0":
        return None
    return int.from_bytes(frame[38:42], "big")


_ETHER_IPV4 = tuple(h[2:8] for h in _REQUEST_HEADERS)  # htype (1 or 6), ptype, hlen, plen
