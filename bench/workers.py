"""`run --workers N` against one worker: the bench's rate ladder for each N, in one lab, one after the other.

    python -m bench.workers [--workers 1 2 4] [--cpus 1] [--rates 50000 100000 …] [--seconds 3]

Each N gets the packet engine's rate ladder (trafgen on CPU 0 as in the bench, from the bench's own code) with
`arpresponder run --workers N` pinned to --cpus (taskset's list; the bench's CPU 1 by default: on a 2-core box,
CPU 0 is trafgen's). Prints, for each N and rate: offered and answered requests/s, loss, and the CPU of all N
processes together (% of one core); then each N's highest rate with ≤ 1% loss and its peak answered rate.

On a bigger box, give the workers cores of their own and trafgen room to offer more than one core answers, e.g.
`--cpus 2-9 --workers 1 2 4 8 --rates 100000 200000 400000 800000`: the ladder stops where trafgen (one CPU, the
bench's GENERATOR_CPU) can offer no more, so read each N's answered rate against the generator's offered one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from arpresponder.lab.netns import Lab, ResponderProcess

from .load import GENERATOR_CPU, write_address_files, write_configs
from .measure import process_cpu_seconds
from .responders import Arpresponder
from .run import COLLAPSED_PCT, LOSS_OK_PCT, Bench, Plan

RATES = (20_000, 50_000, 100_000, 125_000, 150_000, 175_000, 200_000, 250_000, 300_000)


class Workers(Arpresponder):
    """The packet engine with --workers N, pinned to a CPU list."""

    def __init__(self, ip_file: Path, workers: int, cpus: str):
        super().__init__("packet", ip_file, f", {workers} worker{'s' if workers > 1 else ''}")
        self.workers, self.cpus = workers, cpus

    def argv(self) -> list[str]:
        return [*super().argv(), "--workers", str(self.workers)]

    def start(self, lab: Lab, ready_timeout: float = 30) -> None:
        self.process = ResponderProcess(lab, self.argv(), ready_timeout=ready_timeout,
                                        wrapper=("taskset", "-c", self.cpus))  # fmt: skip
        if self.workers > 1:  # worker 0 is ready; wait for the others' sockets (they start once it is)
            deadline = time.monotonic() + ready_timeout
            while len(self.pids()) < self.workers:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(self.pids())} of {self.workers} workers started")
                time.sleep(0.1)
            time.sleep(1.0)  # a worker's interpreter, config and engine: answering well within this here

    def pids(self) -> list[int]:
        """Worker 0 and the workers it started."""
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False).stdout
        children = out.split()
        return [self.pid, *map(int, children)]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="the Ns to measure (1 2)")
    parser.add_argument("--cpus", default="1", help="taskset CPU list for the workers (1)")
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES), help="requests/s asked of trafgen")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per rung (3)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root: it builds network namespaces and veth pairs")
    plan = Plan(rates=tuple(args.rates), window_s=args.seconds, latency_s=1.0)
    results = []
    with tempfile.TemporaryDirectory(prefix="arpr-workers-") as tmp, Lab.unique("arpr-wk") as lab:
        files, configs = write_address_files(Path(tmp)), write_configs(Path(tmp))
        bench = Bench(lab, plan, configs)
        for n in args.workers:
            responder = Workers(files["small"], n, args.cpus)
            print(f"{responder.name}: python -m arpresponder {' '.join(responder.argv())}  (taskset -c {args.cpus}; "
                  f"trafgen on CPU {GENERATOR_CPU})", flush=True)  # fmt: skip
            bench.start(responder)
            rows = []
            try:
                for rate in plan.rates:
                    pids = responder.pids()
                    cpu, start = sum(map(process_cpu_seconds, pids)), time.monotonic()
                    rung = bench.rung(responder, rate, plan.window_s)
                    cpu_pct = 100 * (sum(map(process_cpu_seconds, pids)) - cpu) / (time.monotonic() - start)
                    print(f"    all {len(pids)} process(es): cpu {cpu_pct:.0f}% of a core", flush=True)
                    rows.append(rung)
                    if len(rows) >= 2 and all(r.loss_pct > COLLAPSED_PCT for r in rows[-2:]):
                        break
            finally:
                responder.stop(lab)
            clean = [r for r in rows if r.loss_pct <= LOSS_OK_PCT]
            best = max((r.offered_pps for r in clean), default=0)
            peak = max((r.answered_pps for r in rows), default=0)
            results.append((n, best, peak))
    for n, best, peak in results:
        print(f"--workers {n}: {best:,.0f} requests/s with ≤ {LOSS_OK_PCT:.0f}% loss, peak {peak:,.0f} answered/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
