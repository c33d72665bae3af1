"""Helpers for tests on the wire: a tcpdump capture, a raw port on the peer, and real clients' output parsed."""

from __future__ import annotations

import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arpresponder.codec import vlan_tags
from arpresponder.lab.netns import PEER_IF, Lab

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
_AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata: status, len, snaplen, mac, net, vlan_tci, vlan_tpid


@contextmanager
def tcpdump(lab: Lab, ns: str, iface: str, path: Path, expression: str = "arp") -> Iterator[list]:
    """Capture with tcpdump while the block runs; afterwards the yielded list holds the frames (scapy packets)."""
    import scapy.layers.l2  # noqa: F401  (registers Ethernet and ARP, so the capture is dissected)
    from scapy.utils import rdpcap

    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "--immediate-mode", "-U", "-n", "-w", str(path), expression],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stderr.readline()  # "tcpdump: listening on ..." once the capture runs
        assert "listening on" in line, f"tcpdump did not start: {line}"
        frames: list = []
        yield frames
        time.sleep(0.2)  # let the last frames reach the file
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    frames.extend(rdpcap(str(path)))


class PeerPort:
    """A raw socket on the peer's end of the veth pair: send crafted frames, collect the ARP frames that come back.

    It listens where tcpdump does (every protocol) and asks for each frame's
    metadata (PACKET_AUXDATA), so a VLAN tag the kernel took out of a frame is
    put back: the frames collected are as they were on the wire.
    """

    def __init__(self, lab: Lab):
        with lab.inside(lab.peer_ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self.sock.bind((PEER_IF, ETH_P_ALL))

    def exchange(self, frames: list[bytes], window: float = 0.5) -> list[bytes]:
        """Send frames (1 ms apart), then return every ARP frame received during the window."""
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.recv(2048)  # stale frames from before
        for frame in frames:
            self.sock.send(frame)
            time.sleep(0.001)
        return self.collect(window)

    def collect(self, window: float = 0.5) -> list[bytes]:
        """Every ARP frame received from now until the window ends (and any waiting already), none of our own."""
        received = []
        deadline = time.monotonic() + window
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self.sock], [], [], left)[0]:
                data, ancillary, _flags, addr = self.sock.recvmsg(2048, socket.CMSG_SPACE(_AUXDATA.size))
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                for level, kind, value in ancillary:
                    if (level, kind) == (SOL_PACKET, PACKET_AUXDATA) and len(value) >= _AUXDATA.size:
                        status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(value)
                        if status & TP_STATUS_VLAN_VALID:
                            data = data[:12] + struct.pack("!HH", tpid or 0x8100, tci) + data[12:]
                if vlan_tags(data)[1][12:14] == b"\x08\x06":
                    received.append(data)
        return received

    def close(self) -> None:
        self.sock.close()


def arp_scan(lab: Lab, target: str, ns: str | None = None, iface: str = PEER_IF) -> list[tuple[str, str]]:
    """arp-scan from the peer (or ns, on iface): (ip, mac) for every answer line, duplicates included."""
    out = lab.run(ns or lab.peer_ns, "arp-scan", "--plain", "--retry=2", "-I", iface, target, timeout=60).stdout
    return [(line.split("\t")[0], line.split("\t")[1].lower()) for line in out.splitlines() if "\t" in line]


def kernel_resolves(lab: Lab, ips: list[str], ns: str | None = None, iface: str = PEER_IF) -> dict[str, str | None]:
    """ip → the MAC the peer's (or ns's, on iface) kernel learned for it, or None (Lab.kernel_resolve without the
    states)."""
    return {ip: mac for ip, (mac, _state) in lab.kernel_resolve(ips, ns, iface).items()}


def arpresponder_in(lab: Lab, ns: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`arpresponder ARGS` run inside a lab namespace, as another shell would; never raises on failure."""
    return lab.run(ns, sys.executable, "-m", "arpresponder", *args, check=False, timeout=timeout)


class Switch:
    """The lab's peer namespace made a switch: a bridge br0 with p0 (to r0) on it, and hosts hung on it.

    Each host is a namespace of the lab's (NAME-pN, removed with it) with one interface on the bridge:
    `host(n, ifname, mac, ip)` returns its namespace. Addresses are documentation ones (RFC 5737); 198.51.100.0/24
    is on-link for every host, as for the lab's peer.
    """

    def __init__(self, lab: Lab):
        self.lab = lab
        ns = lab.peer_ns
        lab.run(ns, "ip", "link", "add", "br0", "type", "bridge")
        lab.run(ns, "ip", "link", "set", "br0", "up")
        lab.run(ns, "ip", "address", "flush", "dev", PEER_IF)
        lab.run(ns, "ip", "link", "set", PEER_IF, "master", "br0")

    def host(self, n: int, ifname: str, mac: str, ip: str) -> str:
        ns = f"{self.lab.name}-p{n}"
        lab = self.lab
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=30)
        for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
            lab.sysctl(ns, key, "1")
        lab.run(ns, "ip", "link", "set", "lo", "up")
        lab.run(ns, "ip", "link", "add", ifname, "address", mac, "type", "veth", "peer", "name", f"s{n}", "netns",
                lab.peer_ns)  # fmt: skip
        lab.run(lab.peer_ns, "ip", "link", "set", f"s{n}", "master", "br0")
        lab.run(lab.peer_ns, "ip", "link", "set", f"s{n}", "up")
        lab.run(ns, "ip", "address", "add", f"{ip}/24", "dev", ifname)
        lab.run(ns, "ip", "link", "set", ifname, "up")
        lab.run(ns, "ip", "route", "add", "198.51.100.0/24", "dev", ifname)
        return ns
