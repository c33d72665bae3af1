"""The measurement plan: for each responder (and the floor; the ceiling has no latency), latency at a light rate,
the rate ladder, latency under load; then the packet engine's extra targets (out-of-set flood, a 1M-entry set,
RSS over a long flood)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from arpresponder.lab.netns import Lab

from .load import IN_SET_PREFIX, LAST_HOST, SERVED_NET, Flood, LinkCounters
from .measure import CpuWindow, rss_kib
from .probe import FrameCounter, Latency, measure_latency
from .responders import Arpresponder, Farpd, Floor, Kernel, Responder, ScapyFarpd, Sink

LOSS_OK_PCT = 1.0  # "answers" a rate: at most this much loss
COLLAPSED_PCT = 50.0  # two rungs in a row beyond this end a responder's ladder
DRAIN_S = 0.5  # replies still in flight after the flood ends (farpd 0.2 answers up to ~0.5 s late)


@dataclass(frozen=True)
class Plan:
    rates: tuple[int, ...]  # offered requests/s asked of trafgen, ascending
    window_s: float  # seconds per rung
    latency_s: float  # seconds of 1k req/s probing
    latency_rate: int = 1000
    rss_flood_s: float = 0.0  # the long flood for RSS growth; 0 skips it
    big_set: bool = False  # the 1M-entry set (loading it alone takes ~10 s here)


# Windows are whole seconds: trafgen's -b paces per burst (a burst can be a second's worth at low rates),
# so a shorter window would send its whole count in one burst and overstate the offered rate.
QUICK = Plan(rates=(1_000, 20_000), window_s=1.0, latency_s=0.3)
FULL = Plan(rates=(1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 125_000, 150_000, 175_000, 200_000, 250_000,
                   300_000),
            window_s=3.0, latency_s=2.0, rss_flood_s=60.0, big_set=True)  # fmt: skip


@dataclass
class Rung:
    rate: int  # asked of trafgen
    sent: int
    seconds: float
    replies: int
    cpu_pct: float | None  # the responder process; None for the kernel (softirq)
    softirq_cpu0_pct: float
    rss_kib: int | None

    @property
    def offered_pps(self) -> float:
        return self.sent / self.seconds

    @property
    def answered_pps(self) -> float:
        return self.replies / self.seconds

    @property
    def loss_pct(self) -> float:
        return 100.0 * max(0, self.sent - self.replies) / self.sent if self.sent else 0.0

    def as_dict(self) -> dict:
        return {**self.__dict__, "offered_pps": round(self.offered_pps), "answered_pps": round(self.answered_pps),
                "loss_pct": round(self.loss_pct, 2)}  # fmt: skip


@dataclass
class ResponderResult:
    name: str
    command: str
    ready_s: float  # process start (or route added) to answering
    rungs: list[Rung] = field(default_factory=list)
    latency_light: Latency | None = None
    latency_loaded: Latency | None = None
    loaded_flood_pps: int | None = None
    kernel_drops: int | None = None  # over the whole run, as the responder reports it
    summary: str = ""

    @property
    def capacity(self) -> Rung | None:
        """The highest-rate rung answered with ≤ 1% loss."""
        ok = [r for r in self.rungs if r.loss_pct <= LOSS_OK_PCT]
        return max(ok, key=lambda r: r.offered_pps) if ok else None


class Bench:
    """One lab, one reply counter, the flood configurations; measures responders one after the other."""

    def __init__(self, lab: Lab, plan: Plan, configs: dict[str, Path], log=print):
        self.lab, self.plan, self.configs, self.log = lab, plan, configs, log
        self.counter = FrameCounter.replies(lab)

    def rung(self, responder: Responder, rate: int, seconds: float, flood: str = "in-set") -> Rung:
        counter = responder.counter or self.counter
        before = LinkCounters.read(self.lab)
        counter.take()
        cpu = CpuWindow(responder.pid)
        start = time.monotonic()
        with Flood(self.lab, self.configs[flood], rate, seconds) as f:
            elapsed = f.wait()
        time.sleep(DRAIN_S)
        cpu_pct, softirq_pct = cpu.close(time.monotonic() - start)
        sent = LinkCounters.read(self.lab).tx_packets - before.tx_packets
        rung = Rung(rate, sent, elapsed, counter.take(), cpu_pct, softirq_pct,
                    rss_kib(responder.pid) if responder.pid else None)  # fmt: skip
        self.log(f"  {flood} {rate:>9} pps asked: offered {rung.offered_pps:>9.0f}  answered {rung.answered_pps:>9.0f}"
                 f"  loss {rung.loss_pct:5.1f}%  cpu {_pct(cpu_pct)}  softirq(cpu0) {softirq_pct:.0f}%")  # fmt: skip
        return rung

    def ladder(self, responder: Responder) -> list[Rung]:
        rungs: list[Rung] = []
        for rate in self.plan.rates:
            rungs.append(self.rung(responder, rate, self.plan.window_s))
            if len(rungs) >= 2 and all(r.loss_pct > COLLAPSED_PCT for r in rungs[-2:]):
                break
        return rungs

    def latency(self, rate_pps: int | None = None) -> Latency:
        """Probe at 1k req/s, alone or over a background flood of `rate_pps`."""

        def probe():
            return measure_latency(self.lab, IN_SET_PREFIX, self.plan.latency_rate, self.plan.latency_s,
                                                wait_after=DRAIN_S * 2)  # fmt: skip

        if rate_pps is None:
            result = probe()
        else:
            with Flood(self.lab, self.configs["in-set"], rate_pps, self.plan.latency_s + DRAIN_S * 3):
                time.sleep(DRAIN_S)  # let the flood reach its rate first
                result = probe()
        self.log(f"  latency at {result.rate}/s{'' if rate_pps is None else f' over {rate_pps} pps'}: "
                 f"p50 {_us(result.p50_us)}  p99 {_us(result.p99_us)}  lost {result.loss_pct:.1f}%")  # fmt: skip
        return result

    def start(self, responder: Responder) -> float:
        """Start it and let it claim the set (farpd 0.2 probes each address before claiming it); its ready time."""
        start = time.monotonic()
        responder.start(self.lab)
        ready = time.monotonic() - start
        with Flood(self.lab, self.configs["in-set"], 1000, LAST_HOST / 1000) as f:  # one round over every target
            f.wait()
        time.sleep(responder.settle_s)
        return ready

    def measure(self, responder: Responder, command: str) -> ResponderResult:
        self.log(f"{responder.name}: {command}")
        result = ResponderResult(responder.name, command, ready_s=0.0)
        try:
            result.ready_s = self.start(responder)
            self.log(f"  ready after {result.ready_s:.2f} s")
            if responder.answers:
                result.latency_light = self.latency()
            result.rungs = self.ladder(responder)
            if responder.answers and (capacity := result.capacity) is not None:
                result.loaded_flood_pps = int(capacity.offered_pps / 2)
                result.latency_loaded = self.latency(result.loaded_flood_pps)
        finally:
            result.summary = responder.stop(self.lab)
        result.kernel_drops = Arpresponder.kernel_drops(result.summary) if isinstance(responder, Arpresponder) else None
        return result

    def rss_growth(self, responder: Responder, rate: int, seconds: float, every_s: float = 5.0) -> list[int]:
        """VmRSS (KiB) sampled every `every_s` over a `seconds`-long flood at `rate`."""
        samples = [rss_kib(responder.pid)]
        with Flood(self.lab, self.configs["in-set"], rate, seconds) as f:
            while f.proc.poll() is None and len(samples) * every_s <= seconds + every_s:
                time.sleep(every_s)
                samples.append(rss_kib(responder.pid))
            f.wait()
        samples.append(rss_kib(responder.pid))
        return samples


def responders(ip_file: Path, floor: Path | None) -> list[tuple[Responder, str]]:
    """The ceiling, the kernel, the floor (if compiled), and the four userspace responders, each with the command
    line a user would type (the bench adds `taskset -c 1 ip netns exec NS`)."""
    packet, scapy = Arpresponder("packet", ip_file), Arpresponder("scapy", ip_file)
    yardsticks: list[tuple[Responder, str]] = [
        (Sink(), "a packet socket on r0 counting the flood's requests (PACKET_STATISTICS); nothing answers"),
        (Kernel(), f"ip route add local {SERVED_NET} dev lo table local"),
    ]
    if floor is not None:
        yardsticks.append((Floor(floor), f"bench/floor.c: floor r0 {SERVED_NET}"))
    return [
        *yardsticks,
        (packet, "python -m arpresponder " + " ".join(packet.argv())),
        (scapy, "python -m arpresponder " + " ".join(scapy.argv())),
        (ScapyFarpd(), f'python -c \'farpd(iface="r0", IP_addr="{SERVED_NET}")\'  # scapy\'s ARP_am'),
        (Farpd(), f"farpd -d -i r0 {SERVED_NET}"),
    ]


def _pct(value: float | None) -> str:
    return "softirq" if value is None else f"{value:.0f}%"


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} µs"
