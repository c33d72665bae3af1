"""The rings' batch methods on real sockets in a lab: RxRing.take_array and TxRing.send_array against take and send.

Small rings (64 slots), so that batches wrap around the end of the ring.
"""

import time

import numpy as np
import pytest

from arpresponder.addrset import AddressSet
from arpresponder.batch import BatchDecider
from arpresponder.decision import decide
from arpresponder.engines import bpf
from arpresponder.engines.linux import open_packet_socket, packet_socket_drops
from arpresponder.engines.rings import RxBatch, RxRing, TxRing
from arpresponder.lab.netns import RESPONDER_IF

from .frames import OURS, PEER, SET_TOKENS, request, rows, tagged, untagged
from .wire import PeerPort

pytestmark = pytest.mark.wire

SLOTS = 64
ROWS = rows()


def send(port: PeerPort, frames: list[bytes]) -> None:
    """Send frames from p0 back to back (the ring takes them as they come)."""
    for frame in frames:
        port.sock.send(frame)


@pytest.fixture
def rings(lab):
    """(RxRing on r0 receiving ARP requests, TxRing on r0, a raw port on p0, the RX ring's socket), closed after."""
    with lab.inside(lab.responder_ns):
        rx_sock = open_packet_socket(RESPONDER_IF, bpf.arp_request_filter())
        tx_sock = open_packet_socket(RESPONDER_IF, None)
    rx, tx, peer = RxRing(rx_sock, SLOTS), TxRing(tx_sock, SLOTS), PeerPort(lab)
    yield rx, tx, peer, rx_sock
    rx.close()
    tx.close()
    for sock in (rx_sock, tx_sock):
        sock.close()
    peer.close()


def collect(take, count: int, timeout: float = 2.0) -> list:
    """Call take() until it has given count frames in all (list of frames, or of RxBatch) or the timeout."""
    got: list = []
    deadline = time.monotonic() + timeout
    while sum(len(x) if isinstance(x, RxBatch) else 1 for x in got) < count and time.monotonic() < deadline:
        out = take()
        got.extend([out] if isinstance(out, RxBatch) else out)
        time.sleep(0.01)
    return got


def requests(n: int, first: int = 0) -> list[bytes]:
    return [request(tpa=f"198.51.100.{(first + i) % 250 + 1}", spa=f"203.0.113.{i % 250 + 1}") for i in range(n)]


def is_request(frame: bytes) -> bool:
    """What the socket's filter passes: ARP with op 1, as the kernel shows it to the filter (any VLAN tag taken out)."""
    inner = untagged(frame)
    return inner[12:14] == b"\x08\x06" and inner[20:22] == b"\x00\x01"


def test_take_array_gives_the_frames_take_gives_tags_put_back(rings):
    rx, _tx, peer, _sock = rings
    sent = [row.frame for row in ROWS if is_request(row.frame)]  # tagged ones and a 42-byte one among them
    assert any(untagged(frame) != frame for frame in sent) and any(len(frame) == 42 for frame in sent)
    send(peer, sent)
    batches = collect(lambda: rx.take_array(SLOTS), len(sent))
    from_array = [batch.frame(i) for batch in batches for i in range(len(batch))]
    send(peer, sent)
    from_take = collect(lambda: rx.take(SLOTS), len(sent))
    assert from_array == from_take
    assert from_array == sent  # byte for byte: veth pads nothing, and the tags the kernel took out are back
    odd = [bool(batch.odd[i]) for batch in batches for i in range(len(batch))]
    assert odd == [untagged(frame) != frame for frame in sent]  # tagged frames are the odd ones
    assert all(batch.lengths[i] == len(untagged(batch.frame(i))) for batch in batches for i in range(len(batch)))


def test_take_array_wraps_around_the_ring_stops_at_the_limit_and_hands_slots_back(rings):
    rx, _tx, peer, rx_sock = rings
    for round_ in range(3):  # 3 × 50 frames through 64 slots: every round wraps past the end somewhere
        sent = requests(50, first=round_ * 50)
        send(peer, sent)
        time.sleep(0.2)
        assert rx.holds(50) and not rx.holds(51)
        first = rx.take_array(20)
        assert len(first) == 20  # no more than asked, and the rest still there for the next call
        assert rx.holds(30) and not rx.holds(31)
        rest = collect(lambda: rx.take_array(SLOTS), 30)
        assert [first.frame(i) for i in range(20)] + [b.frame(i) for b in rest for i in range(len(b))] == sent
    assert len(rx.take_array(SLOTS)) == 0
    assert packet_socket_drops(rx_sock) == 0  # every slot went back to the kernel: 150 frames, 64 slots, none lost


def test_send_array_sends_each_row_in_order_and_wraps(rings):
    _rx, tx, peer, _sock = rings
    for round_ in range(3):
        frames = [bytes(f) for f in requests(50, first=round_ * 50)]
        replies = np.array([np.frombuffer(f, dtype=np.uint8) for f in frames])
        assert tx.send_array(replies) == 50
        assert peer.collect() == frames
    short = np.array([np.frombuffer(f[:42], dtype=np.uint8) for f in requests(3)])  # rows' width is the frames' length
    assert tx.send_array(short) == 3
    assert peer.collect() == [f[:42] for f in requests(3)]
    with pytest.raises(ValueError, match="do not fit"):
        tx.send_array(np.zeros((1, tx.max_frame + 1), dtype=np.uint8))
    assert tx.send_array(np.zeros((0, 60), dtype=np.uint8)) == 0


def test_a_batch_decided_on_the_ring_is_answered_as_decide_answers(rings):
    """take_array → BatchDecider → send_array, with decide() for what the batch leaves: the peer gets decide()'s replies."""
    rx, tx, peer, _sock = rings
    addresses = AddressSet.parse(SET_TOKENS)
    sent = [row.frame for row in ROWS] + [tagged(request(), 6 << 13), request(eth_dst=PEER)]
    expected = [outcome for frame in sent if isinstance(outcome := decide(frame, addresses, OURS), bytes)]
    send(peer, sent)
    time.sleep(0.3)
    batch = rx.take_array(SLOTS)
    decider = BatchDecider(addresses, OURS)
    decision = decider.decide(batch.slots, batch.lengths, RxBatch.FRAME_OFFSET, batch.odd)
    assert len(decision.replies) >= 8  # the common rows were answered by the batch path itself
    others, _drops = decider.settle(decision, batch.frame)
    assert tx.send_array(decision.replies) + tx.send(others) == len(expected)
    assert sorted(peer.collect()) == sorted(expected)
