"""Requester-side measurements in the peer namespace: counting the flood's replies, and request→reply latency.

Both use an AF_PACKET socket on p0 whose classic BPF program keeps only ARP
replies addressed to one sender IP: the flood asks as 192.0.2.2, the prober as
192.0.2.3, so each sees only the answers to its own requests.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass

from arpresponder.codec import (
    BROADCAST_MAC,
    ETHERTYPE_ARP,
    OFFSET_ETHERTYPE,
    OFFSET_OP,
    OFFSET_SPA,
    OFFSET_TPA,
    OP_REPLY,
    OP_REQUEST,
    ZERO_MAC,
    pack_arp,
    parse_ipv4,
    parse_mac,
)  # fmt: skip
from arpresponder.engines import bpf
from arpresponder.engines.linux import packet_socket_stats
from arpresponder.lab.netns import PEER_IF, PEER_IP, PEER_MAC, RESPONDER_IF, Lab

PROBER_IP = "192.0.2.3"
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("qq")


def _arp_with(op: int, offset: int, ip: str) -> list[bpf.Instruction]:
    """ARP frames with this op whose address at `offset` (OFFSET_SPA or OFFSET_TPA) is `ip`."""
    return [
        bpf.load_half(OFFSET_ETHERTYPE),
        bpf.jump_if_equal(ETHERTYPE_ARP, 0, 5),
        bpf.load_half(OFFSET_OP),
        bpf.jump_if_equal(op, 0, 3),
        bpf.load_word(offset),
        bpf.jump_if_equal(parse_ipv4(ip), 0, 1),
        bpf.ret(bpf.ACCEPT_WHOLE_FRAME),
        bpf.ret(bpf.REJECT),
    ]


def _counting_socket(lab: Lab, ns: str, interface: str, program: list[bpf.Instruction],
                     receive_buffer: int) -> socket.socket:  # fmt: skip
    """A packet socket on a lab interface that receives only what `program` accepts."""
    with lab.inside(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    bpf.attach(sock, program)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((interface, ETHERTYPE_ARP))
    return sock


def open_reply_socket(lab: Lab, requester_ip: str, receive_buffer: int) -> socket.socket:
    """A packet socket on p0 (in the peer namespace) that receives only the replies to `requester_ip`."""
    return _counting_socket(lab, lab.peer_ns, PEER_IF, _arp_with(OP_REPLY, OFFSET_TPA, requester_ip), receive_buffer)


class FrameCounter:
    """Counts, in the kernel, the frames a filtered packet socket accepts: PACKET_STATISTICS counts every frame
    the filter accepted, queued or dropped, so nothing has to read them and a small buffer is enough."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    @classmethod
    def replies(cls, lab: Lab) -> FrameCounter:
        """The replies to the flood (ARP replies to 192.0.2.2) arriving at p0."""
        return cls(open_reply_socket(lab, PEER_IP, receive_buffer=4096))

    @classmethod
    def arrivals(cls, lab: Lab) -> FrameCounter:
        """The flood's requests (ARP requests from 192.0.2.2) reaching a socket on r0: a sink that answers nothing,
        so what the generator and the veth pair deliver to userspace."""
        program = _arp_with(OP_REQUEST, OFFSET_SPA, PEER_IP)
        return cls(_counting_socket(lab, lab.responder_ns, RESPONDER_IF, program, receive_buffer=4096))

    def take(self) -> int:
        """Frames counted since the last call (the kernel resets the counters on read)."""
        packets, _drops = packet_socket_stats(self.sock)
        return packets  # the kernel adds the dropped ones into tp_packets

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Latency:
    rate: int  # requests per second asked
    sent: int
    answered: int
    p50_us: float | None
    p99_us: float | None

    @property
    def loss_pct(self) -> float:
        return 100.0 * (self.sent - self.answered) / self.sent if self.sent else 0.0


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def measure_latency(lab: Lab, target_prefix: tuple[int, int, int], rate: int, seconds: float,
                    wait_after: float = 0.2) -> Latency:  # fmt: skip
    """Ask at `rate` requests/s as 192.0.2.3, cycling the target's last byte over .1-.254.

    Latency = kernel receive timestamp of the reply (SO_TIMESTAMPNS, CLOCK_REALTIME)
    minus time.time_ns() taken just before the request's send(). A reply is matched to
    the outstanding request for the IP it answers for; a request unanswered when its
    IP is asked again (254 requests later), or at the end, counts as lost.
    """
    sock = open_reply_socket(lab, PROBER_IP, receive_buffer=1 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    mac, spa = parse_mac(PEER_MAC), parse_ipv4(PROBER_IP)
    base = parse_ipv4(".".join(map(str, target_prefix)) + ".0")
    frames = [pack_arp(BROADCAST_MAC, mac, OP_REQUEST, mac, spa, ZERO_MAC, base + host) for host in range(1, 255)]
    outstanding: dict[int, int] = {}  # target IP (as the reply's spa) → send time, ns
    latencies: list[float] = []
    count = max(1, int(rate * seconds))
    interval = 1.0 / rate
    start = time.monotonic()
    try:
        for i in range(count):
            tpa = base + 1 + i % 254
            outstanding[tpa] = time.time_ns()
            sock.send(frames[i % 254])
            _collect(sock, outstanding, latencies, until=start + (i + 1) * interval)
        _collect(sock, outstanding, latencies, until=time.monotonic() + wait_after)
    finally:
        sock.close()
    latencies.sort()
    return Latency(rate, count, len(latencies), _percentile(latencies, 0.5) if latencies else None,
                   _percentile(latencies, 0.99) if latencies else None)  # fmt: skip


def _collect(sock: socket.socket, outstanding: dict[int, int], latencies: list[float], until: float) -> None:
    """Read replies until the monotonic time `until`, recording each matched one's latency in µs."""
    while (left := until - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            return
        frame, ancillary, _flags, _addr = sock.recvmsg(64, socket.CMSG_SPACE(_TIMESPEC.size))
        sent_ns = outstanding.pop(int.from_bytes(frame[OFFSET_SPA : OFFSET_SPA + 4], "big"), None)
        for level, kind, data in ancillary:
            if sent_ns is not None and level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack(data[: _TIMESPEC.size])
                latencies.append((sec * 1_000_000_000 + nsec - sent_ns) / 1000)
