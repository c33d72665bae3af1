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

from ..addrset import AddressSet
from ..codec import ETHERTYPE_ARP, OFFSET_ETHERTYPE, OFFSET_OP, OFFSET_SPA, OFFSET_TPA, OP_REQUEST

# Opcode parts, from <linux/bpf_common.h>.
BPF_LD, BPF_ALU, BPF_JMP, BPF_RET = 0x00, 0x04, 0x05, 0x06
BPF_AND = 0x50
BPF_W, BPF_H = 0x00, 0x08  # word (32 bits), half word (16 bits)
BPF_ABS = 0x20  # at an absolute offset in the frame
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE = 0x00, 0x10, 0x20, 0x30  # JGT/JGE compare unsigned
BPF_K = 0x00  # against a constant

SO_ATTACH_FILTER = 26
# Ancillary loads, from <linux/filter.h>: a load at SKF_AD_OFF + field reads the frame's metadata, not its bytes.
SKF_AD_OFF = -0x1000
SKF_AD_VLAN_TAG = 44  # the VLAN TCI the kernel took out of the frame (our program sees the frame untagged)
SKF_AD_VLAN_TAG_PRESENT = 48  # 1 if it did
VLAN_ID_MASK = 0x0FFF
BPF_MAXINSNS = 4096  # the kernel's limit on one classic program
MAX_JUMP = 255  # conditional jump offsets are 8 bits; `ja` takes 32

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


def load_word(offset: int) -> Instruction:
    """A = the big-endian 32-bit word at offset: an IPv4 address reads as our integer form."""
    return Instruction(BPF_LD | BPF_W | BPF_ABS, 0, 0, offset)


def load_ancillary(field: int) -> Instruction:
    """A = one of the frame's metadata words (SKF_AD_*), e.g. its VLAN tag."""
    return Instruction(BPF_LD | BPF_W | BPF_ABS, 0, 0, (SKF_AD_OFF + field) & 0xFFFFFFFF)


def and_constant(k: int) -> Instruction:
    return Instruction(BPF_ALU | BPF_AND | BPF_K, 0, 0, k)


def jump_if_equal(k: int, jt: int, jf: int) -> Instruction:
    return Instruction(BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k)


def jump_if_greater(k: int, jt: int, jf: int) -> Instruction:
    return Instruction(BPF_JMP | BPF_JGT | BPF_K, jt, jf, k)


def jump_if_at_least(k: int, jt: int, jf: int) -> Instruction:
    return Instruction(BPF_JMP | BPF_JGE | BPF_K, jt, jf, k)


def jump(offset: int) -> Instruction:
    return Instruction(BPF_JMP | BPF_JA, 0, 0, offset)


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


class ProgramTooLarge(ValueError):
    """The set has too many separate ranges for one classic BPF program."""


def arp_filter_for(spans: list[tuple[int, int]]) -> list[Instruction]:
    """Accept ARP requests whose target IP lies in one of spans (sorted, disjoint, not adjacent), and any ARP frame
    (a reply, an announcement) whose sender IP does; reject the rest.

    The first are what we answer; the second tell who else uses an address
    of ours (owners.py). Out-of-set requests, the bulk of a flood or of a busy
    LAN, cost no system call at all. The spans are searched as binary trees of
    unsigned comparisons, one on the sender IP and one on the target IP, so a
    frame meets about 2·log2(len(spans)) of them. Frames too short to hold an
    IP address are rejected by its load. Raises ProgramTooLarge beyond
    BPF_MAXINSNS; the caller falls back to arp_all_filter() and the lookup in
    userspace.
    """
    if not spans:
        raise ValueError("no spans to filter for")
    sender = [load_word(OFFSET_SPA), *_in_spans(spans, miss=_NEXT)]
    target = [
        load_half(OFFSET_OP),
        jump_if_equal(OP_REQUEST, 1, 0),
        ret(REJECT),
        load_word(OFFSET_TPA),
        *_in_spans(spans, miss=ret(REJECT)),
    ]
    program = [load_half(OFFSET_ETHERTYPE), jump_if_equal(ETHERTYPE_ARP, 1, 0), ret(REJECT), *sender, *target]
    # A sender IP outside the spans goes on to the target's checks: each miss in that tree jumps there.
    next_at = 3 + len(sender)
    program = [jump(next_at - i - 1) if insn is _NEXT else insn for i, insn in enumerate(program)]
    if len(program) > BPF_MAXINSNS:
        raise ProgramTooLarge(f"{len(spans)} ranges need {len(program)} instructions; the kernel takes {BPF_MAXINSNS}")
    return program


def arp_all_filter() -> list[Instruction]:
    """Accept every Ethernet frame carrying ARP (requests, replies, announcements): for sets too large to filter
    for, so that the decision still sees requests and what other hosts say of our addresses."""
    return [load_half(OFFSET_ETHERTYPE), jump_if_equal(ETHERTYPE_ARP, 0, 1), ret(ACCEPT_WHOLE_FRAME), ret(REJECT)]


_NEXT = Instruction(-1, 0, 0, 0)  # a placeholder arp_filter_for turns into a jump past the sender's checks


def _in_spans(spans: list[tuple[int, int]], miss: Instruction) -> list[Instruction]:
    """Code entered with A = an IP address: ret ACCEPT if A is in one of spans, else `miss` (one instruction)."""
    starts = [first for first, _ in spans]
    return [jump_if_at_least(starts[0], 1, 0), miss, *_span_tree(spans, starts, 0, len(spans), miss)]


# The most spans a program holds: 9 instructions of checks, then two trees of about 4 a span (3 a leaf, 1 a
# branch), plus a long jump where a branch skips more than 255. tests/test_bpf.py checks that this many fit and one
# more does not.
MAX_FILTER_SPANS = 510
# Sets with more entries than this are not even sorted to see whether they merge into few enough spans: that
# costs a noticeable part of loading a 1M-entry set, and would only pay for a set of, say, a /14 listed address by
# address. Such sets are filtered in userspace: correct, at some CPU under an out-of-set flood.
MAX_ENTRIES_TO_MERGE = 512 * MAX_FILTER_SPANS


def target_spans(addresses: AddressSet, limit: int = MAX_FILTER_SPANS) -> list[tuple[int, int]] | None:
    """The set's spans (AddressSet.spans) for the filter; None past limit spans or MAX_ENTRIES_TO_MERGE entries."""
    if len(addresses.singles) + len(addresses.range_starts) > MAX_ENTRIES_TO_MERGE:
        return None  # see MAX_ENTRIES_TO_MERGE
    spans = addresses.spans()
    return spans if len(spans) <= limit else None


def _span_tree(
    spans: list[tuple[int, int]], starts: list[int], lo: int, hi: int, miss: Instruction
) -> list[Instruction]:
    """Code for spans[lo:hi], entered with A >= starts[lo]: ret ACCEPT if A is in one of them, else `miss`."""
    if hi - lo == 1:
        return [jump_if_greater(spans[lo][1], 1, 0), ret(ACCEPT_WHOLE_FRAME), miss]
    mid = (lo + hi) // 2
    below, above = _span_tree(spans, starts, lo, mid, miss), _span_tree(spans, starts, mid, hi, miss)
    if len(below) <= MAX_JUMP:
        return [jump_if_at_least(starts[mid], len(below), 0), *below, *above]
    return [jump_if_at_least(starts[mid], 0, 1), jump(len(below)), *below, *above]


MAX_SIBLING_VLANS = 250  # VLANs a parent's untagged filter can step aside for with short jumps


def vlan_prefix(vlan: int, sibling_vlans: tuple[int, ...] = ()) -> list[Instruction]:
    """Instructions to run before a filter, so that it sees only the frames of one VLAN of the interface.

    vlan: the VLAN ID the socket answers on (tagged frames, on the parent),
    or 0 for the parent's untagged frames; then sibling_vlans are the IDs
    other sockets answer on, which this one must not see (a tag for any
    other VLAN still passes, to be counted as other-vlan). The tag is read
    from the frame's metadata: the kernel has moved it out of the bytes
    before the filter runs. Empty when there is nothing to sort out.
    """
    if not vlan and not sibling_vlans:
        return []
    if vlan:
        return [
            load_ancillary(SKF_AD_VLAN_TAG_PRESENT),
            jump_if_equal(0, 3, 0),  # untagged: not this VLAN's
            load_ancillary(SKF_AD_VLAN_TAG),
            and_constant(VLAN_ID_MASK),
            jump_if_equal(vlan, 1, 0),
            ret(REJECT),
        ]
    if len(sibling_vlans) > MAX_SIBLING_VLANS:
        raise ProgramTooLarge(f"{len(sibling_vlans)} VLANs on one parent; at most {MAX_SIBLING_VLANS}")
    n = len(sibling_vlans)
    return [
        load_ancillary(SKF_AD_VLAN_TAG_PRESENT),
        jump_if_equal(0, n + 4, 0),  # untagged: ours
        load_ancillary(SKF_AD_VLAN_TAG),
        and_constant(VLAN_ID_MASK),
        *(jump_if_equal(vid, n - i, 0) for i, vid in enumerate(sibling_vlans)),  # a sibling's: reject
        jump(1),
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
