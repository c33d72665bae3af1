"""The batch path (arpresponder/batch.py) against decide(), its definition: frame by frame, on random batches.

Every batch mixes the decision table's rows, requests built from random fields
(targets and senders in and out of a random set with entry MACs and
exclusions, every kind of Ethernet destination and sender MAC), random cuts,
tags and junk; random withheld addresses; frames marked odd (as the ring marks
a tag it moved into the slot header). The batch path must give decide()'s reply
or drop reason for every frame it is sure of, leave the odd ones to decide(),
be sure of the common case, and with decide() on the rest add up to decide()'s
replies and per-reason counts.
"""

from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from arpresponder.addrset import AddressError, AddressSet
from arpresponder.batch import DROPS, REPLY, UNSURE, BatchDecider, _Spans
from arpresponder.codec import BROADCAST_MAC, ZERO_MAC, format_ipv4, pack_arp, parse_ipv4, parse_mac
from arpresponder.decision import SENDER_TELLS, Drop, decide

from .frames import OURS, PEER, SET_TOKENS, rows, tagged

ROWS = rows()
ENTRY_MACS = (parse_mac("02:aa:00:00:00:01"), parse_mac("02:aa:00:00:00:02"))
BASE = parse_ipv4("198.51.100.0")
# Addresses the random sets are made of (198.51.100.0-15), and the others requests may name.
SPACE = [BASE + n for n in range(16)]
OTHERS = [parse_ipv4(a) for a in ("0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "203.0.113.7", "192.0.2.2")]
ROW_WIDTH = 64  # bytes of frame a row holds past its offset (a ring slot holds 62; tagged rows of the table are 64)
BEFORE_THE_TARGET = (Drop.OWN_FRAME, Drop.BAD_SENDER, Drop.GRATUITOUS)  # decide()'s tests before the target's


def token(kind: str, a: int, b: int, mac: bytes) -> str:
    first, last = format_ipv4(BASE + min(a, b)), format_ipv4(BASE + max(a, b))
    return {
        "single": first,
        "single=mac": f"{first}={mac.hex(':')}",
        "range": f"{first}-{last}",
        "range=mac": f"{first}-{last}={mac.hex(':')}",
        "exclusion": f"!{first}-{last}",
    }[kind]


@st.composite
def set_tokens(draw) -> list[str]:
    """Tokens of a set over 198.51.100.0-15: singles and ranges, some with an entry MAC, and exclusions."""
    kinds = st.sampled_from(["single", "single=mac", "range", "range=mac", "exclusion"])
    tokens = draw(st.lists(st.builds(token, kinds, st.integers(0, 15), st.integers(0, 15), st.sampled_from(ENTRY_MACS)),
                           min_size=1, max_size=6))  # fmt: skip
    try:
        AddressSet.parse(tokens)
    except AddressError:  # equally specific overlaps with different MACs: not a set
        assume(False)
    return tokens  # not the set, whose repr (its /16 index) would bury a failure's report


@st.composite
def built_requests(draw) -> bytes:
    """A request from random fields, sometimes cut short or tagged."""
    macs = st.sampled_from([BROADCAST_MAC, OURS, PEER, *ENTRY_MACS, parse_mac("01:00:5e:00:00:01"), ZERO_MAC,
                            parse_mac("02:00:00:00:00:99")])  # fmt: skip
    addresses = st.sampled_from(SPACE + OTHERS)
    frame = pack_arp(draw(macs), draw(st.sampled_from([PEER, PEER, OURS])), draw(st.sampled_from([1, 1, 1, 2, 3])),
                     draw(macs), draw(addresses), draw(macs), draw(addresses),
                     htype=draw(st.sampled_from([1, 1, 6, 2])))  # fmt: skip
    frame = frame[: draw(st.sampled_from([60, 60, 60, 42, 41, 30, 12, 0]))]
    tci = draw(st.sampled_from([None, None, None, 0, 6 << 13, 10]))
    return frame if tci is None else tagged(frame, tci, draw(st.sampled_from([0x8100, 0x88A8])))


frames_of_every_kind = st.one_of(
    st.sampled_from(ROWS).map(lambda row: row.frame), built_requests(), built_requests(), st.binary(max_size=ROW_WIDTH)
)
withheld_maps = st.dictionaries(st.sampled_from(SPACE), st.sampled_from([Drop.SUBNET_BROADCAST, Drop.NOT_IN_SET]),
                                max_size=3)  # fmt: skip


def as_rows(frames: list[bytes], offset: int, junk: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """frames laid out as the ring lays them: each in a row of its own at offset, junk around it (never to be read)."""
    rows_ = junk.integers(0, 256, size=(len(frames), offset + ROW_WIDTH), dtype=np.uint8)
    for i, frame in enumerate(frames):
        rows_[i, offset : offset + len(frame)] = np.frombuffer(frame, dtype=np.uint8)
    return rows_, np.array([len(frame) for frame in frames], dtype=np.uint32)


def entry_target(addresses: AddressSet, frame: bytes) -> bool:
    """Is the frame's target answered with an entry's own MAC, or inside a range that has one? (The batch's rule.)"""
    tpa = int.from_bytes(frame[38:42], "big")
    if addresses.singles.get(tpa):
        return True
    return any(first <= tpa <= last and mac for first, last, mac in
               zip(addresses.range_starts, addresses.range_ends, addresses.range_macs or ()))  # fmt: skip


def plain_request(frame: bytes) -> bool:
    """Untagged Ethernet/IPv4 ARP request of 42 bytes or more (htype 1 or 6), read by hand."""
    return len(frame) >= 42 and frame[12:14] == b"\x08\x06" and frame[14:16] in (b"\x00\x01", b"\x00\x06") and \
        frame[16:22] == b"\x08\x00\x06\x04\x00\x01"  # fmt: skip


@settings(max_examples=400)
@given(set_tokens(), st.lists(frames_of_every_kind, min_size=1, max_size=40), withheld_maps,
       st.sampled_from([0, 66, 3]), st.sampled_from([0, 0, 0, 10]), st.data())  # fmt: skip
def test_the_batch_path_decides_as_decide_does_frame_by_frame(tokens, frames, withheld, offset, vlan, data):
    addresses = AddressSet.parse(tokens)
    odd = np.array(data.draw(st.lists(st.booleans(), min_size=len(frames), max_size=len(frames))))
    rows_, lengths = as_rows(frames, offset, np.random.default_rng(data.draw(st.integers(0, 2**32))))
    decider = BatchDecider(addresses, OURS, withheld, vlan)
    decision = decider.decide(rows_, lengths, offset, odd)

    expected = [decide(frame, addresses, OURS, withheld, vlan) for frame in frames]
    for i, frame in enumerate(frames):
        got = decision.outcome(i)
        if got is not None:
            assert got == expected[i], (i, frame.hex())
        # Sure of what it should be: frames too short for a request, and untagged plain requests, unless their
        # target has an entry MAC and no reason decide() tests before the target applies; unsure of what it was
        # told to leave, and of everything on a VLAN link.
        common = len(frame) < 42 or (plain_request(frame) and (not entry_target(addresses, frame) or
                                                               expected[i] in BEFORE_THE_TARGET))  # fmt: skip
        assert (got is not None) == (common and not odd[i] and not vlan), (i, frame.hex(), got)

    replies, drops = decider.settle(decision, frames.__getitem__)
    assert sorted([reply.tobytes() for reply in decision.replies] + replies) == sorted(
        outcome for outcome in expected if isinstance(outcome, bytes)
    )
    assert decision.drop_counts() + drops == Counter(outcome for outcome in expected if isinstance(outcome, Drop))
    # What an owner table learns from (Responder.notice): of the frames decided here, those decide() drops for a
    # reason in SENDER_TELLS whose sender IP is in the set, exactly.
    told = [i for i, frame in enumerate(frames) if decision.outcome(i) is not None and expected[i] in SENDER_TELLS
            and len(frame) >= 32 and int.from_bytes(frame[28:32], "big") in addresses]  # fmt: skip
    assert decision.telling().tolist() == told


@st.composite
def answerable_batches(draw) -> list[bytes]:
    """Requests the batch path answers whole: targets in 198.51.100.0/28, senders outside it, any good destination."""
    count = draw(st.integers(1, 256))
    dst = st.sampled_from([BROADCAST_MAC, OURS, parse_mac("01:00:5e:00:00:01")])
    senders = st.integers(parse_ipv4("203.0.113.0"), parse_ipv4("203.0.113.255"))
    return [pack_arp(draw(dst), PEER, 1, PEER, draw(senders), ZERO_MAC, BASE + draw(st.integers(0, 15)))
            for _ in range(count)]  # fmt: skip


@settings(max_examples=200)
@given(answerable_batches(), withheld_maps)
def test_a_batch_of_answerable_requests_is_answered_in_order(frames, withheld):
    """The path that answers a whole batch at once; a withheld target among them takes the path frame by frame."""
    addresses = AddressSet.parse(["198.51.100.0/28"])
    rows_, lengths = as_rows(frames, 66, np.random.default_rng(0))
    decision = BatchDecider(addresses, OURS, withheld).decide(rows_, lengths, 66)
    expected = [decide(frame, addresses, OURS, withheld) for frame in frames]
    assert [decision.outcome(i) for i in range(len(frames))] == expected
    assert [reply.tobytes() for reply in decision.replies] == [e for e in expected if isinstance(e, bytes)]


def test_every_row_of_the_table_is_decided_as_the_table_says():
    addresses = AddressSet.parse(SET_TOKENS)
    frames = [row.frame for row in ROWS]
    decider = BatchDecider(addresses, OURS)
    decision = decider.decide(*as_rows(frames, 66, np.random.default_rng(1)), 66)
    for i, row in enumerate(ROWS):
        got = decision.outcome(i)
        if got is None:  # left to decide(): tagged rows, and what is not a plain request
            assert not plain_request(row.frame) and len(row.frame) >= 42, row.name
            got = decide(row.frame, addresses, OURS)
        assert got == (decide(row.frame, addresses, OURS) if row.ours == "reply" else Drop(row.ours)), row.name
    assert len(decision.unsure) == sum(1 for row in ROWS if len(row.frame) >= 42 and not plain_request(row.frame))


def test_the_codes_name_every_drop_reason_once():
    assert sorted(DROPS) == sorted(Drop) and REPLY < 0 and UNSURE < 0 and REPLY != UNSURE


def test_rows_too_narrow_for_a_request_are_refused():
    decider = BatchDecider(AddressSet.parse(["198.51.100.1"]), OURS)
    with pytest.raises(ValueError, match="cannot hold"):
        decider.decide(np.zeros((1, 41 + 66), dtype=np.uint8), np.array([41]), 66)


def test_an_empty_batch_decides_nothing():
    decision = BatchDecider(AddressSet.parse(["198.51.100.1"]), OURS).decide(np.zeros((0, 64), np.uint8), np.zeros(0))
    assert len(decision.codes) == 0 and decision.replies.shape == (0, 60) and not decision.drop_counts()


# --- membership over spans -------------------------------------------------------------------------

spans = st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 300)), max_size=12).map(
    lambda pairs: [(first, min(first + size, 2**32 - 1)) for first, size in pairs]
)


@settings(max_examples=500)
@given(spans, st.lists(st.integers(0, 2**32 - 1), max_size=20), st.data())
def test_span_membership_is_any_span_containing_it(span_list, probes, data):
    # Probes at every edge of every span, and random ones.
    probes += [p for first, last in span_list for p in (first - 1, first, last, last + 1) if 0 <= p < 2**32]
    starts = np.array([first for first, _ in span_list], dtype=np.uint32)
    ends = np.array([last for _, last in span_list], dtype=np.uint32)
    found = _Spans(starts, ends).contains(np.array(probes, dtype=np.uint32))
    assert found.tolist() == [any(first <= p <= last for first, last in span_list) for p in probes]


def test_a_million_entry_set_answers_as_resolve_does():
    singles = [format_ipv4(parse_ipv4("100.0.0.0") + 2 * n) for n in range(500_000)]
    ranges = [f"{format_ipv4(parse_ipv4('200.0.0.0') + 16 * n)}-{format_ipv4(parse_ipv4('200.0.0.0') + 16 * n + 9)}"
              for n in range(500_000)]  # fmt: skip
    addresses = AddressSet.parse([*singles, *ranges])
    decider = BatchDecider(addresses, OURS)
    rng = np.random.default_rng(2)
    probes = np.concatenate([
        rng.integers(parse_ipv4("100.0.0.0"), parse_ipv4("100.16.0.0"), 2000),
        rng.integers(parse_ipv4("200.0.0.0"), parse_ipv4("200.123.0.0"), 2000),
        [parse_ipv4("100.0.0.0") - 1, parse_ipv4("200.0.0.0") + 16 * 499_999 + 9, parse_ipv4("200.0.0.0") + 16 * 499_999 + 10],
    ]).astype(np.uint32)  # fmt: skip
    frames = [pack_arp(BROADCAST_MAC, PEER, 1, PEER, parse_ipv4("192.0.2.2"), ZERO_MAC, int(tpa)) for tpa in probes]
    decision = decider.decide(*as_rows(frames, 0, rng), 0)
    assert [decision.outcome(i) for i in range(len(frames))] == [decide(f, addresses, OURS) for f in frames]
    assert (decision.codes == REPLY).sum() > 1000 and (decision.codes != REPLY).sum() > 1000  # both kinds probed
