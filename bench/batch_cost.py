"""Where the batch path pays: decide() frame by frame against BatchDecider on one array, for batches of 1 to 256.

    .venv/bin/python -m bench.batch_cost [--write bench/BATCH_COST.md]

Decision: the loop's per-frame work (decide() on each frame as RxRing.take
gives it, replies collected) against the batch path's (RxBatch over the
slots as RxRing.take_array gives them, BatchDecider.decide, replies as one
array), on the flood's requests (broadcast, targets across 198.51.100.0/24,
the set a /24). "mixed" batches have one frame in 16 for another host's MAC
(a drop: the batch path's slower branch) and one in 64 tagged (left to
decide()).

Ring (as root: a veth lab of its own): the same, with the ring work around
it, on real sockets: take + decide() + send against take_array +
BatchDecider + send_array, for N requests waiting in the RX ring. send()
includes the kernel sending N replies over the veth, the same for both.

Times are the best of several rounds, interleaved; on a shared machine only
the ratios mean anything, and only when they repeat.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from arpresponder.addrset import AddressSet
from arpresponder.batch import BatchDecider
from arpresponder.codec import BROADCAST_MAC, ETHERTYPE_VLAN, ZERO_MAC, pack_arp, parse_ipv4, parse_mac
from arpresponder.decision import decide
from arpresponder.engines.rings import TP_STATUS_USER, TP_STATUS_VLAN_VALID, RxBatch, RxRing

OURS = parse_mac("02:00:00:00:00:01")
PEER = parse_mac("02:00:00:00:00:02")
OTHER_HOST = parse_mac("02:00:00:00:00:99")
SIZES = tuple(2**k for k in range(9))  # 1, 2, 4, … 256
ADDRESSES = AddressSet.parse(["198.51.100.0/24"])


def flood(count: int, mixed: bool) -> list[bytes]:
    """count requests as the bench's flood sends them; mixed: 1 in 16 to another host's MAC, 1 in 64 tagged."""
    frames = []
    for i in range(count):
        dst = OTHER_HOST if mixed and i % 16 == 15 else BROADCAST_MAC
        frame = pack_arp(dst, PEER, 1, PEER, parse_ipv4("192.0.2.2"), ZERO_MAC, parse_ipv4("198.51.100.1") + i % 254)
        if mixed and i % 64 == 63:
            frame = frame[:12] + ETHERTYPE_VLAN.to_bytes(2, "big") + (6 << 13).to_bytes(2, "big") + frame[12:]
        frames.append(frame)
    return frames


def as_slots(frames: list[bytes]) -> np.ndarray:
    """The slots take_array would copy out for these frames: tpacket2 header, then the frame at 66, tags taken out."""
    slots = np.zeros((len(frames), RxRing.FRAME_SIZE), dtype=np.uint8)
    words = slots.view("u4")
    halves = slots.view("u2")
    for i, frame in enumerate(frames):
        inner, status = frame, TP_STATUS_USER
        if frame[12:14] == ETHERTYPE_VLAN.to_bytes(2, "big"):
            inner, status = frame[:12] + frame[16:], status | TP_STATUS_VLAN_VALID
            halves[i, 12] = int.from_bytes(frame[14:16], "big")  # tp_vlan_tci
        words[i, 0], words[i, 2], halves[i, 6] = status, len(inner), RxBatch.FRAME_OFFSET  # tp_status, snaplen, mac
        slots[i, RxBatch.FRAME_OFFSET : RxBatch.FRAME_OFFSET + len(inner)] = np.frombuffer(inner, dtype=np.uint8)
    return slots


def scalar_path(frames: list[bytes]) -> list[bytes]:
    """What the loop does per frame today (responder.Responder.handle_batch's decisions)."""
    replies = []
    for frame in frames:
        outcome = decide(frame, ADDRESSES, OURS)
        if outcome.__class__ is bytes:
            replies.append(outcome)
    return replies


def batch_path(decider: BatchDecider, slots: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    batch = RxBatch(slots)
    decision = decider.decide(batch.slots, batch.lengths, RxBatch.FRAME_OFFSET, batch.odd)
    others, _drops = decider.settle(decision, batch.frame) if decision.unsure.size else ([], None)
    return decision.replies, others


def best_ns(work: Callable[[], object], frames: int, budget_s: float = 0.02) -> float:
    """ns per frame of work(), best of 5 rounds of about budget_s each."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            work()
        if time.perf_counter() - start > budget_s / 4:
            break
        calls *= 2
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            work()
        rounds.append(time.perf_counter() - start)
    return min(rounds) / calls / frames * 1e9


def decision_table() -> list[tuple[str, int, float, float]]:
    """(kind, N, scalar ns/frame, batch ns/frame) for every size, common and mixed batches."""
    decider = BatchDecider(ADDRESSES, OURS)
    out = []
    for mixed in (False, True):
        for n in SIZES:
            frames = flood(n, mixed)
            slots = as_slots(frames)
            replies, others = batch_path(decider, slots)
            assert sorted([r.tobytes() for r in replies] + others) == sorted(scalar_path(frames))  # same answers
            scalar = best_ns(lambda frames=frames: scalar_path(frames), n)
            batch = best_ns(lambda slots=slots: batch_path(decider, slots), n)
            out.append(("mixed" if mixed else "common", n, scalar, batch))
    return out


def ring_table(rounds: int = 60) -> list[tuple[str, int, float, float]]:
    """take+decide+send vs take_array+decide+send_array on real rings in a lab of its own, per N; see the docstring."""
    from arpresponder.engines import bpf
    from arpresponder.engines.linux import open_packet_socket, packet_socket_stats
    from arpresponder.engines.rings import TxRing
    from arpresponder.lab.netns import PEER_IF, RESPONDER_IF, Lab

    decider = BatchDecider(ADDRESSES, OURS)
    out = []
    with Lab.unique("arpr-bc") as lab:
        with lab.inside(lab.responder_ns):
            rx_sock = open_packet_socket(RESPONDER_IF, bpf.arp_request_filter())
            tx_sock = open_packet_socket(RESPONDER_IF, None)
        with lab.inside(lab.peer_ns):
            peer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        peer.bind((PEER_IF, 0))
        rx, tx = RxRing(rx_sock, 1024), TxRing(tx_sock, 1024)
        try:

            def one(n: int, frames: list[bytes], batched: bool) -> float:
                for frame in frames:
                    peer.send(frame)
                arrived, deadline = 0, time.monotonic() + 1.0
                while arrived < n:  # the kernel's count of frames put in the ring (reset on each read)
                    arrived += packet_socket_stats(rx_sock)[0]
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{n} requests did not reach the ring")
                start = time.perf_counter()
                if batched:
                    batch = rx.take_array(n)
                    decision = decider.decide(batch.slots, batch.lengths, RxBatch.FRAME_OFFSET, batch.odd)
                    sent = tx.send_array(decision.replies)
                else:
                    sent = tx.send(scalar_path(rx.take(n)))
                elapsed = time.perf_counter() - start
                if sent != n:
                    raise RuntimeError(f"sent {sent} of {n} replies")
                return elapsed

            for n in SIZES:
                frames = flood(n, mixed=False)
                scalar, batch = [], []
                for _ in range(rounds):
                    scalar.append(one(n, frames, batched=False))
                    batch.append(one(n, frames, batched=True))
                out.append(("ring", n, min(scalar) / n * 1e9, min(batch) / n * 1e9))
        finally:
            rx.close()
            tx.close()
            for sock in (rx_sock, tx_sock, peer):
                sock.close()
    return out


def markdown(rows: list[tuple[str, int, float, float]], command: str, note: str) -> str:
    lines = [
        "# Batch path: where it pays",
        "",
        f"Command: `{command}`, {time.strftime('%Y-%m-%d %H:%M %Z')}. {note}",
        "",
        "ns per frame, best of 5 rounds; the ratio is batch ÷ per-frame (below 1: the batch path is faster).",
        "",
        "| batch | N | decide() per frame (ns/frame) | batch path (ns/frame) | batch ÷ per-frame |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {kind} | {n} | {s:.0f} | {b:.0f} | {b / s:.2f} |" for kind, n, s, b in rows]
    lines.append("")
    for kind in dict.fromkeys(kind for kind, *_ in rows):
        wins = [n for k, n, s, b in rows if k == kind and b < s]
        first = next((n for n in SIZES if all(m in wins for m in SIZES if m >= n)), None)
        lines.append(f"- {kind}: the batch path is faster from N = {first} on" if first else f"- {kind}: never faster")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--write", type=Path, metavar="FILE", help="also write the tables as markdown to FILE")
    args = parser.parse_args()
    rows = decision_table()
    note = "Decision only."
    if os.geteuid() == 0:
        rows += ring_table()
        note = "Decision only (common, mixed), and with the rings around it (ring: real sockets on a veth pair)."
    else:
        note += " The ring rows need root (a veth lab): skipped."
    text = markdown(rows, "python -m bench.batch_cost" + "".join(f" {a}" for a in sys.argv[1:]), note)
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
