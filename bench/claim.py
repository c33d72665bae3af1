"""python -m bench.claim [--quick] [--runs N] [--out FILE]: claim mode's first answers, and the kernel filter's cost.

Two measurements, each in a throwaway veth lab (bench/load.py, arpresponder.lab.netns), repeated --runs times
(default 2, each in a new lab) so that the report shows the spread on a machine other runs share:

1. First answer for an address nobody answers: Debian's farpd 0.2 and `arpresponder run --claim unowned` (wait
   0.2 s, and the default 1 s) answering for 198.51.100.0/24, and `arpresponder run` (claim all) as the
   reference. For N fresh addresses each, a raw socket on p0 sends one broadcast request and watches p0 until the
   reply (or 5 s): the time to it, the responder's probes seen before it, the reply's Ethernet destination; then
   later requests for the same addresses, one at a time, give the steady latency.
2. What the packet engine's kernel filter costs under an out-of-set flood (trafgen, requests for 203.0.113.x from
   192.0.2.2: neither in the set): CPU 0's softirq time (trafgen sends there, and on veth the receive path, the
   filter included, runs on the sender's CPU) with no responder, with arpresponder, with arpresponder given a set
   too large for the filter (the contrast: what the filter saves), and with no responder again; the responder's
   CPU and its `frames seen` counter.

Needs root (network namespaces), trafgen (netsniff-ng) and farpd. Writes markdown (bench/CLAIM.md by default).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shlex
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from arpresponder.codec import (
    BROADCAST_MAC,
    ETHERTYPE_ARP,
    OFFSET_OP,
    OFFSET_SPA,
    OFFSET_TPA,
    OP_REPLY,
    OP_REQUEST,
    ZERO_MAC,
    format_ipv4,
    format_mac,
    pack_arp,
    parse_ipv4,
    parse_mac,
)  # fmt: skip
from arpresponder.engines import bpf
from arpresponder.lab.netns import PEER_IF, PEER_MAC, Lab

from .command import run_main
from .load import GENERATOR_CPU, RESPONDER_CPU, SERVED_NET, Flood, LinkCounters, write_configs
from .measure import CpuWindow, softirq_seconds
from .probe import PROBER_IP, SCM_TIMESTAMPNS, SO_TIMESTAMPNS
from .report import machine
from .responders import Arpresponder, Farpd, Responder

HERE = Path(__file__).resolve().parent
PACKET_OUTGOING = 4  # sockaddr_ll.sll_pkttype of a frame p0 sends (our own requests): not watched
_TIMESPEC = struct.Struct("qq")
FIRST_ANSWER_TIMEOUT_S = 5.0
LATER_TIMEOUT_S = 1.0  # a later request unanswered this long counts as lost
DRAIN_S = 0.5  # after a flood, before reading the counters (as bench/run.py)
# The flood's softirq is on CPU 0 and the responder's reads cost CPU 1 little softirq: above this, another job's.
QUIET_CPU1_SOFTIRQ_PCT = 3.0


@dataclass(frozen=True)
class Plan:
    addresses: int  # fresh addresses asked per responder
    later_rounds: int  # later requests per address
    flood_rate: int  # out-of-set requests/s asked of trafgen
    flood_s: float


FULL = Plan(addresses=20, later_rounds=5, flood_rate=100_000, flood_s=5.0)
QUICK = Plan(addresses=2, later_rounds=3, flood_rate=100_000, flood_s=1.0)


class ClaimingArpresponder(Arpresponder):
    """`arpresponder run --engine packet --claim unowned [--claim-wait S]` (None: the default wait, 1 s)."""

    def __init__(self, ip_file: Path, wait: float | None):
        label = f", --claim unowned --claim-wait {wait:g}" if wait is not None else ", --claim unowned (wait 1 s)"
        super().__init__("packet", ip_file, label=label)
        self.wait = wait

    def argv(self) -> list[str]:
        wait = ["--claim-wait", f"{self.wait:g}"] if self.wait is not None else []
        return [*super().argv(), "--claim", "unowned", *wait]


# --- the watcher on p0 ---


@dataclass(frozen=True)
class Seen:
    at_ns: int  # kernel receive time (SO_TIMESTAMPNS, CLOCK_REALTIME)
    frame: bytes

    @property
    def op(self) -> int:
        return int.from_bytes(self.frame[OFFSET_OP : OFFSET_OP + 2], "big")

    @property
    def spa(self) -> int:
        return int.from_bytes(self.frame[OFFSET_SPA : OFFSET_SPA + 4], "big")

    @property
    def tpa(self) -> int:
        return int.from_bytes(self.frame[OFFSET_TPA : OFFSET_TPA + 4], "big")


class Watcher:
    """A packet socket on p0 (peer namespace) that sends requests as 192.0.2.3 and sees every ARP frame arriving,
    with its kernel receive timestamp; frames p0 sends itself are skipped."""

    def __init__(self, lab: Lab):
        with lab.inside(lab.peer_ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((PEER_IF, ETHERTYPE_ARP))
        self.mac, self.spa = parse_mac(PEER_MAC), parse_ipv4(PROBER_IP)

    def ask(self, ip: int) -> int:
        """Send one broadcast request for ip; time.time_ns() just before send()."""
        frame = pack_arp(BROADCAST_MAC, self.mac, OP_REQUEST, self.mac, self.spa, ZERO_MAC, ip)
        sent = time.time_ns()
        self.sock.send(frame)
        return sent

    def drain(self) -> None:
        """Forget what arrived before (a late reply, a stray probe)."""
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.recv(2048)

    def next(self, deadline: float) -> Seen | None:
        """The next frame arriving before the monotonic deadline, or None."""
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                return None
            frame, ancillary, _flags, address = self.sock.recvmsg(2048, socket.CMSG_SPACE(_TIMESPEC.size))
            if address[2] == PACKET_OUTGOING:
                continue
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack(data[: _TIMESPEC.size])
                    return Seen(sec * 1_000_000_000 + nsec, frame)
        return None

    def close(self) -> None:
        self.sock.close()


# --- 1. first answers ---


@dataclass(frozen=True)
class FirstAnswer:
    ip: str
    seconds: float | None  # None: no reply within FIRST_ANSWER_TIMEOUT_S
    probes: int  # the responder's requests for ip seen before the reply
    probe_senders: tuple[str, ...]  # their sender IPs (RFC 5227 probes: 0.0.0.0)
    reply_to: str | None  # the reply's Ethernet destination
    asked: int = 1  # requests sent until the reply (or the timeout)


def first_answer(watcher: Watcher, ip: int, retry_s: float | None = None) -> FirstAnswer:
    """Ask for ip (once, or again every retry_s seconds as arping and a kernel do); watch p0 until a reply or
    FIRST_ANSWER_TIMEOUT_S after the first request. The time is counted from the first request."""
    watcher.drain()
    start = time.monotonic()
    first_sent = watcher.ask(ip)
    asked, deadline = 1, start + FIRST_ANSWER_TIMEOUT_S
    senders: list[str] = []
    while True:
        again = start + asked * retry_s if retry_s else deadline
        seen = watcher.next(min(again, deadline))
        if seen is None:
            if time.monotonic() >= deadline:
                return FirstAnswer(format_ipv4(ip), None, len(senders), tuple(senders), None, asked)
            watcher.ask(ip)
            asked += 1
        elif seen.op == OP_REQUEST and seen.tpa == ip:  # not ours (outgoing is skipped): the responder's probe
            senders.append(format_ipv4(seen.spa))
        elif seen.op == OP_REPLY and seen.spa == ip and seen.tpa == watcher.spa:
            return FirstAnswer(format_ipv4(ip), (seen.at_ns - first_sent) / 1e9, len(senders), tuple(senders),
                               format_mac(seen.frame[0:6]), asked)  # fmt: skip


@dataclass(frozen=True)
class Later:
    asked: int
    answered: int
    p50_us: float | None
    max_us: float | None
    probes: int  # the responder's requests for the addresses seen meanwhile (re-probing: should be 0)
    reply_to: tuple[str, ...]  # the replies' Ethernet destinations


def later_requests(watcher: Watcher, ips: list[int], rounds: int) -> Later:
    """Ask for each ip `rounds` times, one request at a time (the next as soon as the reply is in)."""
    latencies: list[float] = []
    probes, reply_to = 0, set()
    for _ in range(rounds):
        for ip in ips:
            sent = watcher.ask(ip)
            deadline = time.monotonic() + LATER_TIMEOUT_S
            while (seen := watcher.next(deadline)) is not None:
                if seen.op == OP_REQUEST and seen.tpa in ips:
                    probes += 1
                elif seen.op == OP_REPLY and seen.spa == ip and seen.tpa == watcher.spa:
                    latencies.append((seen.at_ns - sent) / 1000)
                    reply_to.add(format_mac(seen.frame[0:6]))
                    break
    return Later(rounds * len(ips), len(latencies), statistics.median(latencies) if latencies else None,
                 max(latencies, default=None), probes, tuple(sorted(reply_to)))  # fmt: skip


@dataclass
class FirstAnswerResult:
    name: str
    command: str
    answers: list[FirstAnswer] = field(default_factory=list)
    later: Later | None = None

    @property
    def times(self) -> list[float]:
        return [a.seconds for a in self.answers if a.seconds is not None]

    def as_row(self) -> dict:
        """The figures the report shows."""
        answered, probes = self.times, [a.probes for a in self.answers if a.seconds is not None]
        senders = sorted({s for a in self.answers for s in a.probe_senders})
        reply_to = sorted({a.reply_to for a in self.answers if a.reply_to})
        return {
            "answered": len(answered), "asked": len(self.answers),
            "p50_s": statistics.median(answered) if answered else None, "max_s": max(answered, default=None),
            "probes": (min(probes), max(probes)) if probes else None, "probe_senders": senders,
            "reply_to": reply_to, "later": self.later, "asked_max": max((a.asked for a in self.answers), default=0),
        }  # fmt: skip


ARPING_RETRY_S = 1.0  # iputils arping asks once a second; a kernel's neighbour resolution too (retrans_time_ms)


def first_answer_responders(ip_file: Path) -> list[tuple[Responder, float | None]]:
    """(responder, how often the client asks again: None for once): farpd 0.2 asked once and asked every second
    (it does not answer the request that made it probe), ours claiming with a 0.2 s and the default wait, ours
    answering every address (the reference)."""
    farpd_retried = Farpd()
    farpd_retried.name = f"{Farpd.name}, asked again every {ARPING_RETRY_S:g} s"
    return [
        (Farpd(), None),
        (farpd_retried, ARPING_RETRY_S),
        (ClaimingArpresponder(ip_file, 0.2), None),
        (ClaimingArpresponder(ip_file, None), None),
        (Arpresponder("packet", ip_file, label=", claim all (reference)"), None),
    ]


def command_of(responder: Responder) -> str:
    if isinstance(responder, Arpresponder):  # set.txt: the one line 198.51.100.0/24
        return "arpresponder " + " ".join(responder.argv()).replace(str(responder.ip_file), responder.ip_file.name)
    return f"farpd -d -i r0 {SERVED_NET}"


def measure_first_answers(lab: Lab, responder: Responder, retry_s: float | None, ips: list[int], plan: Plan,
                          log) -> FirstAnswerResult:  # fmt: skip
    """Start the responder, time its first answer for each of ips, then its later answers; stop it."""
    result = FirstAnswerResult(responder.name, command_of(responder))
    log(f"{responder.name}: {result.command}")
    watcher = Watcher(lab)
    try:
        responder.start(lab)
        for ip in ips:
            answer = first_answer(watcher, ip, retry_s)
            result.answers.append(answer)
            log(f"  {answer.ip}: {_seconds(answer.seconds)} after {answer.asked} request(s), {answer.probes} probe(s) "
                f"{'/'.join(sorted(set(answer.probe_senders))) or ''} → {answer.reply_to or 'no reply'}")  # fmt: skip
        result.later = later_requests(watcher, ips, plan.later_rounds)
        log(f"  later: {result.later.answered}/{result.later.asked} answered, p50 {_us(result.later.p50_us)}, "
            f"max {_us(result.later.max_us)}, probes meanwhile {result.later.probes}")  # fmt: skip
    finally:
        watcher.close()
        responder.stop(lab)
    return result


# --- 2. the filter under an out-of-set flood ---


@dataclass(frozen=True)
class FloodCost:
    name: str
    offered_pps: float
    softirq_cpu0_pct: float
    softirq_cpu1_pct: float
    cpu_pct: float | None  # the responder's process; None: no responder
    frames_seen: int | None  # its `frames seen` counter over its whole life (start, flood, stop)
    kernel_drops: int | None  # what its ring could not hold (its summary's `kernel drops`)
    filter_note: str | None  # what its log says the kernel filter is


def flood_cost(lab: Lab, config: Path, responder: LoggedArpresponder | None, plan: Plan, log) -> FloodCost:
    """One bounded out-of-set flood, with `responder` running (started just before, stopped just after) or none."""
    if responder is not None:
        responder.start(lab)
    try:
        before = LinkCounters.read(lab)
        cpu, cpu1_before = CpuWindow(responder.pid if responder else None), softirq_seconds(RESPONDER_CPU)
        start = time.monotonic()
        with Flood(lab, config, plan.flood_rate, plan.flood_s) as flood:
            elapsed = flood.wait()
        time.sleep(DRAIN_S)
        window = time.monotonic() - start
        cpu_pct, softirq_pct = cpu.close(window)
        softirq1_pct = 100 * (softirq_seconds(RESPONDER_CPU) - cpu1_before) / window
        sent = LinkCounters.read(lab).tx_packets - before.tx_packets
    finally:
        summary = responder.stop(lab) if responder is not None else ""
    seen = re.search(r"frames seen\s+(\d+)", summary)
    note = re.search(r"kernel filter: (.*)", responder.process_log) if responder is not None else None
    cost = FloodCost(responder.name if responder else "no responder", sent / elapsed, softirq_pct, softirq1_pct,
                     cpu_pct, int(seen.group(1)) if seen else None, Arpresponder.kernel_drops(summary),
                     note.group(1).strip() if note else None)  # fmt: skip
    log(f"  {cost.name}: offered {cost.offered_pps:.0f}/s, softirq cpu0 {softirq_pct:.1f}% cpu1 {softirq1_pct:.1f}%, "
        f"responder cpu {_pct(cpu_pct)}, frames seen {cost.frames_seen}, kernel drops {cost.kernel_drops}")  # fmt: skip
    return cost


class LoggedArpresponder(Arpresponder):
    """Arpresponder that keeps its log (stderr) once stopped, for the kernel filter's description."""

    process_log = ""

    def stop(self, lab: Lab) -> str:
        if self.process is not None:
            self.process_log = self.process.stderr
        return super().stop(lab)


# --- one run, the report ---


@dataclass
class Run:
    load_before: str
    load_after: str = ""
    first: list[FirstAnswerResult] = field(default_factory=list)
    floods: list[FloodCost] = field(default_factory=list)


UNFILTERED = f", a set of {bpf.MAX_FILTER_SPANS + 1} ranges (too many for the filter: every ARP frame passes)"
FILTERED_NAME, UNFILTERED_NAME = "arpresponder (packet)", "arpresponder (packet)" + UNFILTERED


def write_sets(directory: Path) -> tuple[Path, Path]:
    """The served /24 (one line), and the same /24 plus MAX_FILTER_SPANS single addresses apart from each other,
    which no kernel filter holds (bpf.arp_filter_for): the contrast, what the filter saves. The singles
    (100.64.0.0/16, every other address) are only loaded, never asked for or sent on the wire."""
    served, too_large = directory / "set.txt", directory / "set-unfiltered.txt"
    served.write_text(f"{SERVED_NET}\n")
    singles = (f"100.64.{n >> 7}.{(n & 0x7F) * 2}" for n in range(bpf.MAX_FILTER_SPANS))
    too_large.write_text(f"{SERVED_NET}\n" + "".join(f"{ip}\n" for ip in singles))
    return served, too_large


def one_run(plan: Plan, log) -> Run:
    """Both measurements in a new lab, removed after (also on error or Ctrl-C); `log` gets a line per figure."""
    run = Run(_loadavg())
    with tempfile.TemporaryDirectory(prefix="arpr-claim-") as tmp, Lab.unique("arpr-claim") as lab:
        (ip_file, too_large), configs = write_sets(Path(tmp)), write_configs(Path(tmp))
        base = parse_ipv4(SERVED_NET.split("/")[0])
        for i, (responder, retry_s) in enumerate(first_answer_responders(ip_file)):
            ips = [base + 1 + i * plan.addresses + k for k in range(plan.addresses)]  # fresh to every responder
            run.first.append(measure_first_answers(lab, responder, retry_s, ips, plan, log))
        log(f"out-of-set flood, {plan.flood_rate}/s for {plan.flood_s:g} s: none, filtered, unfiltered, none")
        unfiltered = LoggedArpresponder("packet", too_large, label=UNFILTERED)
        for responder in (None, LoggedArpresponder("packet", ip_file), unfiltered, None):
            run.floods.append(flood_cost(lab, configs["out-of-set"], responder, plan, log))
    run.load_after = _loadavg()
    return run


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _us(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} µs" if value < 1000 else f"{value / 1000:.0f} ms"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _spread(values: list[float | None], fmt) -> str:
    """The runs' values, and min–max when they differ."""
    present = [v for v in values if v is not None]
    cells = " / ".join(fmt(v) for v in values)
    return cells if len(present) < 2 else f"{cells} (spread {fmt(max(present) - min(present))})"


def _first_answer_row(name: str, rows: list[dict]) -> str:
    """One responder's row of table 1: each cell lists the runs' values, separated by /."""
    later = [row["later"] for row in rows]
    probes = " / ".join(
        "—" if p is None else str(p[0]) if p[0] == p[1] else f"{p[0]}–{p[1]}" for p in (row["probes"] for row in rows)
    )
    senders = sorted({s for row in rows for s in row["probe_senders"]})
    if senders:
        probes += " (sender " + ", ".join(senders) + ")"
    reply_to = ", ".join(_kind(m) for m in sorted({m for row in rows for m in row["reply_to"]})) or "—"
    later_to = ", ".join(_kind(m) for m in sorted({m for lt in later if lt for m in lt.reply_to})) or "—"
    cells = [
        name,
        " / ".join(f"{row['answered']}/{row['asked']}" for row in rows),
        _spread([row["p50_s"] for row in rows], _seconds),
        _spread([row["max_s"] for row in rows], _seconds),
        probes,
        reply_to,
        " / ".join(str(row["asked_max"]) for row in rows),
        _spread([lt.p50_us if lt else None for lt in later], _us),
        " / ".join(_us(lt.max_us if lt else None) for lt in later),
        " / ".join(f"{lt.answered}/{lt.asked}" if lt else "—" for lt in later),
        " / ".join(str(lt.probes) if lt else "—" for lt in later),
        later_to,
    ]
    return "| " + " | ".join(cells) + " |"


def to_markdown(runs: list[Run], meta: dict) -> str:
    plan, host = meta["plan"], meta["machine"]
    loads = "; ".join(f"{r.load_before} → {r.load_after}" for r in runs)
    lines = [
        "# Claim mode's first answers, and the kernel filter's cost (issue 10)",
        "",
        (
            f"Command: `{meta['command']}` (as root, from the repository) — {meta['when']}, "
            f"{meta['duration_s']:.0f} s, {len(runs)} run(s), each in its own lab."
        ),
        (
            f"Machine: {host['cpu']}; {host['kernel']}; Python {host['python']}; {host['trafgen']}. "
            f"Responders pinned to CPU {RESPONDER_CPU}, trafgen to CPU {GENERATOR_CPU}. `uptime` at the start: "
            f"{meta['uptime']}."
        ),
        (
            f"Load average (1, 5, 15 min) before → after each run: {loads}. The machine is shared with other test "
            "and bench runs: a load near 1 or above before a run means another job was running, which moves CPU "
            "and softirq figures most of all; the runs' spread shows how much."
        ),
        "",
        "## 1. First answer for an address nobody answers",
        "",
        (
            f"For each responder, {plan['addresses']} fresh addresses of {SERVED_NET} (never asked before, none "
            "owned by any host): a raw socket on p0 sends one broadcast request as 192.0.2.3 and watches p0 until "
            f"the reply or {FIRST_ANSWER_TIMEOUT_S:g} s. Time = the reply's kernel receive timestamp − the send. "
            "Probes = the responder's requests for that address seen at p0 before the reply, with their sender IP "
            "(0.0.0.0: an RFC 5227 probe). One row asks farpd again every second, as arping and a kernel's "
            "neighbour resolution do (requests sent = how many it took, at most). Then "
            f"{plan['later_rounds']} later requests per address, one at a time (the next as soon as the reply is "
            "in): their latency, and the responder's requests for the addresses meanwhile (probes after). Each cell "
            "gives the runs' values, separated by /."
        ),
        "",
        (
            "| responder | first answered | first answer p50 | first answer max | probes before it | reply to "
            "| requests sent (max) | later p50 | later max | later answered | probes after | later reply to |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, first in enumerate(runs[0].first):
        lines.append(_first_answer_row(first.name, [r.first[i].as_row() for r in runs]))
    lines += ["", "Commands (each in the responder namespace, under `taskset -c 1`):", ""]
    lines += [f"- {first.name}: `{first.command}`" for first in runs[0].first]
    lines += [
        "",
        "## 2. The kernel filter under an out-of-set flood",
        "",
        (
            f"trafgen floods ARP requests for 203.0.113.1-254 from 192.0.2.2 (neither in the set) at "
            f"{plan['flood_rate']}/s for {plan['flood_s']:g} s (bounded by `-n` and a timeout), four times per "
            f"run: with no responder; with `arpresponder run --engine packet` answering {SERVED_NET} (started "
            "before the flood, stopped after); the same with that /24 plus "
            f"{bpf.MAX_FILTER_SPANS} single addresses of 100.64.0.0/16, one range more than the kernel filter holds, "
            "so that it passes every ARP frame (the contrast: what the filter saves); with no responder again. "
            "Softirq % = a CPU's softirq time "
            f"(/proc/stat) over flood + {DRAIN_S:g} s drain: on veth the receive path, where a packet socket's BPF "
            f"program runs, is on the sender's CPU ({GENERATOR_CPU}). Frames seen = the responder's own counter "
            "over its whole life; kernel drops = what its receive ring could not hold (its summary)."
        ),
        "",
        "| run | flood with | offered/s | softirq CPU 0 | softirq CPU 1 | responder CPU | frames seen | kernel drops |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, run in enumerate(runs, 1):
        for cost in run.floods:
            seen, drops = ("—" if v is None else str(v) for v in (cost.frames_seen, cost.kernel_drops))
            lines.append(
                f"| {n} | {cost.name} | {cost.offered_pps:.0f} | {_pct(cost.softirq_cpu0_pct)} "
                f"| {_pct(cost.softirq_cpu1_pct)} | {_pct(cost.cpu_pct)} | {seen} | {drops} |"
            )
    lines.append("")
    for label, name in (("arpresponder", FILTERED_NAME), ("arpresponder without the filter", UNFILTERED_NAME)):
        diffs = " / ".join(f"{_over_baseline(run, name):+.1f}" for run in runs)
        lines.append(f"Softirq on CPU 0 with {label} minus the mean of the two floods with none, per run: "
                     f"{diffs} points.")  # fmt: skip
    for n, run in enumerate(runs, 1):
        busy = max(c.softirq_cpu1_pct for c in run.floods)
        if busy > QUIET_CPU1_SOFTIRQ_PCT:
            lines.append(f"Run {n}: CPU 1 spent up to {busy:.1f}% in softirq during its floods, where this flood puts "
                         "almost nothing: another job was using the network stack, so its softirq figures are not "
                         "this flood's alone.")  # fmt: skip
    notes = sorted({cost.filter_note for run in runs for cost in run.floods if cost.filter_note})
    if notes:
        lines.append(f"The responder's log says: kernel filter: {'; '.join(notes)}.")
    return "\n".join(lines) + "\n"


def _over_baseline(run: Run, name: str) -> float:
    """CPU 0 softirq % of the flood with responder `name` minus the mean of the floods with none."""
    baseline = statistics.mean(c.softirq_cpu0_pct for c in run.floods if c.cpu_pct is None)
    return next(c.softirq_cpu0_pct for c in run.floods if c.name == name) - baseline


def _kind(mac: str) -> str:
    return "broadcast" if mac == format_mac(BROADCAST_MAC) else f"unicast ({mac})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.claim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="4 addresses, a 1-second flood (~1 min)")
    parser.add_argument("--runs", type=int, default=2, help="repetitions, each in a new lab (default 2)")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="the markdown report (default: bench/CLAIM.md; with --quick, a temporary file)")  # fmt: skip
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: it builds network namespaces and veth pairs")
    if not 1 <= args.runs <= 5:
        parser.error("--runs: expected 1 to 5")
    plan = QUICK if args.quick else FULL
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="arpr-claim-quick-")) / "CLAIM.md" if args.quick else HERE / "CLAIM.md"
    )
    command = ("python -m bench.claim " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    started, when = time.monotonic(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"uptime: {uptime}", flush=True)
    runs = []
    for n in range(args.runs):
        print(f"run {n + 1} of {args.runs}", flush=True)
        runs.append(one_run(plan, log=lambda line: print(line, flush=True)))
    meta = {"command": command, "when": when, "uptime": uptime, "duration_s": time.monotonic() - started,
            "machine": machine(), "plan": plan.__dict__}  # fmt: skip
    out.write_text(to_markdown(runs, meta))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    run_main("bench.claim", main)
