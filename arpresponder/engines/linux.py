"""Linux AF_PACKET helpers shared by the engines: open a filtered packet socket, size its buffers, read its counters.

Constants are from <linux/if_packet.h> and <asm-generic/socket.h>; Python's
socket module does not export them.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterable

from ..errors import EngineError
from ..privileges import raise_net_raw, why_no_net_raw
from . import bpf

ETH_P_ALL = 0x0003  # every protocol: what the kernel's taps (tcpdump) see
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_STATISTICS = 6
PACKET_FANOUT = 18
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33

PACKET_MR_UNICAST = 3  # membership type: one more unicast MAC the interface accepts

_TPACKET_STATS = struct.Struct("II")  # tp_packets, tp_drops
_PACKET_MREQ = struct.Struct("iHH8s")  # struct packet_mreq: mr_ifindex, mr_type, mr_alen, mr_address


def check_raw_sockets() -> None:
    """EngineError (naming the cause) unless this thread may open a raw socket: asked once at start, so that a run
    waiting for its interface does not find out only when the interface appears."""
    sock = _raw_socket()
    sock.close()


def _raw_socket() -> socket.socket:
    raise_net_raw()
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise EngineError(f"opening a raw socket needs CAP_NET_RAW; {why_no_net_raw()}") from None


def open_packet_socket(interface: str, program: list[bpf.Instruction] | None) -> socket.socket:
    """An AF_PACKET socket on interface; with a program, receiving what it accepts, else receiving nothing.

    Created with protocol 0 (nothing queued yet), filtered, then bound: no
    frame reaches it unfiltered. Bound to every protocol (ETH_P_ALL), not
    to ARP alone, so that it sees frames where the kernel's taps do: before
    VLAN handling, with an 802.1Q tag still in the ring header. A socket
    bound to ARP gets a frame tagged for a VLAN the host has no device for
    only after the kernel has cleared the tag (marking it "for another
    host"), and could not tell it from an untagged request (measured, Linux
    6.18). The filter rejects what is not ARP on the first test, in the
    kernel.
    """
    sock = _raw_socket()
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
        sock.bind((interface, ETH_P_ALL if program else 0))
    except OSError as e:
        sock.close()
        if e.errno == errno.ENODEV:
            raise EngineError(f"no interface named {interface!r}") from None
        raise EngineError(f"cannot open a packet socket on {interface}: {e.strerror}") from None
    return sock


# PACKET_FANOUT (<linux/if_packet.h>): round robin (LB), not HASH or CPU. The kernel's flow hash of an ARP frame
# covers no address, so HASH would put every request on one socket; CPU follows the CPU a frame arrives on (one for
# a veth peer, usually one queue's for a NIC: RSS does not spread ARP). Requests are independent: their order across
# sockets does not matter. ROLLOVER: a socket whose ring is full passes the frame on to the next.
# IGNORE_OUTGOING (a recent flag; Linux 6.18 here has it): the group's, as PACKET_IGNORE_OUTGOING is a lone socket's; the kernel hands frames to
# the group, not to its sockets, so without it every worker gets the replies sent (measured: half the replies
# came back as not-request).
PACKET_FANOUT_LB = 1
PACKET_FANOUT_FLAG_ROLLOVER = 0x1000
PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000
_FANOUT_MODE = PACKET_FANOUT_LB | PACKET_FANOUT_FLAG_ROLLOVER | PACKET_FANOUT_FLAG_IGNORE_OUTGOING


def join_fanout(sock: socket.socket, group: int) -> None:
    """Put a bound packet socket into fanout group `group` (0-65535; round robin, see above): the sockets of one group,
    in any process of this network namespace, each get a share of the frames instead of every one of them.
    EngineError if the kernel refuses (the id is another interface's group, or of another kind)."""
    try:
        sock.setsockopt(SOL_PACKET, PACKET_FANOUT, group | _FANOUT_MODE << 16)
    except OSError as e:
        raise EngineError(
            f"joining packet fanout group {group} failed: {e.strerror or e} (an older kernel without the ignore-outgoing flag, or another program's group?)"
        ) from None


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


def accept_unicast(sock: socket.socket, interface: str, mac: bytes, accept: bool = True) -> None:
    """Make the interface accept frames sent to mac (6 bytes) while sock is open, or stop (accept=False).

    PACKET_ADD_MEMBERSHIP with PACKET_MR_UNICAST adds mac to the device's
    unicast filter (dev_uc_add): a NIC that filters unicast in hardware, or
    a bridge, then passes frames for it up instead of dropping them; a
    device without such a filter is put in promiscuous mode for it. The
    kernel keeps the entry per socket and removes it when the socket
    closes. OSError if the kernel refuses (ENODEV: the interface is gone).
    """
    request = _PACKET_MREQ.pack(socket.if_nametoindex(interface), PACKET_MR_UNICAST, len(mac), mac)
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP if accept else PACKET_DROP_MEMBERSHIP, request)


class UnicastMemberships:
    """The unicast MACs, besides its own, that an interface accepts for one socket (see accept_unicast)."""

    def __init__(self, sock: socket.socket, interface: str):
        self.sock = sock
        self.interface = interface
        self.macs: frozenset[bytes] = frozenset()

    def set(self, macs: Iterable[bytes]) -> None:
        """Accept exactly these MACs from now on: add the new ones, drop those no longer wanted. OSError if refused."""
        wanted = frozenset(macs)
        for mac in wanted - self.macs:
            accept_unicast(self.sock, self.interface, mac)
        for mac in self.macs - wanted:
            accept_unicast(self.sock, self.interface, mac, accept=False)
        self.macs = wanted


def interface_index(interface: str) -> int:
    """The interface's index; EngineError naming it if there is no such interface."""
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise EngineError(f"no interface named {interface!r}") from None


def receive_error(interface: str, ifindex: int, error: OSError) -> Exception:
    """What a receive error on a socket bound to (interface, ifindex) means: raise what this returns.

    ENETDOWN comes both when the link goes down and when the interface is
    deleted; a socket bound to a deleted interface never receives again,
    even when an interface of the same name appears (a new index). So:
    InterfaceGone when the name is gone or names another interface now,
    else the error itself (the link is down and will come back).
    """
    if error.errno != errno.ENETDOWN:
        return error
    try:
        now = socket.if_nametoindex(interface)
    except OSError:
        return InterfaceGone(f"{interface} disappeared")
    if now != ifindex:
        return InterfaceGone(
            f"{interface} was deleted and a new interface of that name created (index {ifindex} → {now})"
        )
    return error


class InterfaceGone(EngineError):
    """The interface an engine was opened on no longer exists (deleted, or moved to another namespace)."""
