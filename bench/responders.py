"""The responders the bench measures, each started and stopped the way its users would, and its yardsticks:
the userspace floor (bench/floor.c) and the generator ceiling (a sink that answers nothing).

Every process runs in the responder namespace pinned to RESPONDER_CPU; `pid` is
the responder's own process (taskset and `ip netns exec` exec it), so its CPU
time and memory can be read from /proc.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from arpresponder.lab.netns import RESPONDER_IF, Lab, LabProcess, ResponderProcess

from .load import RESPONDER_CPU, SERVED_NET
from .probe import FrameCounter

PINNED = ("taskset", "-c", str(RESPONDER_CPU))

# scapy's answering machine as its docs show it, plus a callback that says when its sniffer is listening.
_SCAPY_FARPD = """
import sys
from scapy.config import conf
from scapy.layers.l2 import ARP_am  # what scapy's farpd() runs
conf.verb = 0
am = ARP_am(iface=sys.argv[1], IP_addr=sys.argv[2])  # IP_addr: anything scapy's Net() parses, e.g. a CIDR
am.defoptsniff["started_callback"] = lambda: print("ready: listening", flush=True)
am()
"""


class Responder:
    """One responder kind. `start` returns once it answers; `stop` returns what it reports about itself."""

    name: str
    process: LabProcess | None = None
    settle_s = 0.2  # after the first round of requests, before measuring
    counter: FrameCounter | None = None  # what counts as answered, if not the flood's replies at p0
    answers = True  # False: nothing replies, so no latency to measure

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, lab: Lab) -> None:
        raise NotImplementedError

    def stop(self, lab: Lab) -> str:
        """Stop it and return its output (the summary, for arpresponder)."""
        if self.process is None:
            return ""
        self.process.stop()
        out, self.process = self.process.stdout, None
        return out


class Arpresponder(Responder):
    """This project, through its CLI: `python -m arpresponder run -i r0 --ip-file F --engine E`."""

    def __init__(self, engine: str, ip_file: Path, label: str = ""):
        self.engine, self.ip_file = engine, ip_file
        self.name = f"arpresponder ({engine}){label}"

    def argv(self) -> list[str]:
        return ["run", "-i", RESPONDER_IF, "--ip-file", str(self.ip_file), "--engine", self.engine]

    def start(self, lab: Lab, ready_timeout: float = 30) -> None:
        self.process = ResponderProcess(lab, self.argv(), ready_timeout=ready_timeout, wrapper=PINNED)

    @staticmethod
    def kernel_drops(summary: str) -> int | None:
        found = re.search(r"kernel drops\s+(\d+)", summary)
        return int(found.group(1)) if found else None


class ScapyFarpd(Responder):
    """scapy 2.8's farpd answering machine (`farpd(iface=…, IP_addr=…)`), stopped with SIGTERM."""

    name = "scapy farpd"

    def start(self, lab: Lab) -> None:
        argv = [sys.executable, "-c", _SCAPY_FARPD, RESPONDER_IF, SERVED_NET]
        self.process = LabProcess(lab.responder_ns, argv, "ready:", ready_timeout=30, wrapper=PINNED)


class Farpd(Responder):
    """Debian's farpd 0.2 (`farpd -d -i r0 NET`): it ignores SIGTERM, so it is stopped with SIGKILL by pid."""

    name = "farpd 0.2"
    settle_s = 3.0  # it probes each address twice (~1 s) before it claims it and answers

    def start(self, lab: Lab) -> None:
        argv = ["farpd", "-d", "-i", RESPONDER_IF, SERVED_NET]
        self.process = LabProcess(lab.responder_ns, argv, "listening on", stop_signal=signal.SIGKILL, wrapper=PINNED)


class Kernel(Responder):
    """The Linux kernel answering for addresses made local (`ip route add local NET dev lo table local`).

    No process: ARP is answered in softirq, on veth in the sender's CPU (the generator's).
    """

    name = "Linux kernel"

    def _ip_route(self, lab: Lab, action: str, check: bool = True) -> None:
        lab.run(
            lab.responder_ns, "ip", "route", action, "local", SERVED_NET, "dev", "lo", "table", "local", check=check
        )

    def start(self, lab: Lab) -> None:
        self._ip_route(lab, "add")

    def stop(self, lab: Lab) -> str:
        self._ip_route(lab, "del", check=False)
        return ""


FLOOR_SOURCE = Path(__file__).resolve().parent / "floor.c"


def compile_floor(directory: Path, log=print) -> tuple[Path | None, str]:
    """Compile bench/floor.c with `cc` into directory: (the binary, the command), or (None, why it is skipped)."""
    if shutil.which("cc") is None:
        return None, "no C compiler (`cc`) on PATH: the userspace floor (bench/floor.c) is not measured"
    binary = directory / "floor"
    argv = ["cc", "-O2", "-Wall", "-o", str(binary), str(FLOOR_SOURCE)]
    log(f"compiling the userspace floor: {' '.join(argv)}")
    built = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if built.returncode != 0:
        return None, f"`cc` could not compile bench/floor.c (is libc6-dev installed?): {built.stderr.strip()[-300:]}"
    return binary, " ".join(argv)


class Floor(Responder):
    """bench/floor.c, compiled: blocking recv, one range check, send. The least a userspace responder can do."""

    name = "C floor"

    def __init__(self, binary: Path):
        self.binary = binary

    def start(self, lab: Lab) -> None:
        argv = [str(self.binary), RESPONDER_IF, SERVED_NET]
        self.process = LabProcess(lab.responder_ns, argv, "ready:", wrapper=PINNED)


class Sink(Responder):
    """The generator ceiling: nothing answers; `counter` counts the flood's requests reaching a socket on r0."""

    name = "generator ceiling (sink)"
    answers = False
    settle_s = 0.0

    def start(self, lab: Lab) -> None:
        self.counter = FrameCounter.arrivals(lab)

    def stop(self, lab: Lab) -> str:
        if self.counter is not None:
            self.counter.close()
            self.counter = None
        return ""
