"""One loop over every link, or a thread per link? A model of the choice, with the real decide(), no network.

    python -m bench.loop_vs_threads [--seconds 3] [--rate 1000]

Link A is flooded: it always has a batch of MAX_BATCH requests to decide (decide() on real frames, for a /24).
Link B gets a lone request every 1/rate s: a separate process (on CPU 0; the links on CPU 1) writes its time (CLOCK_MONOTONIC) into a pipe, as
a frame arriving would make B's socket readable. Measured: how long B's request waits from that write until it is
decided, and how many frames A decides per second, for

    loop     one thread: decide A's batch, look at B's pipe (poll, no wait), answer it if readable; again
    threads  a thread deciding A's batches without end, and one blocked in B's pipe, as a thread per link would be

Both run in one interpreter, so the threads take turns at the GIL: a thread woken while another computes waits for
the switch interval (sys.getswitchinterval(), 5 ms by default) unless the other blocks first. The loop's wait is at
most one batch. The service (service.py) uses one loop for this; the README quotes these figures.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import struct
import subprocess
import sys
import threading
import time

from arpresponder.addrset import AddressSet
from arpresponder.codec import OP_REQUEST, pack_arp
from arpresponder.decision import decide

MAX_BATCH = 256  # the packet engine's batch (engines/packet.py)
FEEDER_CPU, LINKS_CPU = 0, 1  # as the bench pins trafgen and the responder
_STAMP = struct.Struct("q")
_FEEDER = """
import os, struct, sys, time
fd, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
os.sched_setaffinity(0, {int(sys.argv[4])})  # a CPU of its own: it spins to keep time
start = time.monotonic()
n = 0
while time.monotonic() - start < seconds:
    n += 1
    while time.monotonic() < start + n / rate:
        pass
    os.write(fd, struct.pack("q", time.monotonic_ns()))
"""


def frames() -> tuple[AddressSet, bytes, list[bytes]]:
    addresses = AddressSet.parse(["198.51.100.0/24"])
    mac = bytes.fromhex("020000000001")
    batch = [pack_arp(b"\xff" * 6, bytes.fromhex("020000000002"), OP_REQUEST, bytes.fromhex("020000000002"),
                      0xC0000202, bytes(6), 0xC6336400 + 1 + n % 254) for n in range(MAX_BATCH)]  # fmt: skip
    return addresses, mac, batch


def run(mode: str, seconds: float, rate: float) -> tuple[list[float], float]:
    """(B's waits in µs, A's frames decided per second) for one mode."""
    addresses, mac, batch = frames()
    read_fd, write_fd = os.pipe()
    waits: list[float] = []
    decided = [0]
    stop = threading.Event()

    def decide_batch() -> None:
        for frame in batch:
            decide(frame, addresses, mac)
        decided[0] += len(batch)

    def answer_b(data: bytes) -> None:
        now = time.monotonic_ns()
        for (stamp,) in _STAMP.iter_unpack(data[: len(data) - len(data) % _STAMP.size]):
            waits.append((now - stamp) / 1000)
            decide(batch[0], addresses, mac)

    feeder = subprocess.Popen([sys.executable, "-c", _FEEDER, str(write_fd), str(rate), str(seconds), str(FEEDER_CPU)],
                              pass_fds=(write_fd,))  # fmt: skip
    os.close(write_fd)
    start = time.monotonic()
    if mode == "loop":
        poller = select.poll()
        poller.register(read_fd, select.POLLIN)
        while feeder.poll() is None:
            decide_batch()
            if poller.poll(0):
                answer_b(os.read(read_fd, 4096))
    else:

        def link_a() -> None:
            while not stop.is_set():
                decide_batch()

        def link_b() -> None:
            while data := os.read(read_fd, 4096):
                answer_b(data)

        threads = [threading.Thread(target=link_a), threading.Thread(target=link_b)]
        for thread in threads:
            thread.start()
        feeder.wait()
        stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - start
    os.close(read_fd)
    return waits, decided[0] / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop_vs_threads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="link B's requests per second (1000)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {LINKS_CPU})
    print(f"switch interval {sys.getswitchinterval() * 1000:.0f} ms; batch {MAX_BATCH} frames; B at {args.rate:.0f}/s")
    for mode in ("loop", "threads"):
        waits, a_rate = run(mode, args.seconds, args.rate)
        waits.sort()
        p99 = waits[min(len(waits) - 1, int(0.99 * len(waits)))] if waits else float("nan")
        median = statistics.median(waits) if waits else float("nan")
        print(
            f"{mode:<8} B waits p50 {median:8.0f} µs  p99 {p99:8.0f} µs ({len(waits)} requests); "
            f"A decides {a_rate:,.0f} frames/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
