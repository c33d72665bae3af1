"""Where a lone request's time goes: the packet engine probed in-process while the bench's prober asks at 1k req/s.

    python -m bench.lone_path [--seconds 5] [--rate 1000] [-- RUN-OPTIONS…]

Builds a lab, measures the userspace floor (bench/floor.c) and then `arpresponder run` (packet engine, pinned to
CPU 1 like in the bench) with probes put around its engine from outside (nothing in the package is changed):
for each batch it takes, the kernel's receive timestamp of its first frame (the ring slot's tp_sec/tp_nsec,
CLOCK_REALTIME, taken when the veth hands the frame to the stack), when poll() returned, when the take
returned, and when the send() that transmits the reply began and ended. For the batches of one frame that woke
the loop, it prints each stage's p50 and p99:

    wake-up   the kernel's timestamp → poll() returned (the scheduler waking a sleeping process)
    to take   poll() returned → the frame copied out of the ring (the loop's own steps)
    decide    the frame taken → the send() call (decide, build the reply, and whatever else the loop does first)
    send      the send() system call (the kernel transmits the reply through veth)

and the prober's request→reply latency (as the bench measures it) for both. The CPU the responder used while
probing is printed too (utime+stime over the probing), to weigh a spin against what it saves.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROBES_ENV = "ARPR_LONE_PATH_PROBES"  # the child writes its probe records to this file at exit
_SLOT_TIME_OFFSET = 16  # tpacket2_hdr: status, len, snaplen (u32), mac, net (u16), then sec, nsec (u32)


def install_probes(path: str) -> None:
    """Wrap select.poll, the RX ring's takes and the TX ring's send() with clocks; dump the records at exit."""
    import select
    import struct

    from arpresponder.engines import rings

    clock = time.time_ns
    wake = [0]
    records: list[list[int]] = []  # [ring ts, poll returned, taken, frames, send start, send end, take called]
    open_record: list[list[int] | None] = [None]
    sec_nsec = struct.Struct("II")
    real_poll = select.poll

    class TimedPoll:
        def __init__(self):
            self._poll = real_poll()

        def register(self, *args):
            return self._poll.register(*args)

        def unregister(self, *args):
            return self._poll.unregister(*args)

        def poll(self, *args):
            events = self._poll.poll(*args)
            wake[0] = clock()
            return events

    select.poll = TimedPoll

    def timed_take(method):
        def take(self, *args, **kwargs):
            entered = clock()
            slot = self._offsets[self._next]
            sec, nsec = sec_nsec.unpack_from(self.ring, slot + _SLOT_TIME_OFFSET)
            ready = self._status[slot >> 2] & rings.TP_STATUS_USER
            out = method(self, *args, **kwargs)
            if ready and len(out):
                record = [sec * 1_000_000_000 + nsec, wake[0], clock(), len(out), 0, 0, entered]
                records.append(record)
                open_record[0] = record
            return out

        return take

    for name in ("take", "take_array"):
        if hasattr(rings.RxRing, name):
            setattr(rings.RxRing, name, timed_take(getattr(rings.RxRing, name)))
    real_transmit = rings.TxRing._transmit

    def sent_since(start: int) -> None:
        """The open record's send: it began at start and ended now."""
        record = open_record[0]
        if record is not None and not record[4]:
            record[4], record[5] = start, clock()
            open_record[0] = None

    def transmit(self, first, queued):
        start = clock()
        sent = real_transmit(self, first, queued)
        sent_since(start)
        return sent

    rings.TxRing._transmit = transmit
    from arpresponder.engines import packet

    if hasattr(packet.PacketEngine, "send_lone"):  # a lone reply's plain send(), where the engine has one
        real_send_lone = packet.PacketEngine.send_lone

        def send_lone(self, frame):
            start = clock()
            sent = real_send_lone(self, frame)
            sent_since(start)
            return sent

        packet.PacketEngine.send_lone = send_lone

    def dump() -> None:
        with open(path, "w") as f:
            json.dump(records[-200_000:], f)

    atexit.register(dump)


def serve(argv: list[str]) -> None:
    """The child: probes in, then `arpresponder` with argv as its command line."""
    install_probes(os.environ[PROBES_ENV])
    from arpresponder.cli import main

    sys.argv = ["arpresponder", *argv]
    main()


def _pcts(values: list[float]) -> str:
    if not values:
        return "—"
    values = sorted(values)
    return f"p50 {statistics.median(values):6.1f}  p99 {values[min(len(values) - 1, int(0.99 * len(values)))]:7.1f} µs"


def report(records: list[list[int]]) -> list[str]:
    """Each stage's p50/p99 (µs) over the one-frame batches that woke the loop and were answered."""
    lone = [r for r in records if r[3] == 1 and r[4] and r[1] >= r[0]]
    stages = {
        "wake-up (kernel ts → poll returned)": [(r[1] - r[0]) / 1000 for r in lone],
        "to take (poll → take called)": [(r[6] - r[1]) / 1000 for r in lone],
        "take (the ring's frames copied out)": [(r[2] - r[6]) / 1000 for r in lone],
        "decide (taken → send() called)": [(r[4] - r[2]) / 1000 for r in lone],
        "send (the send() call)": [(r[5] - r[4]) / 1000 for r in lone],
        "in all (kernel ts → send() returned)": [(r[5] - r[0]) / 1000 for r in lone],
    }
    busy = sum(1 for r in records if r[1] < r[0])
    lines = [f"  {len(lone)} lone requests woke the loop ({len(records)} batches, {busy} taken without a wake-up)"]
    lines += [f"  {name:<40} {_pcts(values)}" for name, values in stages.items()]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lone_path", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--seconds", type=float, default=5.0, help="probing time per responder (5)")
    parser.add_argument("--rate", type=int, default=1000, help="probe requests/s (1000)")
    parser.add_argument("--no-floor", action="store_true", help="skip the C floor")
    parser.add_argument("run_options", nargs="*", help="more `arpresponder run` options (after --)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root: it builds network namespaces and veth pairs")

    from arpresponder.lab.netns import Lab, LabProcess

    from .load import GENERATOR_CPU, IN_SET_PREFIX, RESPONDER_CPU, SERVED_NET, write_address_files
    from .measure import process_cpu_seconds
    from .probe import measure_latency
    from .responders import PINNED, Arpresponder, Floor, compile_floor

    os.sched_setaffinity(0, {GENERATOR_CPU})  # the prober, as in the bench
    with tempfile.TemporaryDirectory(prefix="arpr-lone-") as tmp, Lab.unique("arpr-lone") as lab:
        tmpdir = Path(tmp)
        floor_binary, _ = compile_floor(tmpdir) if not args.no_floor else (None, "")

        def probe(name: str, pid: int) -> None:
            measure_latency(lab, IN_SET_PREFIX, args.rate, 0.5)  # warm up: caches, neighbour entries
            cpu = process_cpu_seconds(pid)
            start = time.monotonic()
            lat = measure_latency(lab, IN_SET_PREFIX, args.rate, args.seconds, wait_after=0.5)
            cpu_pct = 100 * (process_cpu_seconds(pid) - cpu) / (time.monotonic() - start)
            print(f"{name}: request→reply p50 {lat.p50_us:.0f} µs, p99 {lat.p99_us:.0f} µs, "
                  f"{lat.sent - lat.answered}/{lat.sent} lost; CPU {cpu_pct:.1f}% of a core", flush=True)  # fmt: skip

        if floor_binary is not None:
            floor = Floor(floor_binary)
            floor.start(lab)
            try:
                probe("C floor", floor.pid)
            finally:
                floor.stop(lab)
        files = write_address_files(tmpdir)
        probes = tmpdir / "probes.json"
        argv = [*Arpresponder("packet", files["small"]).argv(), *args.run_options]
        child = [sys.executable, "-m", "bench.lone_path", "--serve", *argv]
        env_prefix = ["env", f"{PROBES_ENV}={probes}"]
        process = LabProcess(lab.responder_ns, [*env_prefix, *child], "ready:", ready_timeout=30, wrapper=PINNED)
        try:
            probe(f"arpresponder (packet{', ' + ' '.join(args.run_options) if args.run_options else ''})", process.pid)
        finally:
            process.stop()
        for line in report(json.loads(probes.read_text())):
            print(line)
        print(f"(responder on CPU {RESPONDER_CPU}, prober on CPU {GENERATOR_CPU}, set {SERVED_NET})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2:])
    else:
        sys.exit(main())
