"""decide(), row by row from the decision table, and on arbitrary bytes."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arpresponder.addrset import AddressSet
from arpresponder.codec import MIN_FRAME_LEN, OP_REPLY, ArpFrame, parse_ipv4, parse_mac
from arpresponder.decision import Drop, decide

from .frames import ALSO_OURS, OURS, REPLY, SET_TOKENS, TARGET, request, rows, tagged, untagged

ADDRESSES = AddressSet.parse(SET_TOKENS)
ROWS = rows()


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table(row):
    outcome = decide(row.frame, ADDRESSES, OURS)
    if row.ours == REPLY:
        assert isinstance(outcome, bytes), f"dropped as {outcome}"
        asked = ArpFrame.from_bytes(untagged(row.frame))
        # Kernel-compatible reply: to the ARP sender (not the Ethernet source), from our MAC.
        assert ArpFrame.from_bytes(outcome) == ArpFrame(
            eth_dst=asked.sha, eth_src=OURS, op=OP_REPLY, sha=OURS, spa=asked.tpa, tha=asked.sha, tpa=asked.spa
        )
        assert len(outcome) == MIN_FRAME_LEN
    else:
        assert outcome == Drop(row.ours)


def test_probe_is_answered_to_target_ip_zero():
    reply = ArpFrame.from_bytes(decide(request(spa="0.0.0.0"), ADDRESSES, OURS))
    assert reply.tpa == 0


def test_entry_mac_is_the_answer_and_a_unicast_to_it_is_for_us():
    entry_mac = parse_mac("02:aa:bb:cc:dd:ee")
    addresses = AddressSet.parse(["198.51.100.9=02:aa:bb:cc:dd:ee", "198.51.100.10"])
    reply = ArpFrame.from_bytes(decide(request(tpa="198.51.100.9"), addresses, OURS))
    assert reply.sha == entry_mac  # the entry's MAC in the ARP payload...
    assert reply.eth_src == OURS  # ...sent from our interface
    # A peer that cached the entry's MAC refreshes by unicast to it.
    assert isinstance(decide(request(tpa="198.51.100.9", eth_dst=entry_mac), addresses, OURS), bytes)
    # But not for an address whose entry has another MAC.
    assert decide(request(tpa="198.51.100.10", eth_dst=entry_mac), addresses, OURS) == Drop.NOT_FOR_US


@settings(max_examples=2000)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_never_raise(data):
    outcome = decide(data, ADDRESSES, OURS)
    assert isinstance(outcome, (bytes, Drop))


arp_like = st.builds(
    lambda head, body: head + body,
    st.sampled_from([bytes.fromhex("ffffffffffff020000000002080600010800060400"), b""]),
    st.binary(min_size=0, max_size=70),
)


@settings(max_examples=2000)
@given(arp_like)
def test_near_arp_frames_never_raise_and_replies_are_well_formed(data):
    outcome = decide(data, ADDRESSES, OURS)
    if isinstance(outcome, bytes):
        reply = ArpFrame.from_bytes(outcome)
        asked = ArpFrame.from_bytes(data)
        assert reply.op == OP_REPLY and reply.spa == asked.tpa and reply.tpa == asked.spa and reply.eth_dst == asked.sha
        assert reply.spa in ADDRESSES


def test_a_withheld_address_is_dropped_with_its_reason_and_others_answered():
    withheld = {parse_ipv4(TARGET): Drop.SUBNET_BROADCAST}
    assert decide(request(), ADDRESSES, OURS, withheld) == Drop.SUBNET_BROADCAST
    assert isinstance(decide(request(tpa=ALSO_OURS), ADDRESSES, OURS, withheld), bytes)
    # Withholding answers nothing new: a request that was dropped for another reason keeps that reason.
    assert decide(request(spa=ALSO_OURS), ADDRESSES, OURS, withheld) == Drop.CONFLICT


def test_priority_tags_are_read_past_however_many_and_the_reply_is_untagged():
    frame = request()
    for tpid in (0x88A8, 0x8100, 0x8100):
        frame = tagged(frame, 5 << 13, tpid)
    assert decide(frame, ADDRESSES, OURS) == decide(request(), ADDRESSES, OURS)
    # A VLAN tag anywhere in the stack is another VLAN's frame.
    assert decide(tagged(tagged(request(), 7), 0, 0x88A8), ADDRESSES, OURS) == Drop.OTHER_VLAN


def test_a_thousand_priority_tags_cost_no_recursion():
    frame = request()
    for _ in range(1000):
        frame = tagged(frame, 0)
    assert isinstance(decide(frame, ADDRESSES, OURS), bytes)


def test_a_tag_and_nothing_after_it_is_truncated():
    assert decide(tagged(request(), 0)[:17], ADDRESSES, OURS) == Drop.TRUNCATED
    assert decide(bytes(12) + b"\x81\x00\x00\x00" + bytes(26), ADDRESSES, OURS) == Drop.TRUNCATED


@settings(max_examples=2000)
@given(st.integers(0, 0xFFFF), st.sampled_from([0x8100, 0x88A8]), st.binary(max_size=70))
def test_tagged_arbitrary_bytes_never_raise(tci, tpid, body):
    frame = tagged(request(), tci, tpid)[:16] + body
    outcome = decide(frame, ADDRESSES, OURS)
    assert isinstance(outcome, (bytes, Drop))
    if tci & 0x0FFF and len(frame) >= 42:  # shorter is truncated, whatever its tag
        assert outcome == Drop.OTHER_VLAN


@pytest.mark.parametrize("tpid", [0x8100, 0x88A8])
def test_a_vlan_link_answers_its_vlan_tagged_as_a_kernel_vlan_device(tpid):
    reply = decide(tagged(request(), (5 << 13) | 100, tpid), ADDRESSES, OURS, vlan=100)
    assert reply[12:16] == struct.pack("!HH", tpid, 100)  # same TPID, VLAN 100, priority 0
    assert untagged(reply) == decide(request(), ADDRESSES, OURS)
    assert decide(tagged(request(spa=ALSO_OURS), 100, tpid), ADDRESSES, OURS, vlan=100) == Drop.CONFLICT


@pytest.mark.parametrize(
    "frame", [request(), tagged(request(), 10), tagged(request(), 6 << 13)], ids=["untagged", "vlan 10", "priority"]
)
def test_a_vlan_link_leaves_every_other_frame_to_others(frame):
    assert decide(frame, ADDRESSES, OURS, vlan=100) == Drop.OTHER_VLAN


def test_a_tagged_decision_is_described_with_its_vlan():
    from arpresponder.responder import describe

    frame = tagged(request(), 6 << 13)
    line = describe(frame, decide(frame, ADDRESSES, OURS))
    assert line.startswith("reply 198.51.100.10 is-at ") and line.endswith("(vlan 0)"), line
    assert describe(tagged(request(), 10), Drop.OTHER_VLAN).startswith("drop other-vlan: who-has 198.51.100.10")
