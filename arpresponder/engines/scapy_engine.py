"""The portable engine: scapy's layer-2 socket for whatever OS scapy supports.

Receives through scapy with a BPF filter string (scapy compiles it with
libpcap) and sends every reply through that same socket: one socket for the
whole run, never one per reply as `sendp` would open. Frames stay bytes; no
scapy packet is dissected or built on the way.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterable

from ..errors import EngineError
from ..privileges import raise_net_raw, why_no_net_raw
from .linux import (
    SO_RCVBUFFORCE,
    UnicastMemberships,
    force_buffer,
    interface_index,
    packet_socket_drops,
    receive_error,
)
from .packet import EVERY_ARP_FRAME, MAX_BATCH

log = logging.getLogger("arpresponder")

RECEIVE_BUFFER = 8 << 20  # each queued frame costs ~1 KiB of buffer: room for a few thousand

BPF_FILTER = "arp"  # every ARP frame: requests to answer, and what other hosts say (owners.py)


class ScapyEngine:
    name = "scapy"
    kernel_filter = EVERY_ARP_FRAME
    filter_note = "every ARP frame (libpcap's `arp`)"

    def __init__(self, interface: str, receive: bool = True, unicast_macs: Iterable[bytes] = ()):
        try:
            import scapy.arch
            import scapy.layers.l2  # noqa: F401  (registers Ethernet, or the socket warns it cannot guess the link type)
            from scapy.config import conf
            from scapy.error import Scapy_Exception
        except ImportError:
            raise EngineError("the scapy engine needs scapy (pip install scapy)") from None
        self.interface = interface
        self.ifindex = interface_index(interface)
        self._error: Exception | None = None  # a receive error to raise on the next call
        raise_net_raw()
        try:
            # Not promiscuous: like the kernel, we answer what is sent to us or to everyone.
            self.sock = conf.L2socket(iface=interface, filter=BPF_FILTER if receive else None, promisc=False)
        except PermissionError:
            raise EngineError(f"opening a raw socket needs CAP_NET_RAW; {why_no_net_raw()}") from None
        except Scapy_Exception as e:
            raise EngineError(
                f"scapy cannot filter on {interface}: {e} (on Debian: apt-get install libpcap0.8)"
            ) from None
        except OSError as e:
            raise EngineError(f"scapy cannot open {interface}: {e.strerror or e}") from None
        self._linux_socket = getattr(self.sock, "ins", None) if sys.platform.startswith("linux") else None
        self._unicast = UnicastMemberships(self._linux_socket, interface) if self._linux_socket else None
        if self._linux_socket is not None and receive:
            # scapy leaves the default (~200 KiB, a few hundred queued frames): a burst of requests would overflow it.
            force_buffer(self._linux_socket, SO_RCVBUFFORCE, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self.accept_unicast_macs(unicast_macs)
        elif receive and unicast_macs:
            log.warning(
                "the scapy engine can add entry MACs to %s's unicast filter on Linux only: unicasts to them may not "
                "reach us unless %s is promiscuous", interface, interface,
            )  # fmt: skip

    def accept_unicast_macs(self, macs: Iterable[bytes]) -> None:
        """As PacketEngine.accept_unicast_macs (Linux); elsewhere nothing."""
        if self._unicast is not None:
            self._unicast.set(macs)

    def fileno(self) -> int:
        return self.sock.fileno()

    def take(self) -> list[bytes]:
        """Frames waiting now, up to MAX_BATCH; a receive error once the frames before it are taken (scapy reads
        the socket's error as it receives, which clears it: there is no POLLERR left to wait for)."""
        return self._receive()

    def check(self) -> None:
        """Raise the pending receive error, if any (see PacketEngine.check)."""
        error, self._error = self._error, None
        if error is None and self._linux_socket is not None:
            code = self._linux_socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # reading it clears it
            if code:
                error = receive_error(self.interface, self.ifindex, OSError(code, os.strerror(code)))
        if error is not None:
            raise error

    def replace_filter(self, target_spans: list[tuple[int, int]] | None, vlan: int = 0, sibling_vlans=()) -> None:
        """Nothing to replace: this engine filters requests only, whatever the set (see kernel_filter)."""

    def _receive(self) -> list[bytes]:
        frames: list[bytes] = []
        if self._error is None:
            try:
                while len(frames) < MAX_BATCH and self.sock.select([self.sock], 0):
                    _cls, frame, _ts = self.sock.recv_raw()
                    if frame is not None:  # None: a frame we sent ourselves, seen on the way out
                        frames.append(frame)
            except OSError as e:
                # Reading a socket error clears it in the kernel: kept, to raise once the frames before it are handled.
                self._error = receive_error(self.interface, self.ifindex, e)
        if not frames and self._error is not None:
            error, self._error = self._error, None
            raise error
        return frames

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def send_batch(self, frames: list[bytes]) -> int:
        return send_each(self.sock.send, frames)

    def kernel_drops(self) -> int | None:
        if self._linux_socket is None:
            return None
        return packet_socket_drops(self._linux_socket)

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
