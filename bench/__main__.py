"""python -m bench [--quick] [--out DIR]: flood ARP responders in a throwaway veth lab and report.

Five responders (the kernel, arpresponder's two engines, scapy's farpd, farpd 0.2) between two yardsticks
measured in the same run: the userspace floor (bench/floor.c, compiled with cc) and the generator ceiling (a
sink that answers nothing). Needs root (network namespaces), trafgen (netsniff-ng) and farpd; a C compiler for
the floor and matplotlib for the plot are optional (the report says what it skipped).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from arpresponder.lab.netns import Lab

from .command import run_main
from .load import GENERATOR_CPU, RESPONDER_CPU, SERVED_NET, write_address_files, write_configs
from .report import machine, to_json, write
from .responders import Arpresponder, compile_floor
from .run import FULL, QUICK, Bench, Plan, ResponderResult, responders

HERE = Path(__file__).resolve().parent
PINNING = (f"Pinned with taskset: trafgen and the latency prober on CPU {GENERATOR_CPU}, "
           f"every responder on CPU {RESPONDER_CPU}.")  # fmt: skip
METHOD = [
    "- Lab: two network namespaces joined by a veth pair (`arpresponder.lab.netns.Lab`), built for the run and removed after.",
    (
        "- Load: trafgen `--cpus 1 -b RATEpps -n COUNT` with a generated config: ARP requests from p0 "
        "(02:00:00:00:00:02, 192.0.2.2), broadcast, target 198.51.100.1-254 cycling (`dinc`); the out-of-set flood asks for "
        "203.0.113.1-254. Every flood is bounded by `-n` and by a subprocess timeout. trafgen's rate limiting sends bursts."
    ),
    (
        "- Offered = p0 tx_packets delta (peer namespace) / trafgen's run time (from its start, so including a few tens "
        "of ms of start-up: rates read a little low, the same for every responder; loss is not affected). Answered = ARP replies to 192.0.2.2 "
        "arriving at p0, counted in the kernel by a BPF-filtered packet socket's PACKET_STATISTICS (so farpd 0.2's own "
        "who-has probes are not counted), read after a 0.5 s drain. Loss = 1 − answered/offered."
    ),
    (
        "- Responder CPU % = utime+stime of its process (/proc/PID/stat) over flood + drain; RSS = VmRSS at the end of the "
        "rung; kernel drops = the `kernel drops` row of arpresponder's summary (whole run)."
    ),
    (
        "- Latency: a raw-socket prober on p0 asks as 192.0.2.3 at 1k req/s; latency = the reply's kernel receive timestamp "
        "(SO_TIMESTAMPNS) − time.time_ns() just before send(). Loaded: over a trafgen flood at half the responder's max rate."
    ),
    (
        "- The 1M-entry set (full runs) adds 500k singles in 100.0.0.0/12 and 500k ranges in 200.0.0.0/9 to the served "
        "/24: they are only loaded and looked up, never asked for or sent on the wire."
    ),
    (
        "- Generator ceiling: nothing answers; a packet socket on r0 with a BPF filter for the flood's requests counts "
        'them in the kernel (PACKET_STATISTICS), so "answered" is what trafgen and the veth pair delivered to '
        "userspace. Its rates are the ceiling a responder's are compared with (× ceiling: max with max, peak with peak)."
    ),
    (
        "- Userspace floor: bench/floor.c, compiled with `cc -O2` at the start of the run: an AF_PACKET socket bound to "
        "ARP, a blocking recv(), one range check of the target against the /24, send(). No batching, rings or filter. "
        "Latencies are compared with its own (× floor, light with light, loaded with loaded)."
    ),
    (
        "- Each responder first gets one round of requests for every target (farpd 0.2 probes each address before claiming "
        "it, then waits 3 s); its ladder stops after two consecutive rungs above 50 % loss."
    ),
]


FULL_NOTE = (
    "One run on a 2-core virtual machine. Its scheduling moves results between runs (a p99 latency most of "
    "all: one stall of a few ms sets it): compare the ratios within this run, and run again to see the spread."
)
QUICK_NOTE = "Quick run (--quick): few, short rungs."


def _ladder_capacity(result: ResponderResult) -> float | None:
    return result.capacity.offered_pps if result.capacity else None


def packet_engine_extras(bench: Bench, files: dict[str, Path], results: list[ResponderResult], plan: Plan) -> dict:
    extras: dict = {}
    by_name = {r.name: r for r in results}
    kernel_cap = _ladder_capacity(by_name["Linux kernel"])
    small_cap = _ladder_capacity(by_name["arpresponder (packet)"])
    packet = Arpresponder("packet", files["small"])
    then = f", then RSS over a {plan.rss_flood_s:g} s flood" if plan.rss_flood_s else ""
    bench.log(f"arpresponder (packet): out-of-set flood at the kernel's max rate{then}")
    bench.start(packet)
    try:
        rate = int(kernel_cap or plan.rates[-1])
        oos = bench.rung(packet, rate, plan.window_s, flood="out-of-set")
        extras["out_of_set"] = {"rate": rate, "offered_pps": round(oos.offered_pps), "cpu_pct": oos.cpu_pct,
                                "replies": oos.replies}  # fmt: skip
        if plan.rss_flood_s:
            rss_rate = int((small_cap or plan.rates[0]) / 2)
            samples = bench.rss_growth(packet, rss_rate, plan.rss_flood_s)
            extras["rss_growth"] = {"rate": rss_rate, "seconds": plan.rss_flood_s, "samples_kib": samples,
                                    "first_kib": samples[0], "last_kib": samples[-1],
                                    "growth_kib": samples[-1] - samples[0]}  # fmt: skip
    finally:
        packet.stop(bench.lab)
    if not plan.big_set:
        return extras
    big = Arpresponder("packet", files["1m"], label=", 1M-entry set")
    result = bench.measure(big, "python -m arpresponder " + " ".join(big.argv()))
    big_cap = _ladder_capacity(result)
    extras["set_1m"] = {
        "entries": 1_000_000, "served": SERVED_NET, "ready_s": result.ready_s,
        "max_pps": round(big_cap) if big_cap else None, "small_max_pps": round(small_cap) if small_cap else None,
        "ratio_vs_small": big_cap / small_cap if big_cap and small_cap else None,
        "rss_mib": max((g.rss_kib or 0) for g in result.rungs) / 1024 if result.rungs else 0,
        "rungs": [g.as_dict() for g in result.rungs],
    }  # fmt: skip
    return extras


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true", help="two 1-second rungs per responder (< 1 min; CI's smoke run)"
    )
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="where RESULTS.md, results.json and the plot go (default: bench/ for a full run, "
                             "a new temporary directory for --quick)")  # fmt: skip
    parser.add_argument("--note", metavar="TEXT", help="a line at the top of RESULTS.md saying what this run is")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: it builds network namespaces and veth pairs")
    out = args.out or (Path(tempfile.mkdtemp(prefix="arpr-bench-quick-")) if args.quick else HERE)
    plan = QUICK if args.quick else FULL
    command = ("python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    started, when = time.monotonic(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(PINNING, flush=True)
    with tempfile.TemporaryDirectory(prefix="arpr-bench-") as tmp, Lab.unique("arpr-bench") as lab:
        tmpdir = Path(tmp)
        files, configs = write_address_files(tmpdir), write_configs(tmpdir)
        floor, floor_command = compile_floor(tmpdir)
        if floor is None:
            print(f"skipping the userspace floor: {floor_command}", flush=True)
        bench = Bench(lab, plan, configs, log=lambda line: print(line, flush=True))
        results = [bench.measure(responder, cmd) for responder, cmd in responders(files["small"], floor)]
        extras = packet_engine_extras(bench, files, results, plan)
    meta = {"command": command, "when": when, "duration_s": time.monotonic() - started, "machine": machine(),
            "pinning": PINNING, "method": METHOD, "plan": plan.__dict__,
            "floor": {"command": floor_command} if floor else {"skipped": floor_command},
            "note": " ".join(filter(None, [args.note, QUICK_NOTE if args.quick else FULL_NOTE]))}  # fmt: skip
    for line in write(out, to_json(results, extras, meta)):
        print(line)
    return 0


if __name__ == "__main__":
    run_main("bench", main)
