"""`run --workers N`: N processes answering on the same interfaces, each taking a share of the requests.

The process `run` starts is worker 0: it has the views, the control socket,
the announcer and the interface lock. Once its own sockets are open (before
`--user` drops root), it starts workers 1…N-1: `arpresponder run` again with
the same command line and a hidden `--worker SEED:K:FD`, so each one reads
the config, opens its engines and answers exactly as worker 0 does, in a
process (and an interpreter, a GIL) of its own. Each link's receiving
socket, in every worker, joins the PACKET_FANOUT group `fanout_group(SEED,
link)`: the kernel hands each frame to one socket of the group, round robin
(engines/linux.py says why not by hash or CPU), so every request is answered
once. A worker that ends leaves the group with its socket: the others get
its share.

Workers announce nothing and keep no views; every SEND_INTERVAL they send
what they counted since (Stats.take_counts, per link) to worker 0 over a
pipe, which adds it to its own counters (Stats.add_counts) in its loop's
thread: every view, the summary and the metrics show the sums. A reload of
worker 0 (SIGHUP or `arpresponder reload`) is passed on as SIGHUP; stopping
it stops them, their last counts are read before the summary is printed.

Not with policies whose owner table must see every frame (on_conflict yield
or defend, claim = unowned, standby, keepalived): with a share of the frames
each, the workers' tables would disagree. Refused at start (ConfigError).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from multiprocessing.connection import Connection

from .errors import ConfigError
from .owners import Claim, Policy
from .settings import Settings

log = logging.getLogger("arpresponder")

SEND_INTERVAL = 0.25  # seconds between a worker's counts (the views sample 4 times a second)
STOP_TIMEOUT = 5.0  # seconds a worker has to send its last counts and end, once told to stop
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def fanout_group(seed: int, label: str) -> int:
    """The PACKET_FANOUT group id (16 bits) of one link's sockets, the same in every worker of one run."""
    return zlib.crc32(f"{seed}/{label}".encode()) & 0xFFFF


def check_workers(settings: Settings, workers: int) -> None:
    """ConfigError if these settings cannot be shared between `workers` processes (see the module's docstring)."""
    if workers == 1:
        return
    cli = settings.command_line
    if cli.views.pcap is not None:
        raise ConfigError("--pcap captures what one process handles, and --workers shares the frames: give one worker")
    if cli.standby or cli.keepalived_fifo is not None:
        raise ConfigError("--workers cannot stand by (--standby, --keepalived-fifo): give one worker")
    for s in settings.interfaces:
        if s.on_conflict is not Policy.WARN or s.claim is not Claim.ALL:
            raise ConfigError(
                f"{s.label}: --workers shares the frames between processes, so on_conflict = {s.on_conflict.value} "
                f"and claim = {s.claim.value} would see only a share of them: use on_conflict = warn and claim = all, "
                "or one worker"
            )
        if s.engine not in ("auto", "packet"):
            raise ConfigError(f"{s.label}: --workers needs the packet engine (PACKET_FANOUT), not {s.engine}")


class Workers:
    """Workers 1…N-1 as worker 0 sees them: their processes, and a thread each reading their counts."""

    def __init__(self, count: int, seed: int, apply: Callable[[Callable[[], None]], None],
                 stats_of: Callable[[str], object]):  # fmt: skip
        """count: workers besides this process; seed: fanout_group's; apply(fn): run fn in the loop's thread;
        stats_of(label): that link's Stats, or None (a link gone from the config)."""
        self.count, self.seed, self._apply, self._stats_of = count, seed, apply, stats_of
        self.processes: list[subprocess.Popen] = []
        self._readers: list[threading.Thread] = []
        self.received = [0] * (count + 1)  # frames each worker took (1…count; 0: see stop())
        self._stopping = False

    def start(self, argv: list[str]) -> None:
        """Start the workers with argv (this process's command line, after `arpresponder`)."""
        for k in range(1, self.count + 1):
            read_fd, write_fd = os.pipe()
            try:
                command = [sys.executable, "-m", "arpresponder", *argv, "--worker", f"{self.seed}:{k}:{write_fd}"]
                process = subprocess.Popen(command, pass_fds=(write_fd,), stdin=subprocess.DEVNULL)
            finally:
                os.close(write_fd)
            self.processes.append(process)
            reader = threading.Thread(target=self._read, args=(k, Connection(read_fd, writable=False)), daemon=True,
                                      name=f"worker {k} counts")  # fmt: skip
            reader.start()
            self._readers.append(reader)
        log.info("started %d more worker(s): pids %s", self.count, ", ".join(str(p.pid) for p in self.processes))

    def _read(self, k: int, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    counts = conn.recv()
                except (EOFError, OSError):  # its end closed: it ended
                    if not self._stopping:
                        self._ended(k)
                    return
                self._apply(lambda counts=counts: self._add(k, counts))

    def _ended(self, k: int) -> None:
        """Worker k ended on its own (killed, crashed): reap it and say so; the fanout group gives the others its
        share."""
        process = self.processes[k - 1]
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT)
        code = process.returncode
        how = "still running" if code is None else f"by signal {-code}" if code < 0 else f"exit {code}"
        log.warning("worker %d (pid %d) ended (%s): the other workers take its share", k, process.pid, how)

    def _add(self, k: int, counts: dict[str, dict]) -> None:
        for label, share in counts.items():
            self.received[k] += share["received"]
            stats = self._stats_of(label)
            if stats is not None:
                stats.add_counts(share)

    def reload(self) -> None:
        """Pass a reload on (SIGHUP): each worker reads the config again."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """Stop the workers and wait (STOP_TIMEOUT) for their last counts; a worker that does not end is killed.
        Call after the loop has ended, then Service.run_pending() to add those counts."""
        self._stopping = True
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop within %.0f s: killed", process.pid, STOP_TIMEOUT)
                process.kill()
                process.wait()
        for reader in self._readers:
            reader.join(STOP_TIMEOUT)

    def log_shares(self, received_in_all: int) -> None:
        """Log how many frames each worker took, worker 0's being what the others' leave of received_in_all."""
        if self.count:
            self.received[0] = received_in_all - sum(self.received[1:])
            log.info("frames received by each worker: %s", ", ".join(f"{k}: {n}" for k, n in enumerate(self.received)))


def parse_worker(value: str) -> tuple[int, int, int]:
    """--worker SEED:K:FD → (seed, k, fd). ValueError if it is not three integers."""
    seed, k, fd = (int(part) for part in value.split(":"))
    return seed, k, fd


def die_with_parent() -> None:
    """Have the kernel send SIGTERM to this process when its parent (worker 0) ends, however it ends (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class CountSender:
    """In a worker: sends each link's counts to worker 0 every SEND_INTERVAL, from the loop's thread."""

    def __init__(self, fd: int, counts: Callable[[], dict[str, dict]], run_in_loop: Callable[[Callable], None]):
        self._conn = Connection(fd, readable=False)
        self._counts, self._run_in_loop = counts, run_in_loop
        self._stopped = threading.Event()
        self._timer = threading.Thread(target=self._tick, daemon=True, name="worker counts")

    def start(self) -> None:
        self._timer.start()

    def _tick(self) -> None:
        while not self._stopped.wait(SEND_INTERVAL):
            self._run_in_loop(self.send)

    def send(self) -> None:
        """Send what was counted since the last send (the loop's thread, or after the loop ended)."""
        if self._conn.closed:
            return
        try:
            self._conn.send(self._counts())
        except OSError:
            self._conn.close()  # worker 0 is gone: nobody to count for

    def close(self) -> None:
        """The last counts, then the pipe's end: worker 0 reads up to here."""
        self._stopped.set()
        self.send()
        self._conn.close()
