"""claim = "unowned" on the wire: a bridge with three parties — the responder, a host that owns some addresses of
the subnet (a kernel with those addresses assigned), and a client. The client resolves the owned addresses to the
owner and every other one to the responder; arp-scan sees each address once; a host that starts using a claimed
address takes it back."""

from __future__ import annotations

import json
import re

import pytest

from arpresponder.lab.netns import RESPONDER_IF, RESPONDER_MAC, ResponderProcess

from .wire import Switch, arp_scan, arpresponder_in, kernel_resolves

pytestmark = pytest.mark.wire

OWNER_MAC, CLIENT_MAC = "02:00:00:00:0a:01", "02:00:00:00:0c:01"
OWNED = ["198.51.100.10", "198.51.100.11"]  # assigned to the owner's interface
WAIT = 0.2  # --claim-wait, seconds


@pytest.fixture
def parties(lab):
    """(owner namespace, client namespace) on the lab's bridge, with the responder's r0."""
    switch = Switch(lab)
    owner = switch.host(1, "o0", OWNER_MAC, "192.0.2.3")
    for ip in OWNED:
        lab.run(owner, "ip", "address", "add", f"{ip}/32", "dev", "o0")
    client = switch.host(2, "c0", CLIENT_MAC, "192.0.2.4")
    return owner, client


def claiming(lab) -> ResponderProcess:
    return ResponderProcess(
        lab, ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.0/27", "--claim", "unowned", "--claim-wait", str(WAIT)]
    )


def arping(lab, ns: str, ip: str, count: int = 1) -> list[tuple[str, float]]:
    """iputils arping from the client: (MAC, round-trip ms) of each reply."""
    out = lab.run(ns, "arping", "-c", str(count), "-w", "3", "-I", "c0", ip, check=False).stdout
    return [(mac.lower(), float(ms)) for mac, ms in re.findall(r"reply from \S+ \[([0-9A-Fa-f:]+)\]\s+([\d.]+)ms", out)]


def test_a_free_address_is_answered_after_the_wait_and_at_full_speed_after(lab, parties):
    _owner, client = parties
    with claiming(lab):
        [(mac, first_ms)] = arping(lab, client, "198.51.100.5")
        assert mac == RESPONDER_MAC
        later = [ms for _mac, ms in arping(lab, client, "198.51.100.5", count=3)]
        print(f"\nclaim-wait {WAIT * 1000:.0f} ms: first answer {first_ms:.1f} ms, later {later} ms")
        assert WAIT * 1000 <= first_ms < WAIT * 1000 + 100, "probes wait, then the request is answered at once"
        assert len(later) == 3 and max(later) < 50
        snap = json.loads(arpresponder_in(lab, lab.responder_ns, "stats", "--json").stdout)["interfaces"]["r0"]
        assert snap["claims"] == {"claimed": 1, "probing": 0}
        assert snap["probes_sent"] == 2 and snap["replied_late"] == 1
        assert snap["conflict_outcomes"]["claimed"] == 1


def test_the_client_resolves_owned_addresses_to_the_owner_and_the_rest_to_us(lab, parties):
    owner, client = parties
    ips = [*OWNED, "198.51.100.5", "198.51.100.20"]
    with claiming(lab):
        resolved = kernel_resolves(lab, ips, client, "c0")
        assert resolved == {
            "198.51.100.10": OWNER_MAC,
            "198.51.100.11": OWNER_MAC,
            "198.51.100.5": RESPONDER_MAC,
            "198.51.100.20": RESPONDER_MAC,
        }
        found = arp_scan(lab, "198.51.100.1-198.51.100.30", ns=client, iface="c0")
        ips_found = [ip for ip, _mac in found]
        assert sorted(ips_found) == sorted(f"198.51.100.{n}" for n in range(1, 31)), "each address exactly once"
        assert {ip: mac for ip, mac in found if mac == OWNER_MAC}.keys() == set(OWNED)

        # The owner starts using .20, which we claimed, and announces it: released to it.
        lab.run(owner, "ip", "address", "add", "198.51.100.20/32", "dev", "o0")
        lab.run(owner, "arping", "-U", "-c", "1", "-I", "o0", "198.51.100.20", check=False)
        assert {mac for mac, _ms in arping(lab, client, "198.51.100.20", count=2)} == {OWNER_MAC}
        snap = json.loads(arpresponder_in(lab, lab.responder_ns, "stats", "--json").stdout)["interfaces"]["r0"]
        assert snap["conflict_outcomes"]["released"] == 1
        assert snap["dropped"]["owned-by-other"] >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["activate"], "arpresponder: error: no running arpresponder"),
        (["run", "-i", "r0", "--ip", "198.51.100.1", "--on-conflict", "fight"], "'fight'"),
        (["run", "-i", "r0", "--ip", "198.51.100.1", "--claim", "unowned", "--claim-wait", "0"], "--claim-wait"),
        (["run", "-i", "r0", "--ip", "198.51.100.1", "--claim", "unowned", "--claim-wait", "-1"], "--claim-wait"),
    ],
)
def test_bad_ownership_input_is_one_line(lab, args, message):
    result = arpresponder_in(lab, lab.responder_ns, *args)
    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
