"""decide(), row by row from the decision table, and on arbitrary bytes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arpresponder.addrset import AddressSet
from arpresponder.codec import MIN_FRAME_LEN, OP_REPLY, ArpFrame, parse_mac
from arpresponder.decision import Drop, decide

from .frames import OURS, REPLY, SET_TOKENS, request, rows

ADDRESSES = AddressSet.parse(SET_TOKENS)
ROWS = rows()


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table(row):
    outcome = decide(row.frame, ADDRESSES, OURS)
    if row.ours == REPLY:
        assert isinstance(outcome, bytes), f"dropped as {outcome}"
        asked = ArpFrame.from_bytes(row.frame)
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
