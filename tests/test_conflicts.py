"""Another host on our addresses, on the wire: each on_conflict policy (warn, yield, defend) against a host that
sends gratuitous ARP and replies from an address of the set, and what the views say about it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from arpresponder.codec import BROADCAST_MAC, OP_REPLY, ArpFrame, format_ipv4, parse_mac
from arpresponder.lab.netns import PEER_IP, RESPONDER_IF, ResponderProcess

from .frames import OURS, request
from .wire import PeerPort, arpresponder_in

pytestmark = pytest.mark.wire

OTHER = parse_mac("02:00:00:00:00:99")  # the other host, on the peer's side of the link
TAKEN = "198.51.100.10"  # the address it uses
FREE = "198.51.100.11"  # an address of the set nobody else uses
SET = ["--ip=198.51.100.10", "--ip=198.51.100.11"]


def announcement_from_other(ip: str = TAKEN) -> bytes:
    """The other host's gratuitous ARP for ip (a request with sender and target ip, broadcast)."""
    return request(eth_src=OTHER, sha=OTHER, spa=ip, tpa=ip)


def reply_from_other(ip: str = TAKEN) -> bytes:
    """The other host answering a request of ours for ip: a reply from ip, unicast to us."""
    return request(eth_dst=OURS, eth_src=OTHER, op=OP_REPLY, sha=OTHER, spa=ip, tha=OURS, tpa=PEER_IP)


def answered(replies: list[bytes]) -> list[str]:
    """The sender IPs of the replies from our MAC (a reply's sender: the address answered), not our announcements."""
    frames = [ArpFrame.from_bytes(f) for f in replies]
    return sorted(format_ipv4(f.spa) for f in frames if f.sha == OURS and f.op == OP_REPLY and f.spa != f.tpa)


def announced(frames: list[bytes], ip: str) -> int:
    """How many gratuitous ARP frames from our MAC announce ip."""
    n = 0
    for raw in frames:
        f = ArpFrame.from_bytes(raw)
        n += f.sha == OURS and format_ipv4(f.spa) == ip and f.spa == f.tpa and raw[:6] == BROADCAST_MAC
    return n


def ask(port: PeerPort, *ips: str, window: float = 0.3) -> list[str]:
    return answered(port.exchange([request(tpa=ip) for ip in ips], window=window))


def snapshot(lab) -> dict:
    result = arpresponder_in(lab, lab.responder_ns, "stats", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["interfaces"][RESPONDER_IF]


def run(lab, *args: str) -> ResponderProcess:
    return ResponderProcess(lab, ["run", "-i", RESPONDER_IF, *SET, "--no-announce", *args])


@pytest.mark.parametrize("engine", ["packet", "scapy"])
def test_warn_keeps_answering_warns_once_and_shows_the_conflict(lab, engine):
    port = PeerPort(lab)
    with run(lab, "--engine", engine, "--metrics", "127.0.0.1:9417") as r:
        for _ in range(3):
            port.exchange([announcement_from_other()], window=0.05)
        assert ask(port, TAKEN, FREE) == [TAKEN, FREE]
        snap = snapshot(lab)
        assert snap["on_conflict"] == "warn"
        assert snap["conflict_outcomes"]["warned"] == 1 and snap["conflict_outcomes"]["seen"] == 3
        [conflict] = snap["conflicts"]
        assert (conflict["ip"], conflict["mac"], conflict["yielded"]) == (TAKEN, "02:00:00:00:00:99", False)
        assert conflict["seen_s_ago"] < 5
        with lab.inside(lab.responder_ns), urllib.request.urlopen("http://127.0.0.1:9417/metrics", timeout=5) as f:
            metrics = f.read().decode()
        assert 'arpresponder_conflict_outcomes_total{interface="r0",outcome="warned"} 1.0' in metrics
        assert 'arpresponder_conflicts{interface="r0"} 1.0' in metrics
        assert "arpresponder_standby 0.0" in metrics
    assert r.stderr.count("uses 198.51.100.10") == 1, r.stderr


def test_the_kernel_filter_passes_frames_from_our_addresses_and_not_from_others(lab):
    port = PeerPort(lab)
    with run(lab):
        before = snapshot(lab)["received"]
        port.exchange([announcement_from_other("198.51.100.200"), reply_from_other("198.51.100.200")], window=0.3)
        assert snapshot(lab)["received"] == before  # neither names an address of ours: filtered in the kernel
        port.exchange([announcement_from_other(), reply_from_other()], window=0.3)
        snap = snapshot(lab)
        assert snap["received"] == before + 2
        assert snap["conflict_outcomes"]["seen"] == 2


def test_yield_stops_answering_while_the_other_host_is_seen_then_resumes_and_announces(lab, tmp_path):
    config = tmp_path / "yield.toml"
    config.write_text('on_conflict = "yield"\nconflict_age = 2\n')
    port = PeerPort(lab)
    with run(lab, "-c", str(config)) as r:
        assert ask(port, TAKEN, FREE) == [TAKEN, FREE]
        port.exchange([reply_from_other()], window=0.05)
        yielded_at = time.monotonic()
        assert ask(port, TAKEN, FREE) == [FREE]  # TAKEN is the other host's now
        # Not seen for conflict_age (2 s): answered again, announced first. (Nothing slow before this: a `stats`
        # while it waits could outlast the age and the announcement with it.)
        frames = port.collect(window=4.0)
        assert announced(frames, TAKEN) >= 1, "resuming an address announces it"
        assert time.monotonic() - yielded_at >= 2.0
        assert ask(port, TAKEN) == [TAKEN]
        snap = snapshot(lab)
        assert snap["dropped"]["yielded"] == 1
        assert (snap["conflict_outcomes"]["yielded"], snap["conflict_outcomes"]["resumed"]) == (1, 1)
        assert snap["conflicts"] == []  # aged out
    assert "not answering for it" in r.stderr and "answering for it again" in r.stderr


def test_defend_announces_once_then_yields_if_the_other_host_insists(lab, tmp_path):
    config = tmp_path / "defend.toml"
    config.write_text('on_conflict = "defend"\n')
    port = PeerPort(lab)
    with run(lab, "-c", str(config)) as r:
        frames = port.exchange([announcement_from_other()], window=0.5)
        defence = announced(frames, TAKEN)
        assert defence >= 1, "the first claim is defended with an announcement"
        assert ask(port, TAKEN) == [TAKEN]  # still ours
        # Claimed again within DEFEND_INTERVAL (10 s): no second defence; the address is yielded.
        frames = port.exchange([announcement_from_other()], window=0.5)
        assert announced(frames, TAKEN) == 0
        assert ask(port, TAKEN, FREE) == [FREE]
        outcomes = snapshot(lab)["conflict_outcomes"]
        assert (outcomes["defended"], outcomes["yielded"]) == (1, 1)
    assert "defending 198.51.100.10" in r.stderr


def test_standby_counts_requests_answers_none_and_activate_announces_the_set(lab):
    port = PeerPort(lab)
    with run(lab, "--standby"):
        assert ask(port, TAKEN, FREE) == []
        assert snapshot(lab)["dropped"]["standby"] == 2
        # keepalived's notify script (the example) says MASTER: it runs `arpresponder activate`.
        script = Path(__file__).resolve().parent.parent / "examples" / "keepalived" / "arpresponder-notify.sh"
        result = subprocess.run(
            ["ip", "netns", "exec", lab.responder_ns, "sh", str(script), "INSTANCE", "VI_1", "MASTER", "150"],
            env={**os.environ, "ARPRESPONDER": f"{sys.executable} -m arpresponder"}, capture_output=True, text=True,
            timeout=30, check=False,
        )  # fmt: skip
        assert (result.returncode, result.stdout) == (0, "active\n"), result.stderr
        frames = port.collect(window=0.5)
        assert announced(frames, TAKEN) >= 1 and announced(frames, FREE) >= 1  # the whole set, at once
        assert ask(port, TAKEN, FREE) == [TAKEN, FREE]
        result = arpresponder_in(lab, lab.responder_ns, "standby")
        assert (result.returncode, result.stdout) == (0, "standby\n"), result.stderr
        assert ask(port, TAKEN) == []
        again = arpresponder_in(lab, lab.responder_ns, "standby")
        assert again.stdout == "standby (it was already)\n"
