"""Both engines on a real veth pair, asked by real clients: the peer's kernel, iputils arping, arp-scan, nmap."""

import re
import sys

import pytest

from arpresponder.codec import OP_REPLY, OP_REQUEST
from arpresponder.lab.netns import PEER_IF, PEER_MAC, RESPONDER_IF, RESPONDER_MAC, ResponderProcess

from .frames import request
from .wire import PeerPort, arp_scan, kernel_resolves, tcpdump

pytestmark = pytest.mark.wire

SET = ["198.51.100.128/26", "198.51.100.7", "!198.51.100.130"]
# Written out by hand, not computed by the code under test.
IN_SET = ["198.51.100.7"] + [f"198.51.100.{n}" for n in range(128, 192) if n != 130]
SAMPLE_IN = ["198.51.100.7", "198.51.100.128", "198.51.100.150", "198.51.100.191"]
SAMPLE_OUT = ["198.51.100.130", "198.51.100.192", "198.51.100.127", "198.51.100.8"]
OLD_MAC = "02:00:00:00:00:99"  # the box that held the address before


@pytest.fixture(params=["packet", "scapy"])
def engine(request):
    return request.param


def responder(lab, engine, *extra, tokens=SET):
    return ResponderProcess(
        lab, ["run", "-i", RESPONDER_IF, "--engine", engine, *(f"--ip={t}" for t in tokens), *extra]
    )


def test_peer_kernel_resolves_the_set_to_our_mac_and_nothing_else(lab, engine):
    with responder(lab, engine) as r:
        learned = kernel_resolves(lab, SAMPLE_IN + SAMPLE_OUT)
        assert r.stop() == 0
    assert {ip: learned[ip] for ip in SAMPLE_IN} == dict.fromkeys(SAMPLE_IN, RESPONDER_MAC)
    assert {ip: learned[ip] for ip in SAMPLE_OUT} == dict.fromkeys(SAMPLE_OUT)
    # The summary counts what happened: a reply for each in-set address, drops for the rest.
    assert re.search(r"replies sent\s+(\d+)", r.stdout) and int(re.search(r"replies sent\s+(\d+)", r.stdout)[1]) >= 4
    # The out-of-set requests: counted by the scapy engine; the packet engine's filter (which holds the set) drops them.
    assert ("not-in-set" in r.stdout) == (engine == "scapy")


def test_arping_gets_every_reply_including_its_unicast_refreshes(lab, engine, tmp_path):
    with responder(lab, engine) as r, tcpdump(lab, lab.peer_ns, PEER_IF, tmp_path / "arping.pcap") as frames:
        code, macs = lab.arping("198.51.100.150", count=3)
    assert code == 0 and macs == [RESPONDER_MAC] * 3
    requests = [f for f in frames if f["ARP"].op == OP_REQUEST and f["ARP"].pdst == "198.51.100.150"]
    replies = [f for f in frames if f["ARP"].op == OP_REPLY and f["ARP"].psrc == "198.51.100.150"]
    # arping broadcasts once, then asks our MAC directly, as a cache refresh does.
    assert [f.dst for f in requests] == ["ff:ff:ff:ff:ff:ff", RESPONDER_MAC, RESPONDER_MAC]
    assert len(replies) == 3
    for reply in replies:
        assert (reply.src, reply.dst) == (RESPONDER_MAC, PEER_MAC)
        assert (reply["ARP"].hwsrc, reply["ARP"].hwdst, reply["ARP"].pdst) == (RESPONDER_MAC, PEER_MAC, "192.0.2.2")
    assert r.stop() == 0


def test_out_of_set_addresses_get_nothing(lab, engine):
    with responder(lab, engine):
        for ip in ("198.51.100.130", "198.51.100.192"):
            code, macs = lab.arping(ip, count=2)
            assert (code, macs) == (1, []), ip


def test_arp_scan_finds_exactly_the_set(lab, engine):
    with responder(lab, engine):
        found = arp_scan(lab, "198.51.100.0/24")
    assert sorted(ip for ip, _ in found) == sorted(IN_SET)  # each once: no duplicates, nothing missing or extra
    assert {mac for _, mac in found} == {RESPONDER_MAC}


def test_nmap_arp_ping_sees_the_set_as_up(lab, engine):
    with responder(lab, engine):
        out = lab.run(lab.peer_ns, "nmap", "-sn", "-n", "-PR", "-e", PEER_IF, "198.51.100.120-135", timeout=60).stdout
    up = re.findall(r"Nmap scan report for (\S+)\nHost is up.*\nMAC Address: (\S+)", out)
    expected = [f"198.51.100.{n}" for n in range(128, 136) if n != 130]
    assert sorted(ip for ip, _ in up) == sorted(expected)
    assert {mac.lower() for _, mac in up} == {RESPONDER_MAC}


def test_duplicate_address_probe_is_answered(lab, engine):
    """arping -D sends RFC 5227 probes (sender IP 0.0.0.0); an answer means the address is taken."""
    with responder(lab, engine):
        taken = lab.run(lab.peer_ns, "arping", "-D", "-c", "2", "-w", "3", "-I", PEER_IF, "198.51.100.150", check=False)
        free = lab.run(lab.peer_ns, "arping", "-D", "-c", "2", "-w", "3", "-I", PEER_IF, "198.51.100.192", check=False)
    assert taken.returncode == 1 and RESPONDER_MAC in taken.stdout.lower()
    assert free.returncode == 0


def test_entry_mac_answers_for_another_device(lab, engine):
    other = "02:aa:bb:cc:dd:ee"
    with responder(lab, engine, tokens=[f"198.51.100.9={other}", "198.51.100.10"]):
        code, macs = lab.arping("198.51.100.9", count=3)  # refreshes go unicast to the entry's MAC
        learned = kernel_resolves(lab, ["198.51.100.9", "198.51.100.10"])
    assert (code, macs) == (0, [other] * 3)
    assert learned == {"198.51.100.9": other, "198.51.100.10": RESPONDER_MAC}


def test_announce_replaces_a_stale_neighbour_entry(lab, engine):
    """The swapped-box outage: the peer still has the old MAC cached; announce puts ours there."""
    ips = ["198.51.100.150", "198.51.100.151"]
    for ip in ips:
        lab.run(lab.peer_ns, "ip", "neigh", "replace", ip, "lladdr", OLD_MAC, "dev", PEER_IF, "nud", "stale")
    assert [lab.neighbour(ip) for ip in ips] == [(OLD_MAC, "STALE")] * 2
    result = lab.run(lab.responder_ns, sys.executable, "-m", "arpresponder", "announce",
                     "-i", RESPONDER_IF, "--engine", engine, "--ip", "198.51.100.150-198.51.100.151",
                     "--count", "1")  # fmt: skip
    assert "sent 4 gratuitous ARP frames" in result.stdout
    assert [lab.neighbour(ip)[0] for ip in ips] == [RESPONDER_MAC] * 2


def test_run_announce_at_start_sends_both_forms(lab, engine, tmp_path):
    announcing = ("--announce", "--announce-count", "2", "--announce-interval", "0.2")
    with (
        tcpdump(lab, lab.peer_ns, PEER_IF, tmp_path / "announce.pcap") as frames,
        responder(lab, engine, *announcing, tokens=["198.51.100.7", "198.51.100.8"]) as r,
    ):
        lab.run(lab.peer_ns, "sleep", "1")
        assert r.stop() == 0
    garp = [(f.dst, f["ARP"].op, f["ARP"].psrc, f["ARP"].pdst, f["ARP"].hwsrc, f["ARP"].hwdst) for f in frames
            if f.src == RESPONDER_MAC]  # fmt: skip
    zero = "00:00:00:00:00:00"
    bcast = "ff:ff:ff:ff:ff:ff"
    one_round = [
        (bcast, OP_REQUEST, "198.51.100.7", "198.51.100.7", RESPONDER_MAC, zero),
        (bcast, OP_REPLY, "198.51.100.7", "198.51.100.7", RESPONDER_MAC, RESPONDER_MAC),
        (bcast, OP_REQUEST, "198.51.100.8", "198.51.100.8", RESPONDER_MAC, zero),
        (bcast, OP_REPLY, "198.51.100.8", "198.51.100.8", RESPONDER_MAC, RESPONDER_MAC),
    ]
    assert garp == one_round * 2
    assert re.search(r"gratuitous ARP frames sent\s+8", r.stdout)


def test_dry_run_decides_but_sends_nothing(lab, engine):
    with responder(lab, engine, "--dry-run") as r:
        code, macs = lab.arping("198.51.100.150", count=2)
        assert r.stop() == 0
    assert (code, macs) == (1, [])
    assert re.search(r"would have replied \(dry run\)\s+2", r.stdout)


def test_verbose_logs_each_decision(lab, engine):
    with responder(lab, engine, "-v") as r:
        lab.arping("198.51.100.150", count=1)
        lab.arping("198.51.100.192", count=1)
        PeerPort(lab).exchange([request(spa="198.51.100.151", tpa="198.51.100.151")], window=0.2)
        r.stop()
    assert re.search(r"reply 198\.51\.100\.150 is-at 02:00:00:00:00:01 .*for who-has 198\.51\.100\.150", r.stderr)
    assert re.search(r"drop gratuitous: who-has 198\.51\.100\.151", r.stderr)
    if engine == "packet":  # its kernel filter holds the set: out-of-set requests never reach the decision
        assert "kernel filter: the set's 3 range(s)" in r.stderr  # .7, .128-.129, .131-.191
        assert "198.51.100.192" not in r.stderr
    else:
        assert re.search(r"drop not-in-set: who-has 198\.51\.100\.192", r.stderr)


def test_what_the_kernel_filter_passes_bounds_every_count(lab, engine):
    """Announcements (gratuitous) in and out of the set: the packet engine, whose filter holds the set, sees only
    the one in it, and its summary says so; the scapy engine's filter passes every ARP frame."""
    announcements = [request(spa=ip, tpa=ip) for ip in ("198.51.100.150", "198.51.100.200")]
    with responder(lab, engine) as r:
        PeerPort(lab).exchange(announcements, window=0.3)
        assert r.stop() == 0
    seen = 1 if engine == "packet" else 2
    assert re.search(rf"^\s+gratuitous\s+{seen}$", r.stdout, re.MULTILINE), r.stdout
    passes = "ARP requests for the set's targets, and ARP frames from" if engine == "packet" else "every ARP frame:"
    assert f"the kernel filter passes {passes}" in r.stdout
