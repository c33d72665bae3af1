"""The loop's batch path on the wire: a burst waiting in the ring is answered and counted as decide() says, frame by
frame, and the owner table learns from it (answering.py). The property test (test_batch.py) holds the decision
equal to decide(); this holds the loop around it: the ring, the unsure frames, the sending, the counts."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import time
from collections import Counter

import pytest

from arpresponder.addrset import AddressSet
from arpresponder.codec import ArpFrame, format_ipv4
from arpresponder.decision import Drop, decide
from arpresponder.lab.netns import RESPONDER_IF, RESPONDER_MAC, ResponderProcess

from .frames import request
from .wire import PeerPort, arpresponder_in

pytestmark = pytest.mark.wire

SO_RCVBUFFORCE = 33
SET = "198.51.100.0/24"
OURS = bytes.fromhex(RESPONDER_MAC.replace(":", ""))
OTHER_HOST = bytes.fromhex("02000000aa01")


def burst(n: int, seed: int) -> list[bytes]:
    """n frames the kernel filter passes (target or sender in the set), of every kind the batch path decides or
    leaves to decide(): answered requests, gratuitous, conflicts, not for us, bad senders, replies from the set."""
    rng = random.Random(seed)
    kinds = [
        lambda t: request(tpa=t),
        lambda t: request(tpa=t, spa=t),  # gratuitous
        lambda t: request(tpa=t, spa="198.51.100.250", sha=OTHER_HOST, eth_src=OTHER_HOST),  # conflict
        lambda t: request(tpa=t, eth_dst=bytes.fromhex("02000000bb01")),  # unicast to another host
        lambda t: request(tpa=t, sha=bytes.fromhex("030000000001")),  # a multicast sender MAC
        lambda t: request(tpa="192.0.2.9", spa=t, op=2, sha=OTHER_HOST, eth_src=OTHER_HOST),  # a reply from the set
    ]
    weights = [10, 1, 1, 1, 1, 1]
    return [rng.choices(kinds, weights)[0](f"198.51.100.{rng.randrange(1, 250)}") for _ in range(n)]


def test_a_burst_in_the_ring_is_answered_and_counted_as_decide_says(lab):
    frames = burst(1000, seed=11)
    addresses = AddressSet.parse([SET])
    expected = [decide(frame, addresses, OURS) for frame in frames]
    port = PeerPort(lab)
    # Room for the burst and its replies (it also queues what it sends, as tcpdump would see them).
    port.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    with ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", SET, "--engine", "packet"]) as r:
        os.kill(r.pid, signal.SIGSTOP)  # the whole burst waits in the ring: the loop finds ≥ MIN_BATCH frames
        try:
            for frame in frames:
                port.sock.send(frame)
            time.sleep(0.2)
        finally:
            os.kill(r.pid, signal.SIGCONT)
        replies = port.collect(1.5)
        snapshot = json.loads(arpresponder_in(lab, lab.responder_ns, "stats", "--json").stdout)
        assert r.stop() == 0
    wanted = Counter(outcome for outcome in expected if isinstance(outcome, bytes))
    got = Counter(f[:60] for f in replies if ArpFrame.from_bytes(f).op == 2 and f[6:12] == OURS)
    assert got == wanted
    assert snapshot["received"] == len(frames) and snapshot["replied"] == sum(wanted.values())
    drops = Counter(outcome for outcome in expected if isinstance(outcome, Drop))
    assert {reason: n for reason, n in snapshot["dropped"].items() if n} == {str(k): n for k, n in drops.items()}
    # The owner table heard of every address of the set another host said it uses: the conflicts' 198.51.100.250,
    # the gratuitous requests' and the replies' senders (Responder.notice, from the batch path and decide() alike).
    told = {format_ipv4(ArpFrame.from_bytes(f).spa) for f, o in zip(frames, expected, strict=True)
            if o in (Drop.CONFLICT, Drop.GRATUITOUS, Drop.NOT_REQUEST)}  # fmt: skip
    assert snapshot["interfaces"]["r0"]["conflicts_known"] == len(told)
