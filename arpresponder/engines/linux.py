"""Linux AF_PACKET helpers shared by the engines: open a filtered packet socket, size its buffers, read its counters.

Constants are from <linux/if_packet.h> and <asm-generic/socket.h>; Python's
socket module does not export them.
"""

from __future__ import annotations

import errno
import socket
import struct

from ..codec import ETHERTYPE_ARP
from ..errors import EngineError
from . import bpf

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33

_TPACKET_STATS = struct.Struct("II")  # tp_packets, tp_drops


def open_packet_socket(interface: str, program: list[bpf.Instruction] | None) -> socket.socket:
    """An AF_PACKET socket on interface; with a program, receiving what it accepts, else receiving nothing.

    Created with protocol 0 (nothing queued yet), filtered, then bound to
    ARP: no frame reaches it unfiltered.
    """
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise EngineError(
            "opening a raw socket needs CAP_NET_RAW: run as root, or give the capability to the Python binary"
        ) from None
    try:
        if program:
            bpf.attach(sock, program)
            try:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            except OSError as e:
                if e.errno not in (errno.ENOPROTOOPT, errno.EINVAL):
                    raise
                # Older kernel: our own frames come back. The filter stops our replies (op 2);
                # the decision drops our gratuitous requests as own-frame.
        sock.bind((interface, ETHERTYPE_ARP if program else 0))
    except OSError as e:
        sock.close()
        if e.errno == errno.ENODEV:
            raise EngineError(f"no interface named {interface!r}") from None
        raise EngineError(f"cannot open a packet socket on {interface}: {e.strerror}") from None
    return sock


def force_buffer(sock: socket.socket, force_option: int, option: int, size: int) -> None:
    """Set a socket buffer past the sysctl maximum when we may (CAP_NET_ADMIN), else as far as allowed."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, force_option, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, option, size)


def packet_socket_stats(sock: socket.socket) -> tuple[int, int]:
    """(frames the filter accepted, of them dropped for lack of room) on an AF_PACKET socket since the last call.

    The kernel resets both on read.
    """
    return _TPACKET_STATS.unpack(sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size))


def packet_socket_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped on this AF_PACKET socket since the last call."""
    return packet_socket_stats(sock)[1]
