"""What the bench reads about a responder while it is flooded: CPU time, memory, softirq time."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .load import GENERATOR_CPU

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
