"""What the link and the kernel around us change, on the wire: VLAN tags, subnet broadcasts, bridges, the kernel
answering too, a second instance, an interface replaced under a flood.

(The decision table's VLAN rows are also sent to the kernel and to both engines by tests/test_kernel_parity.py.)
"""

import re

import pytest

from arpresponder.codec import ArpFrame, format_ipv4
from arpresponder.lab.netns import PEER_IF, RESPONDER_IF, ResponderProcess

from .frames import request, tagged
from .wire import PeerPort, arpresponder_in

pytestmark = pytest.mark.wire

ENGINES = ["packet", "scapy"]


def run(lab, *args, engine="packet"):
    return ResponderProcess(lab, ["run", "--engine", engine, *args])


def counted(summary: str, reason: str) -> int:
    match = re.search(rf"^\s+{re.escape(reason)}\s+(\d+)$", summary, re.MULTILINE)
    return int(match[1]) if match else 0


def answered_ips(replies: list[bytes]) -> list[str]:
    return sorted(format_ipv4(ArpFrame.from_bytes(frame).spa) for frame in replies)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_request_tagged_for_another_vlan_gets_no_untagged_reply(lab, engine):
    """VLAN 10 on r0, which has no VLAN device: the kernel ignores it, and so must we; VLAN 0 is answered untagged."""
    port = PeerPort(lab)
    with run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.10-198.51.100.12", engine=engine) as r:
        replies = port.exchange(
            [
                tagged(request(tpa="198.51.100.10"), 10),
                tagged(request(tpa="198.51.100.11"), 6 << 13),  # priority 6, VLAN 0
                request(tpa="198.51.100.12"),
            ]
        )
        assert r.stop() == 0
    port.close()
    assert answered_ips(replies) == ["198.51.100.11", "198.51.100.12"]
    assert all(frame[12:14] == b"\x08\x06" for frame in replies)  # untagged: the priority tag is not echoed
    assert counted(r.stdout, "other-vlan") == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_the_subnets_broadcast_address_is_never_answered(lab, engine):
    """r0 has 192.0.2.1/24; the set holds 192.0.2.128/25: .200 is answered, .255 (the /24's broadcast) is not."""
    port = PeerPort(lab)
    # The reference first: the kernel owning the same /25 (an AnyIP route) answers .200 and not .255.
    lab.run(lab.responder_ns, "ip", "route", "add", "local", "192.0.2.128/25", "dev", RESPONDER_IF)
    kernel = port.exchange([request(tpa="192.0.2.200"), request(tpa="192.0.2.255")])
    lab.run(lab.responder_ns, "ip", "route", "del", "local", "192.0.2.128/25", "dev", RESPONDER_IF)
    assert answered_ips(kernel) == ["192.0.2.200"]

    with run(lab, "-i", RESPONDER_IF, "--ip", "192.0.2.128/25", "--announce", engine=engine) as r:
        ours = port.exchange([request(tpa="192.0.2.200"), request(tpa="192.0.2.255")], window=1.5)
        assert r.stop() == 0
    port.close()
    frames = [ArpFrame.from_bytes(f) for f in ours]
    replies = [f for f in frames if f.spa != f.tpa]  # gratuitous frames have spa == tpa: those are announcements
    assert sorted(format_ipv4(f.spa) for f in replies) == ["192.0.2.200"]
    announced = {format_ipv4(f.spa) for f in frames if f.spa == f.tpa}
    assert "192.0.2.255" not in announced and "192.0.2.200" in announced
    assert "not answering 192.0.2.255 (r0): in the set, but the broadcast address of a subnet here" in r.stderr
    assert counted(r.stdout, "subnet-broadcast") == 1


def test_the_network_address_is_answered_as_the_kernel_does(lab):
    """Linux has no broadcast route for a subnet's network address (since 5.x) and answers for it when it owns it."""
    lab.run(lab.responder_ns, "ip", "address", "add", "203.0.113.1/24", "dev", RESPONDER_IF)
    lab.run(lab.peer_ns, "ip", "route", "add", "203.0.113.0/24", "dev", PEER_IF)
    port = PeerPort(lab)
    lab.run(lab.responder_ns, "ip", "route", "add", "local", "203.0.113.0/26", "dev", RESPONDER_IF)
    kernel = port.exchange([request(tpa="203.0.113.0")])
    lab.run(lab.responder_ns, "ip", "route", "del", "local", "203.0.113.0/26", "dev", RESPONDER_IF)
    with run(lab, "-i", RESPONDER_IF, "--ip", "203.0.113.0/26", "--ip", "!203.0.113.1") as r:
        ours = port.exchange([request(tpa="203.0.113.0")])
        assert r.stop() == 0
    port.close()
    assert answered_ips(kernel) == answered_ips(ours) == ["203.0.113.0"]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_entry_mac_is_reachable_behind_a_bridge(lab, engine):
    """arping's refreshes go unicast to the entry's MAC; the bridge passes them up only if it is in its filter."""
    ns = lab.responder_ns
    lab.run(ns, "ip", "link", "add", "br0", "type", "bridge")
    lab.run(ns, "ip", "link", "set", RESPONDER_IF, "master", "br0")
    lab.run(ns, "ip", "link", "set", "br0", "up")
    with run(lab, "-i", "br0", "--ip", "198.51.100.9=02:aa:bb:cc:dd:ee", engine=engine) as r:
        code, macs = lab.arping("198.51.100.9", count=3)
        assert r.stop() == 0
    assert (code, macs) == (0, ["02:aa:bb:cc:dd:ee"] * 3)
    assert "PROMISC" not in lab.run(ns, "ip", "link", "show", "br0").stdout  # the filter, not promiscuous mode


@pytest.mark.parametrize(
    ("setup", "cleanup", "warning"),
    [
        (
            [["ip", "address", "add", "198.51.100.10/32", "dev", "lo"]],
            [],
            r"198\.51\.100\.10 is local here \(198\.51\.100\.10 on lo\): with arp_ignore=0 the kernel answers",
        ),
        (
            [["sysctl:net.ipv4.conf.all.proxy_arp=1"], ["sysctl:net.ipv4.conf.r0.forwarding=1"]],
            [],
            r"net\.ipv4\.conf\.all\.proxy_arp is on: .* \(it does now: forwarding is on\)",
        ),
        (
            [["sysctl:net.ipv4.conf.r0.proxy_arp_pvlan=1"]],
            [],
            r"net\.ipv4\.conf\.r0\.proxy_arp_pvlan is on: .*forwarding is on for it; it is off now",
        ),
        (
            [["ip", "neigh", "add", "proxy", "198.51.100.10", "dev", RESPONDER_IF]],
            [["ip", "neigh", "del", "proxy", "198.51.100.10", "dev", RESPONDER_IF]],
            r"proxy neighbour entries for 198\.51\.100\.10 \(r0\): the kernel answers for them on r0",
        ),
    ],
    ids=["local-on-lo", "all.proxy_arp", "proxy_arp_pvlan", "proxy-neighbour"],
)
def test_every_way_the_kernel_answers_too_is_warned_about(lab, setup, cleanup, warning):
    for step in setup:
        if step[0].startswith("sysctl:"):
            lab.sysctl(lab.responder_ns, *step[0].removeprefix("sysctl:").split("="))
        else:
            lab.run(lab.responder_ns, *step)
    try:
        with run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.10") as r:
            assert r.stop() == 0
    finally:
        for step in cleanup:  # proxy entries are per namespace; removed anyway, as the lab goes
            lab.run(lab.responder_ns, *step, check=False)
    assert re.search(rf"WARNING\s+r0: {warning}", r.stderr), r.stderr


def test_the_kernel_answering_a_local_address_is_two_replies_and_a_warning(lab):
    """The case the warning exists for: an address on lo is answered by the kernel on r0 as well as by us."""
    lab.run(lab.responder_ns, "ip", "address", "add", "198.51.100.10/32", "dev", "lo")
    port = PeerPort(lab)
    with run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.10") as r:
        replies = port.exchange([request(tpa="198.51.100.10")])
        assert r.stop() == 0
    port.close()
    assert answered_ips(replies) == ["198.51.100.10", "198.51.100.10"]
    assert "the kernel answers for it on r0 too" in r.stderr


def test_a_second_instance_on_the_interface_refuses_to_start(lab):
    with run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.10") as first:
        second = arpresponder_in(
            lab, lab.responder_ns, "run", "-i", RESPONDER_IF, "--ip", "198.51.100.10", "--control-socket", "/tmp/x.sock"
        )
        port = PeerPort(lab)
        replies = port.exchange([request(tpa="198.51.100.10")] * 5)
        assert first.stop() == 0
    port.close()
    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if line.startswith("arpresponder: error:")]
    assert errors == [
        (
            f"arpresponder: error: another arpresponder (pid {first.pid}) answers on r0 in this network namespace "
            "already: two would answer every request twice; stop it, or give --share-interface if that is what you want"
        )
    ]
    assert second.stderr.splitlines() == errors and second.stdout == ""  # that line alone: refused before it started
    assert len(replies) == 5  # one instance, one reply each


def test_share_interface_lets_a_second_instance_answer_too(lab):
    args = ("-i", RESPONDER_IF, "--ip", "198.51.100.10")
    with run(lab, *args) as first, run(lab, *args, "--share-interface", "--control-socket", "/tmp/y.sock") as second:
        port = PeerPort(lab)
        replies = port.exchange([request(tpa="198.51.100.10")] * 3)
        assert first.stop() == 0 and second.stop() == 0
    port.close()
    assert len(replies) == 6


def test_verbose_logs_our_decisions_and_no_library_internals(lab):
    """-v is for arpresponder's decisions: pyroute2's (or scapy's) debug output stays out."""
    port = PeerPort(lab)
    with run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.10", "-v") as r:
        port.exchange([tagged(request(tpa="198.51.100.10"), 10), request(tpa="198.51.100.10")])
        assert r.stop() == 0
    port.close()
    debug = [line for line in r.stderr.splitlines() if " DEBUG " in line]
    assert any("drop other-vlan: who-has 198.51.100.10" in line and "(vlan 10)" in line for line in debug), debug
    assert any("reply 198.51.100.10 is-at" in line for line in debug), debug
    assert all(" reply " in line or " drop " in line for line in debug), debug
