"""Engines move frames between an interface and the responder loop, and nothing else."""

from __future__ import annotations

import sys

from ..errors import EngineError
from .packet import PacketEngine

ENGINES = ("auto", "packet", "scapy")


def open_engine(name: str, interface: str, receive: bool = True):
    """The named engine on interface; `auto` is packet on Linux, scapy elsewhere."""
    if name == "auto":
        name = "packet" if sys.platform.startswith("linux") else "scapy"
    if name == "packet":
        if not sys.platform.startswith("linux"):
            raise EngineError("the packet engine needs Linux (AF_PACKET); use --engine scapy")
        return PacketEngine(interface, receive)
    if name == "scapy":
        from .scapy_engine import ScapyEngine

        return ScapyEngine(interface, receive)
    raise EngineError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
