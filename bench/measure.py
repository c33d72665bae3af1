"""What the bench reads about a responder while it is flooded: CPU time, memory, softirq time."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .load import GENERATOR_CPU, RESPONDER_CPU

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5), counted after the name


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def softirq_seconds(cpu: int = GENERATOR_CPU) -> float:
    """Softirq time of one CPU, from /proc/stat: on veth, the receive path of r0 (the kernel's ARP) runs there."""
    with open("/proc/stat") as f:
        fields = next(line for line in f if line.startswith(f"cpu{cpu} ")).split()
    return int(fields[7]) / TICKS


@dataclass
class CpuWindow:
    """CPU use of a process (if any) and of the generator CPU's softirq between `open` and `close`."""

    pid: int | None
    process: float = 0.0
    softirq: float = 0.0

    def __post_init__(self) -> None:
        self.process = process_cpu_seconds(self.pid) if self.pid else 0.0
        self.softirq = softirq_seconds()

    def close(self, seconds: float) -> tuple[float | None, float]:
        """(process CPU %, generator-CPU softirq %) over the `seconds` the window lasted."""
        proc = 100 * (process_cpu_seconds(self.pid) - self.process) / seconds if self.pid else None
        return proc, 100 * (softirq_seconds() - self.softirq) / seconds


def wakeup_round_trip_us(count: int = 1000, interval_s: float = 0.001) -> tuple[float, float]:
    """p50 and p99 (µs) of a pipe ping-pong between a process on the generator's CPU and one on the responder's.

    The floor under any userspace responder's latency here: each request wakes
    a sleeping process on the other CPU (the kernel answers in softirq and wakes
    nothing). A round trip is two such wake-ups, paced like the 1k req/s prober.
    """
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    pid = os.fork()
    if pid == 0:  # the echo side, where a responder would sleep
        try:
            os.sched_setaffinity(0, {RESPONDER_CPU})
            while os.read(to_child, 1) == b"x":
                os.write(from_child, b"x")
        finally:
            os._exit(0)
    rtts = []
    try:
        os.sched_setaffinity(0, {GENERATOR_CPU})
        for _ in range(count):
            start = time.perf_counter_ns()
            os.write(from_parent, b"x")
            os.read(to_parent, 1)
            rtts.append(time.perf_counter_ns() - start)
            time.sleep(interval_s)
    finally:
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
        os.write(from_parent, b"q")
        os.waitpid(pid, 0)
        for fd in (to_child, from_parent, to_parent, from_child):
            os.close(fd)
    rtts.sort()
    return rtts[len(rtts) // 2] / 1e3, rtts[int(len(rtts) * 0.99)] / 1e3
