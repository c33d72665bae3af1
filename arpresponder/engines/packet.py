"""The Linux engine: AF_PACKET sockets with memory-mapped rings and a kernel-side BPF filter.

The filter means only ARP requests wake us, and when the set is small
enough to compile into it (bpf.arp_filter_for), only requests for
our addresses, and what other hosts say from our addresses: an out-of-set flood costs no system call. Received frames
are read straight out of the RX ring, a batch at a time; replies go out
through a TX ring, one send() per batch. The receiving socket ignores
frames we send ourselves (PACKET_IGNORE_OUTGOING) and reports the kernel's
drop counter.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import EngineError
from . import bpf
from .linux import (
    SO_SNDBUFFORCE,
    UnicastMemberships,
    force_buffer,
    interface_index,
    join_fanout,
    open_packet_socket,
    packet_socket_drops,
    receive_error,
)
from .rings import RxBatch, RxRing, TxRing

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("arpresponder")


RX_SLOTS = 65536  # 8 MiB: room for a burst of this many requests while we answer the ones before it
TX_SLOTS = 2048  # 256 KiB: a full batch of replies, and then some still in flight to the device
SEND_BUFFER = 4 << 20  # bytes of frames in flight before the kernel makes send() wait
MAX_BATCH = 256  # frames handled per wake-up before we look at the stop flag again

# What an engine's kernel filter lets through (Stats.kernel_filter): every count covers only these frames.
EVERY_ARP_FRAME = "every ARP frame"
FOR_THE_SET = "ARP requests for the set's targets, and ARP frames from the set's addresses"


def receive_filter(
    target_spans: list[tuple[int, int]] | None, vlan: int = 0, sibling_vlans: tuple[int, ...] = ()
) -> tuple[list[bpf.Instruction], str, str]:
    """The BPF program for the set's spans if it fits, else for every ARP frame; what it passes, in words; and a
    note on how it was built, for the log. It removes no drop class whole (frames from the set's addresses pass,
    whatever they are): every class is counted, over what it passes.

    vlan, sibling_vlans: which VLAN's frames this socket takes (bpf.vlan_prefix).
    """
    program, passes, note = _arp_filter(target_spans)
    prefix = bpf.vlan_prefix(vlan, sibling_vlans)
    if vlan:
        passes += f", tagged for VLAN {vlan}"
    return prefix + program, passes, note


def _arp_filter(target_spans: list[tuple[int, int]] | None) -> tuple[list[bpf.Instruction], str, str]:
    if target_spans:
        try:
            program = bpf.arp_filter_for(target_spans)
            return program, FOR_THE_SET, f"the set's {len(target_spans)} range(s), {len(program)} instructions"
        except bpf.ProgramTooLarge as e:
            return bpf.arp_all_filter(), EVERY_ARP_FRAME, f"every ARP frame ({e}); the rest is sorted in userspace"
    return (
        bpf.arp_all_filter(),
        EVERY_ARP_FRAME,
        (
            f"every ARP frame (the set has more than {bpf.MAX_FILTER_SPANS} ranges, or more than "
            f"{bpf.MAX_ENTRIES_TO_MERGE} entries, which are not merged to find out); the rest is sorted in userspace"
        ),
    )


class PacketEngine:
    """Receive through an RX ring on one socket, send through a TX ring on another.

    Two sockets, so the sending one can be bound to no protocol and never
    receive. Sends are serialised by a lock: the announcer thread and the
    responder loop share the TX ring.
    """

    name = "packet"

    def __init__(
        self,
        interface: str,
        receive: bool = True,
        target_spans: list[tuple[int, int]] | None = None,
        unicast_macs: Iterable[bytes] = (),
        vlan: int = 0,
        sibling_vlans: tuple[int, ...] = (),
        fanout: int | None = None,
    ):
        self.interface = interface
        self.ifindex = interface_index(interface)
        self.kernel_filter = "nothing (not receiving)"
        self.filter_note = ""  # how the kernel filter was built, for the log
        self.rx_sock = self.rx = self.tx = None
        self._tx_lock = threading.Lock()
        self.tx_sock = open_packet_socket(interface, None)
        try:
            force_buffer(self.tx_sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, SEND_BUFFER)
            self.tx = TxRing(self.tx_sock, TX_SLOTS)
            if receive:
                program, self.kernel_filter, self.filter_note = receive_filter(target_spans, vlan, sibling_vlans)
                if fanout is None:
                    self.rx_sock = open_packet_socket(interface, program)
                    self.rx = RxRing(self.rx_sock, RX_SLOTS)
                else:
                    # run --workers: this process gets a share of the frames. A socket bound outside the group
                    # gets every frame (so another worker's requests would be answered twice): it rejects every
                    # frame until it has joined, then takes the real filter (SO_ATTACH_FILTER swaps atomically).
                    self.rx_sock = open_packet_socket(interface, [bpf.ret(bpf.REJECT)])
                    self.rx = RxRing(self.rx_sock, RX_SLOTS)
                    join_fanout(self.rx_sock, fanout)
                    bpf.attach(self.rx_sock, program)
                self._unicast = UnicastMemberships(self.rx_sock, interface)
                self.accept_unicast_macs(unicast_macs)
        except OSError as e:
            self.close()
            raise EngineError(f"cannot set up packet rings on {interface}: {e.strerror or e}") from None
        except BaseException:  # the receiving socket could not open: the sending one must not leak
            self.close()
            raise

    def fileno(self) -> int:
        """The receiving socket: readable when frames wait in the ring, in error when the link goes down or away."""
        return self.rx_sock.fileno()

    def take(self) -> list[bytes]:
        """Frames waiting in the ring, up to MAX_BATCH; no system call, no waiting."""
        return self.rx.take(MAX_BATCH)

    def holds(self, count: int) -> bool:
        """At least count frames wait in the ring (one status word read; RxRing.holds)."""
        return self.rx.holds(count)

    def take_array(self) -> RxBatch:
        """Frames waiting in the ring, up to MAX_BATCH, as one array (RxRing.take_array); no system call."""
        return self.rx.take_array(MAX_BATCH)

    def check(self) -> None:
        """Raise the socket's pending error, if any: OSError (ENETDOWN) for a link down, InterfaceGone.

        The kernel reports a link going down, or the interface going away, as a socket error; reading it clears it.
        """
        code = self.rx_sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise receive_error(self.interface, self.ifindex, OSError(code, os.strerror(code)))

    def replace_filter(
        self, target_spans: list[tuple[int, int]] | None, vlan: int = 0, sibling_vlans: tuple[int, ...] = ()
    ) -> None:
        """Filter for another set from now on: SO_ATTACH_FILTER on the same socket swaps the program atomically.

        The socket is never left unfiltered, and frames already in the ring stay there. OSError if refused.
        """
        program, self.kernel_filter, self.filter_note = receive_filter(target_spans, vlan, sibling_vlans)
        bpf.attach(self.rx_sock, program)

    def accept_unicast_macs(self, macs: Iterable[bytes]) -> None:
        """Receive frames sent to these MACs (the set's entry MACs) as well as to the interface's own.

        Without this, a bridge or a NIC with a unicast filter drops a peer's
        unicast refresh to an entry's MAC before it reaches us. OSError if
        the kernel refuses.
        """
        self._unicast.set(macs)

    def send_batch(self, frames: list[bytes]) -> int:
        with self._tx_lock:
            return self.tx.send(frames)

    def send_array(self, frames: np.ndarray) -> int:
        """Transmit the rows of frames (uint8, (N, L)); how many the kernel took (TxRing.send_array)."""
        with self._tx_lock:
            return self.tx.send_array(frames)

    def send_lone(self, frame: bytes) -> int:
        """Transmit one frame with a plain send() on the receiving socket: 1, or 0 if the kernel refused it.

        For a lone reply: no ring to fill and walk, no lock (the TX ring's
        is the announcer's and the batches'), one system call.
        """
        try:
            self.rx_sock.send(frame)
        except OSError:
            return 0
        return 1

    def send(self, frame: bytes) -> None:
        with self._tx_lock:
            if self.tx is None:
                raise OSError(errno.EBADF, "the engine is closed")
            if not self.tx.send([frame]):
                raise self.tx.last_error or OSError(errno.ENOBUFS, "the transmit ring is full")

    def kernel_drops(self) -> int | None:
        return packet_socket_drops(self.rx_sock)

    def close(self) -> None:
        with self._tx_lock:  # not under an announcer still sending (run waits for it, but only so long)
            for thing in (self.rx, self.rx_sock, self.tx, self.tx_sock):
                if thing is not None:
                    thing.close()
            self.rx = self.rx_sock = self.tx = self.tx_sock = None
