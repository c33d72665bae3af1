"""What to do with one received frame: the reply to send, or the named reason not to.

The reference is the Linux kernel answering for an address assigned to its
interface; the README's decision table lists each case, measured against a
kernel on a veth pair (tests/test_kernel_parity.py repeats the measurement).
Where we differ from it on purpose, the reason says so:

- BAD_SENDER also covers a multicast, broadcast or zero sender MAC, which
  the kernel answers (its reply would go to a group or to nobody);
- OWN_FRAME: the kernel answers frames that carry its own MAC as source; we
  drop them so two instances, or a loop, never talk to each other.

`decide` is pure: no sockets, no clocks, no logging. Every engine calls it.
"""

from __future__ import annotations

import struct
from enum import StrEnum

from .addrset import AddressSet, is_refused
from .codec import (
    ARP_FRAME,
    ARP_FRAME_LEN,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
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


# Bytes 12-21 of an ARP request for Ethernet/IPv4: ethertype, htype (1, or 6 as Linux also takes), ptype, hlen,
# plen, op. Comparing them in one go is the hot path's first test; only frames that fail it are looked at field by field.
_REQUEST_HEADERS = (
    struct.pack("!HHHBBH", ETHERTYPE_ARP, HTYPE_ETHERNET, ETHERTYPE_IPV4, HLEN_ETHERNET, PLEN_IPV4, OP_REQUEST),
    struct.pack("!HHHBBH", ETHERTYPE_ARP, HTYPE_IEEE802, ETHERTYPE_IPV4, HLEN_ETHERNET, PLEN_IPV4, OP_REQUEST),
)
_ADDRESS_FIELDS = struct.Struct("!6s6s10x6sI6xI")  # eth_dst, eth_src, sha, spa, tpa


def decide(frame: bytes, addresses: AddressSet, our_mac: bytes) -> bytes | Drop:
    """The reply frame for an ARP request we should answer, else why not."""
    if len(frame) < ARP_FRAME_LEN:
        return Drop.TRUNCATED
    if frame[12:22] not in _REQUEST_HEADERS:
        return _header_drop(frame)
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
    return pack_arp(sha, our_mac, OP_REPLY, mac, tpa, sha, spa)


def _header_drop(frame: bytes) -> Drop:
    """Why a frame whose bytes 12-21 are not an Ethernet/IPv4 ARP request's is not one."""
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
