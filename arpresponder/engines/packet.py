"""The Linux engine: one AF_PACKET socket with a kernel-side BPF filter.

The filter (bpf.arp_request_filter) means only ARP requests wake us; the
socket ignores frames we send ourselves (PACKET_IGNORE_OUTGOING), drains
everything queued per wake-up, and reports the kernel's drop counter.
Still one system call per frame each way; memory-mapped rings and batched
sends would cut that under flood.
"""

from __future__ import annotations

import errno
import select
import socket
import struct

from .. import bpf
from ..codec import ETHERTYPE_ARP
from ..decision import Drop
from ..errors import EngineError

SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+
SO_RCVBUFFORCE = 33

RECEIVE_BUFFER = 4 << 20  # room for a burst of requests while we are busy (each queued frame costs ~1 KiB)
MAX_FRAME = 2048  # ARP frames are 42-60 bytes; anything longer is cut, which the decision tolerates
MAX_BATCH = 256  # frames handled per wake-up before we look at the stop flag again

_TPACKET_STATS = struct.Struct("II")  # tp_packets, tp_drops


def open_packet_socket(interface: str, receive: bool = True) -> socket.socket:
    """An AF_PACKET socket on interface; with receive, filtered to ARP requests.

    Created with protocol 0 (nothing queued yet), filtered, then bound to
    ARP: no frame reaches the queue unfiltered.
    """
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise EngineError(
            "opening a raw socket needs CAP_NET_RAW: run as root, or give the capability to the Python binary"
        ) from None
    try:
        if receive:
            bpf.attach(sock, bpf.arp_request_filter())
            try:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            except OSError as e:
                if e.errno not in (errno.ENOPROTOOPT, errno.EINVAL):
                    raise
                # Older kernel: our own frames come back. The filter stops our replies (op 2);
                # the decision drops our gratuitous requests as own-frame.
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((interface, ETHERTYPE_ARP if receive else 0))
    except OSError as e:
        sock.close()
        if e.errno == errno.ENODEV:
            raise EngineError(f"no interface named {interface!r}") from None
        raise EngineError(f"cannot open a packet socket on {interface}: {e.strerror}") from None
    return sock


class PacketEngine:
    name = "packet"
    filtered_in_kernel = frozenset({Drop.NOT_REQUEST})

    def __init__(self, interface: str, receive: bool = True):
        self.interface = interface
        self.sock = open_packet_socket(interface, receive)
        self.sock.setblocking(False)
        self._poll = select.poll()
        self._poll.register(self.sock, select.POLLIN)

    def receive_batch(self, timeout: float) -> list[bytes]:
        if not self._poll.poll(timeout * 1000):
            return []
        frames = []
        recv = self.sock.recv
        for _ in range(MAX_BATCH):
            try:
                frames.append(recv(MAX_FRAME))
            except BlockingIOError:
                break
        return frames

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def send_batch(self, frames: list[bytes]) -> int:
        return send_each(self.sock.send, frames)

    def kernel_drops(self) -> int | None:
        return packet_socket_drops(self.sock)

    def close(self) -> None:
        self.sock.close()


def send_each(send, frames: list[bytes]) -> int:
    """One send per frame; how many the kernel took."""
    sent = 0
    for frame in frames:
        try:
            send(frame)
            sent += 1
        except OSError:
            pass
    return sent


def packet_socket_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped on this AF_PACKET socket since the last call (the counter resets on read)."""
    _packets, drops = _TPACKET_STATS.unpack(sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size))
    return drops
