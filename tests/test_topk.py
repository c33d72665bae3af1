"""The top-K sketch and the stats snapshot, from bytes: no privilege needed."""

import random
import socket

from arpresponder.decision import Drop
from arpresponder.observe.stats import SKETCH_SAMPLE, TOP_SHOWN, Stats
from arpresponder.observe.topk import TopK


def test_counts_are_exact_while_few_keys_are_seen():
    sketch = TopK(k=8)
    keys = [b"a"] * 7 + [b"b"] * 5 + [b"c"] * 2 + [bytes([n]) for n in range(10)]
    sketch.update(keys)
    assert sketch.top(3) == [(b"a", 7), (b"b", 5), (b"c", 2)]


def test_memory_is_bounded_and_heavy_hitters_survive_a_crowd():
    k = 16
    sketch = TopK(k=k)
    rnd = random.Random(4)
    total = 0
    for _ in range(200):  # 200 batches: 2 heavy keys among 50 000 distinct others
        batch = [rnd.randbytes(4) for _ in range(250)] + [b"HEVY"] * 40 + [b"also"] * 20
        sketch.update(batch)
        total += len(batch)
        assert len(sketch) <= 2 * k + len(set(batch))
    top = dict(sketch.top(2))
    assert set(top) == {b"HEVY", b"also"}
    # Misra-Gries: never more than the truth, never less than truth - total/(k+1).
    assert 8000 - total / (k + 1) <= top[b"HEVY"] <= 8000
    assert 4000 - total / (k + 1) <= top[b"also"] <= 4000


def test_weighted_updates_count_each_key_weight_times():
    sketch = TopK(k=4)
    sketch.update([b"x", b"y", b"x"], weight=10)
    assert sketch.top(2) == [(b"x", 20), (b"y", 10)]


def frame(target: str, sender: str = "192.0.2.2") -> bytes:
    return bytes(28) + socket.inet_aton(sender) + bytes(6) + socket.inet_aton(target) + bytes(18)


def test_a_calm_batch_is_counted_frame_by_frame():
    stats = Stats("r0", "packet")
    stats.sketch_batch([frame("198.51.100.7")] * 3 + [frame("198.51.100.8", "192.0.2.3")] + [b"short"])
    snap = stats.snapshot()
    assert snap["top_targets"] == [{"ip": "198.51.100.7", "count": 3}, {"ip": "198.51.100.8", "count": 1}]
    assert snap["top_senders"] == [{"ip": "192.0.2.2", "count": 3}, {"ip": "192.0.2.3", "count": 1}]


def test_a_flood_batch_is_sampled_without_aliasing():
    stats = Stats("r0", "packet")
    targets = [f"198.51.100.{n}" for n in range(4)]
    batch = [frame(targets[i % 4]) for i in range(SKETCH_SAMPLE * 4)]  # period 4 == the stride
    for _ in range(40):
        stats.sketch_batch(batch)
    counts = {e["ip"]: e["count"] for e in stats.snapshot()["top_targets"]}
    assert set(counts) == set(targets)  # a fixed start would see only one of them
    assert sum(counts.values()) == 40 * len(batch)
    assert min(counts.values()) >= 0.5 * max(counts.values())


def test_snapshot_lists_every_drop_reason():
    stats = Stats("r0", "packet")
    stats.dropped[Drop.NOT_IN_SET] += 2
    snap = stats.snapshot()
    assert set(snap["dropped"]) == {str(reason) for reason in Drop}
    assert snap["dropped"]["not-in-set"] == 2 and snap["dropped"]["conflict"] == 0
    assert len(snap["top_targets"]) <= TOP_SHOWN
