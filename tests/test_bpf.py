"""The generated cBPF program: in an interpreter, against the kernel's verifier, and on a real socket."""

import socket
import struct
import subprocess

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from arpresponder.addrset import AddressSet
from arpresponder.codec import OP_REPLY, OP_REQUEST
from arpresponder.engines import bpf
from arpresponder.lab.netns import PEER_IF, RESPONDER_IF

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


# --- the program that also filters on the set's target spans ---


def spans_from(points: list[int]) -> list[tuple[int, int]]:
    """Sorted, disjoint, non-adjacent spans from any list of integers (pairs of distinct sorted points)."""
    points = sorted(set(points))
    spans = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    return [s for i, s in enumerate(spans) if i == 0 or s[0] > spans[i - 1][1] + 1]


def frame_for(tpa: int, op: int = OP_REQUEST, spa: int = 0xC0000202) -> bytes:
    frame = request(op=op)
    return frame[:28] + spa.to_bytes(4, "big") + frame[32:38] + tpa.to_bytes(4, "big") + bytes(18)


def in_spans(ip: int, spans: list[tuple[int, int]]) -> bool:
    return any(first <= ip <= last for first, last in spans)


@given(st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=60), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_span_filter_accepts_requests_for_the_spans_and_frames_from_them(points, probes):
    spans = spans_from(points)
    assume(spans)
    program = bpf.arp_filter_for(spans)
    edges = [ip for first, last in spans for ip in (first - 1, first, last, last + 1) if 0 <= ip < 2**32]
    gaps = [0, 2**32 - 1, *(last + 1 for _, last in spans if last < 2**32 - 1)]
    outside = next((ip for ip in gaps if not in_spans(ip, spans)), None)
    assume(outside is not None)  # a set of every address has nobody outside it
    for ip in edges + probes:
        # A request for ip from a sender outside the set: accepted iff ip is in the set.
        assert (bpf_vm.run(program, frame_for(ip, spa=outside)) != 0) == in_spans(ip, spans), hex(ip)
        # Anything from ip (a reply, a request for an outside target): accepted iff ip is in the set.
        assert (bpf_vm.run(program, frame_for(outside, op=OP_REPLY, spa=ip)) != 0) == in_spans(ip, spans), hex(ip)
        assert (bpf_vm.run(program, frame_for(outside, spa=ip)) != 0) == in_spans(ip, spans), hex(ip)
        assert bpf_vm.run(program, frame_for(ip, op=OP_REPLY, spa=outside)) == 0  # a reply to ip says nothing


@given(st.binary(max_size=64))
def test_span_filter_takes_every_arp_frame_that_holds_a_sender_when_the_set_is_everything(frame):
    program = bpf.arp_filter_for([(0, 2**32 - 1)])  # every address: only the ethertype and the length remain
    assert (bpf_vm.run(program, frame) != 0) == (len(frame) >= 32 and frame[12:14] == b"\x08\x06")


def test_span_filter_with_the_most_spans_that_fit_uses_long_jumps_correctly():
    spans = [(8 + i * 8, 8 + i * 8 + 2) for i in range(bpf.MAX_FILTER_SPANS - 1)]
    program = bpf.arp_filter_for(spans)
    assert len(program) <= bpf.BPF_MAXINSNS
    assert any(
        i.code == bpf.BPF_JMP | bpf.BPF_JA and i.k > bpf.MAX_JUMP for i in program
    )  # the far jumps are exercised
    for first, last in spans:
        for ip in (first - 1, first, first + 1, last, last + 1):
            assert (bpf_vm.run(program, frame_for(ip, spa=2**32 - 1)) != 0) == in_spans(ip, spans), ip
            assert (bpf_vm.run(program, frame_for(2**32 - 1, op=OP_REPLY, spa=ip)) != 0) == in_spans(ip, spans), ip


def test_max_filter_spans_is_exactly_what_fits():
    spans = [(i * 8, i * 8 + 2) for i in range(bpf.MAX_FILTER_SPANS + 1)]
    assert len(bpf.arp_filter_for(spans[:-1])) <= bpf.BPF_MAXINSNS
    with pytest.raises(bpf.ProgramTooLarge):
        bpf.arp_filter_for(spans)


def test_target_spans_merge_neighbours_and_give_up_past_the_limit():
    addresses = AddressSet.parse(["198.51.100.1", "198.51.100.2-198.51.100.5=02:00:00:00:00:0a",
                                  "198.51.100.4-198.51.100.9", "198.51.100.11", "198.51.100.20-198.51.100.30"])  # fmt: skip
    base = int.from_bytes(socket.inet_aton("198.51.100.0"), "big")
    spans = [(base + 1, base + 9), (base + 11, base + 11), (base + 20, base + 30)]
    assert bpf.target_spans(addresses) == spans
    assert bpf.target_spans(addresses, limit=3) == spans
    assert bpf.target_spans(addresses, limit=2) is None


def test_target_spans_do_not_sort_huge_sets():
    every_other = range(0, 2 * (bpf.MAX_ENTRIES_TO_MERGE + 1), 2)  # never on the wire: only parsed
    addresses = AddressSet.parse([f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}" for n in every_other])
    assert bpf.target_spans(addresses) is None


def test_assemble_refuses_impossible_programs():
    with pytest.raises(ValueError):
        bpf.assemble([])
    with pytest.raises(ValueError):
        bpf.assemble([bpf.ret(0)] * (bpf.BPF_MAXINSNS + 1))


def through_the_kernel(lab, program: list[bpf.Instruction], stream: list[bytes]) -> list[bytes]:
    """Send stream from the peer; what a socket in the responder namespace with program attached receives."""
    with lab.inside(lab.responder_ns):
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        bpf.attach(rx, program)
        rx.bind((RESPONDER_IF, 0x0003))  # ETH_P_ALL: the filter, not the protocol, does the choosing
    with lab.inside(lab.peer_ns):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((PEER_IF, 0))
    with rx, tx:
        for frame in stream:
            tx.send(frame)
        rx.settimeout(0.5)
        got = []
        try:
            while True:
                got.append(rx.recv(2048))
        except TimeoutError:
            pass
    return got


@pytest.mark.wire
def test_kernel_accepts_the_program_and_filters_on_the_wire(lab):
    """Attached to a socket in the lab, only the ARP requests of a mixed stream arrive."""
    stream = [
        request(tpa="198.51.100.1"),
        request(op=OP_REPLY, tpa="198.51.100.2"),
        bytes(12) + b"\x08\x00" + bytes(46),  # IPv4, not ARP
        request(tpa="198.51.100.3"),
        request(op=3, tpa="198.51.100.4"),
        request(op=OP_REQUEST, tpa="198.51.100.5")[:41],  # truncated, but the op is there: accepted
    ]
    assert through_the_kernel(lab, PROGRAM, stream) == [stream[0], stream[3], stream[5]]


@pytest.mark.wire
def test_kernel_runs_the_largest_span_filter_on_the_wire(lab):
    """The kernel's checker takes a program near 4096 instructions, and it drops out-of-set requests."""
    base = int.from_bytes(socket.inet_aton("198.51.100.0"), "big")
    spans = [(base + 4 * i, base + 4 * i + 1) for i in range(64)]  # 198.51.100.0-1, .4-5, …
    spans += [(0x0B000000 + 8 * i, 0x0B000000 + 8 * i + 2) for i in range(bpf.MAX_FILTER_SPANS - 1 - len(spans))]
    program = bpf.arp_filter_for(sorted(spans))
    assert len(program) > 4000
    stream = [request(tpa=f"198.51.100.{n}") for n in range(12)]
    stream.append(request(tpa="198.51.100.4")[:41])  # in the set, but too short to be sure
    assert through_the_kernel(lab, program, stream) == [stream[n] for n in (0, 1, 4, 5, 8, 9)]


vlan_ids = st.integers(1, 4094)


@given(
    vlan=st.one_of(st.just(0), vlan_ids),
    siblings=st.lists(vlan_ids, max_size=bpf.MAX_SIBLING_VLANS, unique=True),
    tci=st.one_of(st.none(), st.integers(0, 0xFFFF)),
)
def test_a_vlan_prefix_lets_through_exactly_its_vlans_frames(vlan, siblings, tci):
    assume(vlan not in siblings)
    program = bpf.vlan_prefix(vlan, tuple(siblings) if not vlan else ()) + PROGRAM
    vid = None if tci is None else tci & 0x0FFF
    # vlan 0: untagged and priority-tagged frames, and tags of VLANs nobody answers on (counted as other-vlan).
    expected = (vid == vlan) if vlan else (vid is None or vid not in siblings)
    assert (bpf_vm.run(program, request(), vlan_tci=tci) != 0) == expected


def test_no_prefix_when_there_is_nothing_to_sort_out():
    assert bpf.vlan_prefix(0, ()) == []


def test_too_many_sibling_vlans_are_refused():
    with pytest.raises(bpf.ProgramTooLarge):
        bpf.vlan_prefix(0, tuple(range(1, bpf.MAX_SIBLING_VLANS + 2)))
