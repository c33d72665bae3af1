"""The decision table as data: one crafted request per row, shared by the byte-level and on-the-wire tests.

Each row says what the Linux kernel does with the frame when it owns the
target address, and what arpresponder does (reply, or the Drop reason). The
kernel column is measured again by tests/test_kernel_parity.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from arpresponder.codec import (
    BROADCAST_MAC,
    ETHERTYPE_QINQ,
    ETHERTYPE_VLAN,
    OP_REQUEST,
    ZERO_MAC,
    pack_arp,
    parse_ipv4,
    parse_mac,
)
from arpresponder.decision import Drop
from arpresponder.lab.netns import PEER_IP, PEER_MAC, RESPONDER_MAC

OURS = parse_mac(RESPONDER_MAC)
PEER = parse_mac(PEER_MAC)
TARGET = "198.51.100.10"  # in the set (arpresponder) / assigned to r0 (kernel)
ALSO_OURS = "198.51.100.11"  # also in the set / also assigned: a peer using it as sender is a conflict
NOT_OURS = "198.51.100.12"
SET_TOKENS = (TARGET, ALSO_OURS)

REPLY = "reply"


@dataclass(frozen=True)
class Row:
    name: str
    frame: bytes
    kernel: str  # REPLY or "ignore"
    ours: str  # REPLY or a Drop value

    @property
    def deliberate(self) -> bool:
        """We differ from the kernel on purpose (see decision.py)."""
        return (self.kernel == REPLY) != (self.ours == REPLY)


def request(
    *,
    eth_dst: bytes = BROADCAST_MAC,
    eth_src: bytes = PEER,
    op: int = OP_REQUEST,
    sha: bytes = PEER,
    spa: str = PEER_IP,
    tha: bytes = ZERO_MAC,
    tpa: str = TARGET,
) -> bytes:
    return pack_arp(eth_dst, eth_src, op, sha, parse_ipv4(spa), tha, parse_ipv4(tpa))


def patched(frame: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(frame)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def tagged(frame: bytes, tci: int, tpid: int = ETHERTYPE_VLAN) -> bytes:
    """frame with a VLAN tag (TPID, TCI) inserted after the MAC addresses, as it is on a trunk."""
    return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]


def untagged(frame: bytes) -> bytes:
    """frame without its VLAN tags (the ARP request inside a tagged row)."""
    while frame[12:14] in (struct.pack("!H", ETHERTYPE_VLAN), struct.pack("!H", ETHERTYPE_QINQ)):
        frame = frame[:12] + frame[16:]
    return frame


def sender_ip_bytes(frame: bytes) -> bytes:
    """The 4 bytes of a request's sender IP, past any VLAN tags: what tells the rows apart."""
    inner = untagged(frame)
    return inner[28:32]


def rows(sender_ip=lambda n: f"203.0.113.{n}") -> list[Row]:
    """The table. sender_ip(n) gives each row its own sender address, so replies can be matched to rows."""
    other_host = parse_mac("02:00:00:00:00:99")
    whole = None  # no change to the frame's bytes
    table = [
        # name, request fields, change to the bytes, kernel, arpresponder
        ("broadcast request", {}, whole, REPLY, REPLY),
        ("unicast to our MAC (arping's refresh)", {"eth_dst": OURS}, whole, REPLY, REPLY),
        ("unicast to another host's MAC", {"eth_dst": other_host}, whole, "ignore", Drop.NOT_FOR_US),
        ("multicast destination", {"eth_dst": parse_mac("01:00:5e:00:00:01")}, whole, REPLY, REPLY),
        ("ARP sender MAC differs from Ethernet source", {"sha": parse_mac("02:00:00:00:00:55")}, whole, REPLY, REPLY),
        ("sender IP outside the interface's subnet", {}, whole, REPLY, REPLY),
        ("non-zero target MAC", {"tha": parse_mac("02:00:00:00:00:77")}, whole, REPLY, REPLY),
        ("probe (sender IP 0.0.0.0, RFC 5227)", {"spa": "0.0.0.0"}, whole, REPLY, REPLY),
        ("unpadded 42-byte frame", {}, lambda f: f[:42], REPLY, REPLY),
        ("htype 6 (IEEE 802), accepted by the kernel", {}, lambda f: patched(f, 14, "!H", 6), REPLY, REPLY),
        ("target not in set", {"tpa": NOT_OURS}, whole, "ignore", Drop.NOT_IN_SET),
        ("op reply", {"op": 2}, whole, "ignore", Drop.NOT_REQUEST),
        ("op 3 (RARP request)", {"op": 3}, whole, "ignore", Drop.NOT_REQUEST),
        ("gratuitous request (sender IP == target IP)", {"spa": TARGET}, whole, "ignore", Drop.GRATUITOUS),
        ("sender IP is multicast", {"spa": "224.0.0.1"}, whole, "ignore", Drop.BAD_SENDER),
        ("sender IP is limited broadcast", {"spa": "255.255.255.255"}, whole, "ignore", Drop.BAD_SENDER),
        ("sender IP is loopback", {"spa": "127.0.0.1"}, whole, "ignore", Drop.BAD_SENDER),
        ("sender IP is ours too (address conflict)", {"spa": ALSO_OURS}, whole, "ignore", Drop.CONFLICT),
        ("target is multicast", {"tpa": "224.0.0.1"}, whole, "ignore", Drop.BAD_TARGET),
        ("target is limited broadcast", {"tpa": "255.255.255.255"}, whole, "ignore", Drop.BAD_TARGET),
        ("target is 0.0.0.0", {"tpa": "0.0.0.0"}, whole, "ignore", Drop.BAD_TARGET),
        ("target is loopback", {"tpa": "127.0.0.1"}, whole, "ignore", Drop.BAD_TARGET),
        ("truncated to 41 bytes", {}, lambda f: f[:41], "ignore", Drop.TRUNCATED),
        ("htype 2", {}, lambda f: patched(f, 14, "!H", 2), "ignore", Drop.UNSUPPORTED),
        ("ptype IPv6", {}, lambda f: patched(f, 16, "!H", 0x86DD), "ignore", Drop.UNSUPPORTED),
        ("hlen 5", {}, lambda f: patched(f, 18, "!B", 5), "ignore", Drop.UNSUPPORTED),
        ("plen 6", {}, lambda f: patched(f, 19, "!B", 6), "ignore", Drop.UNSUPPORTED),
        # The kernel has no VLAN device for VLAN 10 on r0: it marks the frame for another host.
        ("802.1Q tag for VLAN 10", {}, lambda f: tagged(f, 10), "ignore", Drop.OTHER_VLAN),
        ("802.1ad tag for VLAN 10", {}, lambda f: tagged(f, 10, ETHERTYPE_QINQ), "ignore", Drop.OTHER_VLAN),
        # VLAN ID 0 means "priority only" (IEEE 802.1Q): answered, untagged.
        ("priority tag (VLAN 0, priority 6)", {}, lambda f: tagged(f, 6 << 13), REPLY, REPLY),
        ("priority tag, unpadded", {}, lambda f: tagged(f[:42], 6 << 13), REPLY, REPLY),
        # Where we differ from the kernel on purpose (see decision.py):
        ("sender MAC multicast", {"sha": parse_mac("01:00:5e:00:00:01")}, whole, REPLY, Drop.BAD_SENDER),
        ("sender MAC broadcast", {"sha": BROADCAST_MAC}, whole, REPLY, Drop.BAD_SENDER),
        ("sender MAC zero", {"sha": ZERO_MAC}, whole, REPLY, Drop.BAD_SENDER),
        ("Ethernet source is our own MAC", {"eth_src": OURS}, whole, REPLY, Drop.OWN_FRAME),
    ]
    out = []
    for n, (name, fields, change, kernel, ours) in enumerate(table, start=1):
        frame = request(**{"spa": sender_ip(n), **fields})
        out.append(Row(name, change(frame) if change else frame, kernel, ours))
    return out
