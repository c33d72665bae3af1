"""What the top-K sketches cost the loop: Responder.handle_batch with and without Stats.sketch_batch.

Random senders and targets, 256-frame batches (a flood). Prints ns/frame for
both and their ratio, three times: on a shared machine only the ratio means
anything, and only when it repeats. Run: .venv/bin/python bench/sketch_cost.py
"""

import random
import time

from arpresponder.addrset import AddressSet
from arpresponder.codec import BROADCAST_MAC, ZERO_MAC, pack_arp, parse_ipv4, parse_mac
from arpresponder.observe.stats import Stats
from arpresponder.responder import Responder

OURS = parse_mac("02:00:00:00:00:01")
PEER = parse_mac("02:00:00:00:00:02")
BATCHES, ROUNDS = 200, 15


def flood(rnd: random.Random) -> list[bytes]:
    frames = [pack_arp(BROADCAST_MAC, PEER, 1, PEER, parse_ipv4("203.0.113.1"), ZERO_MAC,
                       parse_ipv4(f"198.51.100.{rnd.randrange(1, 255)}")) for _ in range(256)]  # fmt: skip
    return [f[:28] + rnd.randbytes(4) + f[32:] for f in frames]  # a different sender each frame


def ns_per_frame(frames: list[bytes], sketch: bool) -> float:
    stats = Stats("r0", "packet")
    if not sketch:
        stats.sketch_batch = lambda frames: None
    responder = Responder(AddressSet.parse(["198.51.100.0/25"]), OURS, stats)
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(BATCHES):
            responder.handle_batch(frames)
        best = min(best, time.perf_counter() - start)
    return best / (BATCHES * len(frames)) * 1e9


if __name__ == "__main__":
    frames = flood(random.Random(1))
    for _ in range(3):
        without, with_ = ns_per_frame(frames, False), ns_per_frame(frames, True)
        print(f"without sketch {without:.0f} ns/frame, with {with_:.0f} ns/frame, ratio {with_ / without:.3f}")
