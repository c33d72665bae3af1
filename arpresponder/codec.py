"""ARP over Ethernet and IPv4 (RFC 826): the one wire format arpresponder speaks.

Two ways in: the hot path unpacks a frame at fixed offsets with `ARP_FRAME`
and packs answers with `pack_arp` (no per-field objects); everything else
(tests, logging, tools) uses the `ArpFrame` dataclass, which marshals with
the same layout and rejects what it cannot represent with a named error.
"""

from __future__ import annotations

import re
import socket
import struct
from dataclasses import dataclass

from .errors import quote

ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = 0x8100  # IEEE 802.1Q tag
ETHERTYPE_QINQ = 0x88A8  # IEEE 802.1ad (service) tag
HTYPE_ETHERNET = 1
HTYPE_IEEE802 = 6  # Linux takes this on Ethernet devices too (a Token Ring bridging relic); so do we
HLEN_ETHERNET = 6
PLEN_IPV4 = 4

OP_REQUEST = 1
OP_REPLY = 2

ARP_FRAME_LEN = 42  # 14 bytes of Ethernet header + 28 bytes of ARP payload
MIN_FRAME_LEN = 60  # Ethernet minimum without FCS; what we pad our frames to

BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6

# Ethernet II header, then the ARP payload, in wire order. IPv4 addresses are
# read as unsigned 32-bit integers: the address set looks them up as such.
ARP_FRAME = struct.Struct(
    "!"
    "6s"  # eth_dst: Ethernet destination
    "6s"  # eth_src: Ethernet source
    "H"  # ethertype: 0x0806 for ARP
    "H"  # htype: hardware type, 1 for Ethernet
    "H"  # ptype: protocol type, 0x0800 for IPv4
    "B"  # hlen: hardware address length, 6
    "B"  # plen: protocol address length, 4
    "H"  # op: 1 request, 2 reply
    "6s"  # sha: sender hardware address
    "I"  # spa: sender protocol address
    "6s"  # tha: target hardware address
    "I"  # tpa: target protocol address
)
assert ARP_FRAME.size == ARP_FRAME_LEN

# Byte offsets of single fields, for code that needs one field only
# (the kernel-side BPF filter, tests).
OFFSET_ETHERTYPE = 12
OFFSET_OP = 20
OFFSET_SPA = 28
OFFSET_TPA = 38

_PADDED_ARP_FRAME = struct.Struct(ARP_FRAME.format + f"{MIN_FRAME_LEN - ARP_FRAME_LEN}x")


def pack_arp(
    eth_dst: bytes, eth_src: bytes, op: int, sha: bytes, spa: int, tha: bytes, tpa: int, htype: int = HTYPE_ETHERNET
) -> bytes:
    """An Ethernet/IPv4 ARP frame, zero-padded to the 60-byte Ethernet minimum."""
    return _PADDED_ARP_FRAME.pack(
        eth_dst, eth_src, ETHERTYPE_ARP, htype, ETHERTYPE_IPV4, HLEN_ETHERNET, PLEN_IPV4, op, sha, spa, tha, tpa
    )


def gratuitous_frames(mac: bytes, ip: int, eth_src: bytes) -> tuple[bytes, bytes]:
    """The two gratuitous ARP forms announcing that `ip` is at `mac`.

    A request (op 1, tha zero) as `arping -U` sends, and a reply (op 2, tha =
    sha) as `arping -A` sends; both broadcast, spa = tpa = ip. Neighbours
    differ in which form updates their cache, so we send both, as MetalLB does.
    """
    request = pack_arp(BROADCAST_MAC, eth_src, OP_REQUEST, mac, ip, ZERO_MAC, ip)
    reply = pack_arp(BROADCAST_MAC, eth_src, OP_REPLY, mac, ip, mac, ip)
    return request, reply


def vlan_tags(frame: bytes) -> tuple[list[int], bytes]:
    """The VLAN IDs of a frame's 802.1Q/802.1ad tags, outermost first, and the frame without them."""
    vlans = []
    while len(frame) >= 16 and int.from_bytes(frame[12:14], "big") in (ETHERTYPE_VLAN, ETHERTYPE_QINQ):
        vlans.append(int.from_bytes(frame[14:16], "big") & 0x0FFF)
        frame = frame[:12] + frame[16:]
    return vlans, frame


def probe_frame(mac: bytes, ip: int) -> bytes:
    """An ARP probe for ip (RFC 5227 section 2.1.1): a broadcast request from mac with sender IP 0.0.0.0, which
    asks whether anyone uses ip without claiming it."""
    return pack_arp(BROADCAST_MAC, mac, OP_REQUEST, mac, 0, ZERO_MAC, ip)


# --- addresses as text ---------------------------------------------------------------------------


class AddressSyntaxError(ValueError):
    """Text that is not a MAC or IPv4 address in the form we accept: `text`, and what is wrong with it in words.

    The message quotes (a short prefix of) text: `'198.51.100.300': not an IPv4 address`.
    """

    def __init__(self, text: str, problem: str):
        super().__init__(f"{quote(text)}: {problem}")
        self.text = text
        self.problem = problem


_MAC = re.compile(r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}")


def parse_mac(text: str) -> bytes:
    """`02:aa:bb:cc:dd:ee` (or with dashes) → 6 bytes; AddressSyntaxError quoting (a prefix of) text otherwise.

    Strict: six pairs of ASCII hex digits, nothing else (int() alone would take " a", "+a" or Arabic-Indic digits).
    """
    if not _MAC.fullmatch(text):
        raise AddressSyntaxError(text, "not a MAC address (expected six hex bytes like 02:00:5e:00:53:01)")
    return bytes.fromhex(text.replace("-", "").replace(":", ""))


def format_mac(mac: bytes) -> str:
    return mac.hex(":")


def parse_ipv4(text: str) -> int:
    """Dotted-quad IPv4 → 32-bit integer. Strict: no shorthand forms, no leading zeros."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):  # ValueError: a NUL, or a surrogate from an undecodable byte, in the text
        raise AddressSyntaxError(text, "not an IPv4 address") from None


def format_ipv4(ip: int) -> str:
    return socket.inet_ntop(socket.AF_INET, ip.to_bytes(4, "big"))


def is_multicast_mac(mac: bytes) -> bool:
    """The I/G bit: set for multicast and broadcast addresses."""
    return bool(mac[0] & 1)


# --- the readable form ---------------------------------------------------------------------------


class FrameError(ValueError):
    """Bytes that `ArpFrame.from_bytes` cannot represent."""


class TruncatedFrame(FrameError):
    """Fewer bytes than an Ethernet header plus an ARP payload (42)."""


class NotArp(FrameError):
    """The Ethernet type is not ARP."""


class UnsupportedArp(FrameError):
    """ARP for something other than Ethernet hardware and IPv4 addresses."""


@dataclass(frozen=True, slots=True)
class ArpFrame:
    """One Ethernet frame carrying an Ethernet/IPv4 ARP packet."""

    eth_dst: bytes  # Ethernet destination MAC
    eth_src: bytes  # Ethernet source MAC
    op: int  # OP_REQUEST or OP_REPLY (other values exist on the wire)
    sha: bytes  # sender hardware address
    spa: int  # sender IPv4 address
    tha: bytes  # target hardware address (zero in requests)
    tpa: int  # target IPv4 address
    htype: int = HTYPE_ETHERNET  # hardware type: HTYPE_ETHERNET, or HTYPE_IEEE802 as some old stacks send

    @classmethod
    def from_bytes(cls, data: bytes) -> ArpFrame:
        if len(data) < ARP_FRAME_LEN:
            raise TruncatedFrame(f"{len(data)} bytes, need {ARP_FRAME_LEN}")
        eth_dst, eth_src, ethertype, htype, ptype, hlen, plen, op, sha, spa, tha, tpa = ARP_FRAME.unpack_from(data)
        if ethertype != ETHERTYPE_ARP:
            raise NotArp(f"ethertype {ethertype:#06x}")
        if htype not in (HTYPE_ETHERNET, HTYPE_IEEE802) or (ptype, hlen, plen) != (
            ETHERTYPE_IPV4,
            HLEN_ETHERNET,
            PLEN_IPV4,
        ):
            raise UnsupportedArp(f"htype {htype}, ptype {ptype:#06x}, hlen {hlen}, plen {plen}")
        return cls(eth_dst, eth_src, op, sha, spa, tha, tpa, htype)

    def to_bytes(self) -> bytes:
        return pack_arp(self.eth_dst, self.eth_src, self.op, self.sha, self.spa, self.tha, self.tpa, self.htype)

    def __str__(self) -> str:
        if self.op == OP_REPLY:
            return f"{format_ipv4(self.spa)} is-at {format_mac(self.sha)} (to {format_ipv4(self.tpa)} {format_mac(self.tha)})"
        what = "who-has" if self.op == OP_REQUEST else f"op {self.op}"
        return f"{what} {format_ipv4(self.tpa)} tell {format_ipv4(self.spa)} {format_mac(self.sha)} (eth dst {format_mac(self.eth_dst)})"
