"""Engines move frames between an interface and the responder loop, and nothing else."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Protocol

from ..errors import EngineError
from .linux import InterfaceGone
from .packet import PacketEngine

__all__ = ["ENGINES", "Engine", "InterfaceGone", "engine_name", "open_engine"]

ENGINES = ("auto", "packet", "scapy")


class Engine(Protocol):
    """What the responder loop and announce need from an engine."""

    name: str
    interface: str
    ifindex: int  # of the interface when the engine opened: a new interface of the same name has another
    kernel_filter: str  # what the kernel filter lets through, in words: every count covers only that
    filter_note: str  # how that filter was built (its size, or why it fell back), for the log

    def fileno(self) -> int:
        """A file descriptor to poll: readable when frames wait, in error (POLLERR) when check() has one to raise."""

    def take(self) -> list[bytes]:
        """Frames waiting now, as on the wire, a batch at most (MAX_BATCH); never waits."""

    def check(self) -> None:
        """Raise the pending receive error: OSError (ENETDOWN) while the link is down, InterfaceGone."""

    def replace_filter(
        self, target_spans: list[tuple[int, int]] | None, vlan: int = 0, sibling_vlans: tuple[int, ...] = ()
    ) -> None:
        """Filter in the kernel for another set from now on, atomically (a reload)."""

    def send(self, frame: bytes) -> None:
        """Transmit one frame; OSError if the kernel refuses it."""

    def send_batch(self, frames: list[bytes]) -> int:
        """Transmit frames; how many the kernel took (the rest it refused, e.g. ENOBUFS under flood)."""

    def kernel_drops(self) -> int | None:
        """Frames dropped by the kernel since the last call, or None if the engine cannot tell."""

    def accept_unicast_macs(self, macs: Iterable[bytes]) -> None:
        """Also receive frames sent to these MACs (6 bytes each), dropping those given before; OSError if refused."""

    def close(self) -> None: ...


def engine_name(name: str) -> str:
    """The engine `name` means here: `auto` is packet on Linux, scapy elsewhere."""
    if name == "auto":
        return "packet" if sys.platform.startswith("linux") else "scapy"
    return name


def open_engine(
    name: str,
    interface: str,
    receive: bool = True,
    target_spans: list[tuple[int, int]] | None = None,
    unicast_macs: Iterable[bytes] = (),
    vlan: int = 0,
    sibling_vlans: tuple[int, ...] = (),
    fanout: int | None = None,
) -> Engine:
    """The named engine on interface; `auto` is packet on Linux, scapy elsewhere.

    target_spans (bpf.target_spans of the set) lets the packet engine filter
    out-of-set requests in the kernel; None: too many to filter there.
    unicast_macs: MACs besides the interface's that requests may be sent to
    (the set's entry MACs). vlan: the VLAN ID it answers on, on its parent
    (0: untagged frames); sibling_vlans: the VLANs others answer on there
    (bpf.vlan_prefix). fanout: the PACKET_FANOUT group to receive in, with
    the other processes of `run --workers` (packet engine only; None: none).
    EngineError if it cannot open.
    """
    name = engine_name(name)
    if name == "packet":
        if not sys.platform.startswith("linux"):
            raise EngineError("the packet engine needs Linux (AF_PACKET); use --engine scapy")
        return PacketEngine(interface, receive, target_spans, unicast_macs, vlan, sibling_vlans, fanout)
    if fanout is not None:
        raise EngineError(f"the {name} engine cannot share an interface between workers; use --engine packet")
    if name == "scapy":
        from .scapy_engine import ScapyEngine

        return ScapyEngine(interface, receive, unicast_macs)
    raise EngineError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
