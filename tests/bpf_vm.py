"""A classic BPF interpreter for the instructions arpresponder emits, written from the kernel's semantics.

Used to test the generated programs without a socket: an out-of-bounds load
rejects the frame, as in the kernel; an unknown opcode fails loudly rather
than guessing.
"""

from __future__ import annotations

from arpresponder.engines import bpf

ANCILLARY = bpf.SKF_AD_OFF & 0xFFFFFFFF  # loads at or above this offset read metadata


def run(program: list[bpf.Instruction], frame: bytes, vlan_tci: int | None = None) -> int:
    """What the program returns for frame (0: drop; else bytes to keep).

    frame: as the kernel's filter sees it, untagged; vlan_tci: the tag the
    kernel took out of it, if any (what SKF_AD_VLAN_TAG* loads read).
    """
    a = 0
    pc = 0
    for _ in range(len(program) + 1):  # classic BPF jumps only forward: one pass is enough
        insn = program[pc]
        if insn.code == bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS and insn.k >= ANCILLARY:
            field = insn.k - ANCILLARY
            if field == bpf.SKF_AD_VLAN_TAG_PRESENT:
                a = int(vlan_tci is not None)
            elif field == bpf.SKF_AD_VLAN_TAG:
                a = vlan_tci or 0
            else:
                raise NotImplementedError(f"ancillary field {field}")
            pc += 1
        elif insn.code == bpf.BPF_ALU | bpf.BPF_AND | bpf.BPF_K:
            a &= insn.k
            pc += 1
        elif insn.code in (bpf.BPF_LD | bpf.BPF_H | bpf.BPF_ABS, bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS):
            size = 2 if insn.code & bpf.BPF_H else 4
            if insn.k + size > len(frame):
                return 0
            a = int.from_bytes(frame[insn.k : insn.k + size], "big")
            pc += 1
        elif insn.code == bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K:
            pc += 1 + (insn.jt if a == insn.k else insn.jf)
        elif insn.code == bpf.BPF_JMP | bpf.BPF_JGT | bpf.BPF_K:
            pc += 1 + (insn.jt if a > insn.k else insn.jf)
        elif insn.code == bpf.BPF_JMP | bpf.BPF_JGE | bpf.BPF_K:
            pc += 1 + (insn.jt if a >= insn.k else insn.jf)
        elif insn.code == bpf.BPF_JMP | bpf.BPF_JA:
            pc += 1 + insn.k
        elif insn.code == bpf.BPF_RET | bpf.BPF_K:
            return insn.k
        else:
            raise NotImplementedError(f"opcode {insn.code:#x}")
    raise AssertionError("program ran off its end")
