"""Classic BPF, built in Python: the kernel-side filter in front of the packet engine.

The kernel runs the program on every frame the interface receives and hands
us only those it accepts, so the rest of the LAN's traffic never costs a
system call. No tcpdump or libpcap at run time: the instructions are ours.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from dataclasses import dataclass

from .codec import ETHERTYPE_ARP, OFFSET_ETHERTYPE, OFFSET_OP, OP_REQUEST

# Opcode parts, from <linux/bpf_common.h>.
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_H = 0x08  # half word (16 bits)
BPF_ABS = 0x20  # at an absolute offset in the frame
BPF_JEQ = 0x10
BPF_K = 0x00  # against a constant

SO_ATTACH_FILTER = 26
BPF_MAXINSNS = 4096  # the kernel's limit on one classic program

ACCEPT_WHOLE_FRAME = 0x40000  # return value: bytes of the frame to keep (as tcpdump's snaplen)
REJECT = 0

_SOCK_FILTER = struct.Struct("HBBI")  # struct sock_filter, in host byte order


@dataclass(frozen=True, slots=True)
class Instruction:
    """One `struct sock_filter`."""

    code: int  # opcode: class | size | mode, or class | op | source
    jt: int  # jump offset if true (instructions to skip)
    jf: int  # jump offset if false
    k: int  # constant operand

    def __str__(self) -> str:  # tcpdump -dd style
        return f"{{ {self.code:#04x}, {self.jt}, {self.jf}, {self.k:#010x} }}"


def load_half(offset: int) -> Instruction:
    """A = the big-endian 16-bit word at offset (frame too short: the program rejects)."""
    return Instruction(BPF_LD | BPF_H | BPF_ABS, 0, 0, offset)


def jump_if_equal(k: int, jt: int, jf: int) -> Instruction:
    return Instruction(BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k)


def ret(k: int) -> Instruction:
    return Instruction(BPF_RET | BPF_K, 0, 0, k)


def arp_request_filter() -> list[Instruction]:
    """Accept Ethernet frames carrying an ARP request; reject everything else.

    Only the ethertype and the op are checked here: the decision function
    counts the rest (hardware and protocol types, lengths) as named drops.
    """
    return [
        load_half(OFFSET_ETHERTYPE),
        jump_if_equal(ETHERTYPE_ARP, 0, 3),
        load_half(OFFSET_OP),
        jump_if_equal(OP_REQUEST, 0, 1),
        ret(ACCEPT_WHOLE_FRAME),
        ret(REJECT),
    ]


def assemble(program: list[Instruction]) -> bytes:
    """The program as the kernel's array of struct sock_filter."""
    if not 0 < len(program) <= BPF_MAXINSNS:
        raise ValueError(f"a classic BPF program holds 1 to {BPF_MAXINSNS} instructions, not {len(program)}")
    return b"".join(_SOCK_FILTER.pack(i.code, i.jt, i.jf, i.k) for i in program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def attach(sock: socket.socket, program: list[Instruction]) -> None:
    """SO_ATTACH_FILTER: from now on the socket only queues frames the program accepts."""
    code = ctypes.create_string_buffer(assemble(program))
    fprog = _SockFprog(len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))  # the kernel copies the program here
