"""The decision table, measured on the wire: the Linux kernel and arpresponder get the same frames.

First the kernel of the responder namespace owns the addresses (assigned to
r0) and answers; then the addresses are removed and arpresponder answers.
For every row: who replied must match the table (tests/frames.py), the two
replies must be the same bytes, and arpresponder's drop counters must
match the rows it dropped.
"""

import re
from collections import Counter

import pytest

from arpresponder.addrset import AddressSet
from arpresponder.codec import ARP_FRAME_LEN, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ArpFrame
from arpresponder.decision import Drop
from arpresponder.engines.bpf import target_spans
from arpresponder.engines.packet import receive_filter
from arpresponder.lab.netns import RESPONDER_IF, ResponderProcess

from . import bpf_vm
from .frames import REPLY, SET_TOKENS, rows, sender_ip_bytes, untagged
from .wire import PeerPort

pytestmark = pytest.mark.wire

ROWS = rows()
REASONS = {str(reason) for reason in Drop}


def replies_by_row(port: PeerPort) -> dict[str, bytes]:
    """Send every row at once; match each reply to its row by the reply's target IP (each row has its own sender IP)."""
    received = port.exchange([row.frame for row in ROWS])
    by_sender = {sender_ip_bytes(row.frame): row.name for row in ROWS if len(untagged(row.frame)) >= 32}
    out: dict[str, bytes] = {}
    for frame in received:
        reply = ArpFrame.from_bytes(frame)
        name = by_sender[reply.tpa.to_bytes(4, "big")]
        assert name not in out, f"two replies for {name!r}"
        out[name] = frame[:ARP_FRAME_LEN]  # the kernel sends 42 bytes on a veth, we pad to 60
    return out


def test_rows_have_distinct_senders():
    senders = [sender_ip_bytes(row.frame) for row in ROWS if len(untagged(row.frame)) >= 32]
    assert len(senders) == len(set(senders))


@pytest.mark.parametrize("engine", ["packet", "scapy"])
def test_kernel_and_arpresponder_agree_with_the_table(lab, engine):
    port = PeerPort(lab)
    for ip in SET_TOKENS:
        lab.run(lab.responder_ns, "ip", "address", "add", f"{ip}/32", "dev", RESPONDER_IF)
    kernel = replies_by_row(port)
    for ip in SET_TOKENS:
        lab.run(lab.responder_ns, "ip", "address", "del", f"{ip}/32", "dev", RESPONDER_IF)

    with ResponderProcess(
        lab, ["run", "-i", RESPONDER_IF, "--engine", engine, *(f"--ip={t}" for t in SET_TOKENS)]
    ) as r:
        ours = replies_by_row(port)
        assert r.stop() == 0
    port.close()

    assert sorted(kernel) == sorted(row.name for row in ROWS if row.kernel == REPLY)
    assert sorted(ours) == sorted(row.name for row in ROWS if row.ours == REPLY)
    for name in set(kernel) & set(ours):
        assert ours[name] == kernel[name], f"{name}: our reply differs from the kernel's"

    # Each dropped row that reaches us is counted under its reason; the kernel filter removes none whole (frames from
    # the set's addresses pass it whatever they are), so the summary lists none as filtered in the kernel.
    assert not re.findall(r"^\s{4}(\S+)\s+in kernel$", r.stdout, re.MULTILINE)
    expected = Counter(row.ours for row in ROWS if row.ours != REPLY and reaches_us(row.frame, engine))
    rows = re.finditer(r"^\s{4}(\S+)\s+(\d+)$", r.stdout, re.MULTILINE)
    counted = Counter({m[1]: int(m[2]) for m in rows if m[1] in REASONS})  # not the conflict outcomes' rows
    assert counted == expected


def reaches_us(frame: bytes, engine: str) -> bool:
    """Whether the engine's kernel filter passes a row's frame. The scapy engine's passes every ARP frame; the packet
    engine's program for SET_TOKENS is run as the kernel runs it (tests/bpf_vm.py, itself checked against the rule in
    tests/test_bpf.py): the outer VLAN tag taken out of the frame first, as the receive path does."""
    if engine != "packet":
        return True
    program = receive_filter(target_spans(AddressSet.parse(SET_TOKENS)))[0]
    tci = None
    if frame[12:14] in (ETHERTYPE_VLAN.to_bytes(2, "big"), ETHERTYPE_QINQ.to_bytes(2, "big")):
        tci, frame = int.from_bytes(frame[14:16], "big"), frame[:12] + frame[16:]
    return bpf_vm.run(program, frame, tci) != 0
