"""The generated cBPF program: in an interpreter, against the kernel's verifier, and on a real socket."""

import socket
import struct
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arpresponder import bpf
from arpresponder.codec import OP_REPLY, OP_REQUEST
from arpresponder.lab import PEER_IF, RESPONDER_IF

from . import bpf_vm
from .frames import request

PROGRAM = bpf.arp_request_filter()


def is_arp_request(frame: bytes) -> bool:
    return len(frame) >= 22 and frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x01"


@given(st.binary(max_size=64))
def test_accepts_exactly_arp_requests(frame):
    assert (bpf_vm.run(PROGRAM, frame) != 0) == is_arp_request(frame)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(min_size=0, max_size=40))
def test_only_ethertype_and_op_matter(ethertype, op, rest):
    frame = bytes(12) + struct.pack("!H", ethertype) + bytes(6) + struct.pack("!H", op) + rest
    assert (bpf_vm.run(PROGRAM, frame) != 0) == (ethertype == 0x0806 and op == 1)


def test_same_program_as_tcpdump_compiles():
    """tcpdump's compiler, given the same expression, emits the same instructions."""
    try:
        out = subprocess.run(["tcpdump", "-ddd", "ether proto 0x0806 and ether[20:2] = 1"],
                             capture_output=True, text=True, check=True).stdout.split("\n")  # fmt: skip
    except FileNotFoundError:
        pytest.fail("tcpdump is not installed (.ci/run installs it)")
    theirs = [tuple(int(x) for x in line.split()) for line in out[1:] if line.strip()]
    ours = [(i.code, i.jt, i.jf, i.k) for i in PROGRAM]
    # tcpdump's accept value is its snap length; everything else must match.
    assert [t[:3] for t in theirs] == [o[:3] for o in ours]
    assert [t[3] for t in theirs if t[0] != bpf.BPF_RET] == [o[3] for o in ours if o[0] != bpf.BPF_RET]


def test_assemble_refuses_impossible_programs():
    with pytest.raises(ValueError):
        bpf.assemble([])
    with pytest.raises(ValueError):
        bpf.assemble([bpf.ret(0)] * (bpf.BPF_MAXINSNS + 1))


@pytest.mark.wire
def test_kernel_accepts_the_program_and_filters_on_the_wire(lab):
    """Attached to a socket in the lab, only the ARP requests of a mixed stream arrive."""
    with lab.inside(lab.responder_ns):
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        bpf.attach(rx, PROGRAM)
        rx.bind((RESPONDER_IF, 0x0003))  # ETH_P_ALL: the filter, not the protocol, does the choosing
    with lab.inside(lab.peer_ns):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((PEER_IF, 0))
    with rx, tx:
        stream = [
            request(tpa="198.51.100.1"),
            request(op=OP_REPLY, tpa="198.51.100.2"),
            bytes(12) + b"\x08\x00" + bytes(46),  # IPv4, not ARP
            request(tpa="198.51.100.3"),
            request(op=3, tpa="198.51.100.4"),
            request(op=OP_REQUEST, tpa="198.51.100.5")[:41],  # truncated, but the op is there: accepted
        ]
        for frame in stream:
            tx.send(frame)
        rx.settimeout(0.5)
        got = []
        try:
            while True:
                got.append(rx.recv(2048))
        except TimeoutError:
            pass
    assert got == [stream[0], stream[3], stream[5]]
