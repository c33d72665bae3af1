"""A throwaway two-namespace veth lab: the only network that demos and tests touch.

    namespace <name>-r                     namespace <name>-p
    r0  02:00:00:00:00:01  ─── veth ───   p0  02:00:00:00:00:02
        192.0.2.1/24                          192.0.2.2/24
                                              198.51.100.0/24 on-link via p0

The responder runs on r0 and answers for addresses in 198.51.100.0/24, a
subnet no kernel in the lab owns, so the peer's kernel, arping and arp-scan
only get answers from arpresponder. All addresses are documentation ranges
(RFC 5737) and all MACs are locally administered.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from ..errors import UserError

RESPONDER_IF = "r0"
PEER_IF = "p0"
RESPONDER_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"
RESPONDER_IP = "192.0.2.1"
PEER_IP = "192.0.2.2"
LAB_PREFIXLEN = 24
SERVED_NET = "198.51.100.0/24"

# What `demo` answers for: a /26, a lone address outside it, and a hole in it.
DEFAULT_SET = ("198.51.100.128/26", "198.51.100.7", "!198.51.100.130")

DEFAULT_NAME = "arpr-lab"

_CLONE_NEWNET = 0x40000000
_unique = itertools.count()


class LabError(UserError):
    """The lab could not be built, used or removed."""


_LAB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def lab_name_problem(name: str) -> str | None:
    """None if `name` can name a lab; else what a name may be. Its namespaces are files in /run/netns that
    `ip netns list` prints for everyone on the machine: plain ASCII, as short as a hostname label."""
    if _LAB_NAME.fullmatch(name):
        return None
    return "expected a lab name (up to 32 letters, digits, '.', '_' or '-', starting with a letter or digit)"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        # surrogateescape: a namespace named with bytes that are not UTF-8 (not by us) must not end our listing
        result = subprocess.run(["ip", *args], capture_output=True, text=True, errors="surrogateescape", timeout=30,
                                check=False)  # fmt: skip
    except FileNotFoundError:
        raise LabError("the lab needs iproute2's `ip` command (apt-get install iproute2)") from None
    if check and result.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _stop_all(pids: list[int], grace: float = 3.0) -> None:
    """SIGTERM each process, then SIGKILL those still there after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while (pids := [pid for pid in pids if _running(pid)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pids:
            return


def _running(pid: int) -> bool:
    """Whether pid is a process that has not exited (a zombie, waiting for its parent to reap it, has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@dataclass(frozen=True)
class Lab:
    """Two namespaces joined by a veth pair. `up()` builds it, `down()` removes it."""

    name: str = DEFAULT_NAME

    @classmethod
    def unique(cls, prefix: str = "arpr-t") -> Lab:
        """A lab whose name no parallel run uses (pid + counter)."""
        return cls(f"{prefix}{os.getpid()}-{next(_unique)}")

    @property
    def responder_ns(self) -> str:
        return f"{self.name}-r"

    @property
    def peer_ns(self) -> str:
        return f"{self.name}-p"

    def exists(self) -> bool:
        names = {line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()}
        return self.responder_ns in names or self.peer_ns in names

    def up(self) -> Lab:
        if os.geteuid() != 0:
            raise LabError("building the lab needs root (network namespaces and veth pairs)")
        if self.exists():
            raise LabError(
                f"lab {self.name!r} already exists; remove it with `arpresponder lab down --name {self.name}`"
            )
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def _build(self) -> None:
        r, p = self.responder_ns, self.peer_ns
        _ip("netns", "add", r)
        _ip("netns", "add", p)
        for ns in (r, p):
            # No IPv6 on the link: keeps captures to the ARP we cause (no DAD, no router solicitations).
            self.sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            self.sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", r, "link", "add", *self._veth_pair())
        self._configure_veth()

    def _veth_pair(self) -> list[str]:
        """`ip link add` arguments for r0 and p0, each created directly inside its namespace: never on the host."""
        return [RESPONDER_IF, "address", RESPONDER_MAC,
                "type", "veth", "peer", "name", PEER_IF, "netns", self.peer_ns, "address", PEER_MAC]  # fmt: skip

    def _configure_veth(self) -> None:
        for ns, ifname, addr in ((self.responder_ns, RESPONDER_IF, RESPONDER_IP), (self.peer_ns, PEER_IF, PEER_IP)):
            _ip("-n", ns, "address", "add", f"{addr}/{LAB_PREFIXLEN}", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")
        _ip("-n", self.peer_ns, "route", "add", SERVED_NET, "dev", PEER_IF)

    def replace_veth(self) -> None:
        """Delete the veth pair and create it again, same names, MACs and addresses, in one `ip -batch`.

        What a container runtime does when a peer restarts: r0 is a new
        interface (a new index) under the old name.
        """
        batch = f"link del {RESPONDER_IF}\nlink add {' '.join(self._veth_pair())}\n"
        try:
            result = subprocess.run(["ip", "-n", self.responder_ns, "-batch", "-"], input=batch, capture_output=True,
                                    text=True, timeout=30, check=False)  # fmt: skip
        except FileNotFoundError:
            raise LabError("the lab needs iproute2's `ip` command (apt-get install iproute2)") from None
        if result.returncode != 0:
            raise LabError(f"ip -batch: {result.stderr.strip()}")
        self._configure_veth()

    def add_peer(self, n: int, up: bool = True) -> str:
        """Another peer, on its own link: namespace NAME-pN, joined to the responder's by a veth pair rN <-> p0.

        MACs 02:00:00:00:NN:01 (rN) and 02:00:00:00:NN:02 (its p0); the peer has
        192.0.2.2/24 and 198.51.100.0/24 on-link, as the first one. up=False
        leaves rN down. Returns the peer's namespace.
        """
        ns = f"{self.name}-p{n}"
        _ip("netns", "add", ns)
        for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
            self.sysctl(ns, key, "1")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", self.responder_ns, "link", "add", f"r{n}", "address", f"02:00:00:00:{n:02x}:01",
            "type", "veth", "peer", "name", PEER_IF, "netns", ns, "address", f"02:00:00:00:{n:02x}:02")  # fmt: skip
        _ip("-n", ns, "address", "add", f"{PEER_IP}/{LAB_PREFIXLEN}", "dev", PEER_IF)
        _ip("-n", ns, "link", "set", PEER_IF, "up")
        _ip("-n", ns, "route", "add", SERVED_NET, "dev", PEER_IF)
        if up:
            _ip("-n", self.responder_ns, "link", "set", f"r{n}", "up")
        return ns

    def down(self) -> None:
        """Remove the lab's namespaces (its veth pairs go with them), stopping first whatever still runs in them: a
        responder waits for its interface to come back, so one left behind (its starter interrupted before it
        could stop it) would wait in a deleted namespace forever. Safe to call twice."""
        names = {line.split()[0] for line in _ip("netns", "list", check=False).stdout.splitlines() if line.strip()}
        ours = [ns for ns in sorted(names)
                if ns in (self.responder_ns, self.peer_ns) or re.fullmatch(rf"{re.escape(self.name)}-p\d+", ns)]  # fmt: skip
        _stop_all([int(pid) for ns in ours for pid in _ip("netns", "pids", ns, check=False).stdout.split()])
        for ns in ours:
            _ip("netns", "delete", ns, check=False)

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def run(self, ns: str, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside one of the lab's namespaces."""
        try:
            result = subprocess.run(
                ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError:
            raise LabError("the lab needs iproute2's `ip` command (apt-get install iproute2)") from None
        if check and result.returncode != 0:
            raise LabError(f"{' '.join(argv)} in {ns}: exit {result.returncode}: {result.stderr.strip()}")
        return result

    def arping(self, ip: str, count: int = 3, ns: str | None = None) -> tuple[int, list[str]]:
        """iputils arping from the peer: (exit code, the MAC of each reply in order).

        After its first reply, arping sends its requests unicast to that MAC,
        as a neighbour refreshing its cache does.
        """
        argv = ("arping", "-c", str(count), "-w", str(count + 2), "-I", PEER_IF, ip)
        result = self.run(ns or self.peer_ns, *argv, check=False)
        return result.returncode, [m.lower() for m in re.findall(r"reply from \S+ \[([0-9A-Fa-f:]+)\]", result.stdout)]

    def kernel_resolve(
        self, ips: Sequence[str], ns: str | None = None, iface: str = PEER_IF
    ) -> dict[str, tuple[str | None, str]]:
        """Let the peer's kernel (or ns's, on iface) resolve each address, all at once: ip → (lladdr or None, state).

        One ping each: nobody answers the ICMP, the ARP before it is what counts.
        """
        pings = [subprocess.Popen(["ip", "netns", "exec", ns or self.peer_ns, "ping", "-c", "1", "-W", "1", ip],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for ip in ips]  # fmt: skip
        for ping in pings:
            ping.wait(timeout=10)
        return {ip: self.neighbour(ip, ns, iface) for ip in ips}

    def sysctl(self, ns: str, key: str, value: str) -> None:
        """Set a network sysctl inside a lab namespace (without needing procps' sysctl)."""
        with self.inside(ns), open(f"/proc/sys/{key.replace('.', '/')}", "w") as f:
            f.write(value)

    def neighbour(self, ip: str, ns: str | None = None, iface: str = PEER_IF) -> tuple[str | None, str]:
        """(lladdr or None, state) of the peer's (or ns's, on iface) neighbour entry for ip."""
        out = _ip("-n", ns or self.peer_ns, "neigh", "show", ip, "dev", iface).stdout.split()
        lladdr = out[out.index("lladdr") + 1] if "lladdr" in out else None
        return lladdr, (out[-1] if out else "NONE")

    @contextmanager
    def inside(self, ns: str) -> Iterator[None]:
        """Switch this thread into a lab namespace, e.g. to open a socket there.

        A socket keeps the namespace it was created in, so it stays usable
        after the thread switches back.
        """
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{ns}") as there:
            if libc.setns(there.fileno(), _CLONE_NEWNET) != 0:
                raise LabError(f"setns into {ns}: {os.strerror(ctypes.get_errno())}")
            try:
                yield
            finally:
                if libc.setns(home.fileno(), _CLONE_NEWNET) != 0:
                    raise LabError(f"setns back from {ns}: {os.strerror(ctypes.get_errno())}")


class LabProcess:
    """A long-running command in a lab namespace, started and stopped like a user would.

    Waits for a line containing `ready_mark` (on stdout or stderr) before
    returning, keeps draining its output so a chatty process never blocks on
    a full pipe, and stops it with `stop_signal`. `wrapper` goes in front of
    `ip netns exec`, e.g. `taskset -c 1`; it must exec, so that `pid` is the
    command's own process.
    """

    def __init__(self, ns: str, argv: Sequence[str], ready_mark: str, ready_timeout: float = 15,
                 stop_signal: int = signal.SIGTERM, wrapper: Sequence[str] = ()):  # fmt: skip
        self.ready_mark = ready_mark
        self.stop_signal = stop_signal
        self.proc = subprocess.Popen([*wrapper, "ip", "netns", "exec", ns, *argv],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()
        self._readers = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for t in self._readers:
            t.start()
        deadline = time.monotonic() + ready_timeout
        try:
            while not self._ready.wait(0.05):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise LabError(f"{' '.join(argv)} did not become ready:\n{self.stderr}{self.stdout}")
        except BaseException:  # not ready, or interrupted while waiting (a demo's Ctrl-C): never left running
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain(self, stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)
            if self.ready_mark in line:
                self._ready.set()

    def stop(self, timeout: float = 10) -> int:
        """Send the stop signal, wait, and return the exit code (SIGKILL if it does not stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._readers:
            t.join(timeout=5)
        return self.proc.returncode

    @property
    def stdout(self) -> str:
        return "".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ResponderProcess(LabProcess):
    """`arpresponder run` (or any arpresponder command) in a lab namespace; stopped with SIGTERM."""

    READY_MARK = "ready:"

    def __init__(self, lab: Lab, args: Sequence[str], ns: str | None = None, ready_timeout: float = 15,
                 wrapper: Sequence[str] = (), prefix: Sequence[str] = ()):  # fmt: skip
        """prefix goes inside the namespace, in front of python (e.g. `setpriv …` to run as another user); it must
        exec, so that `pid` is arpresponder's own process."""
        super().__init__(ns or lab.responder_ns, [*prefix, sys.executable, "-m", "arpresponder", *args],
                         self.READY_MARK, ready_timeout, wrapper=wrapper)  # fmt: skip
