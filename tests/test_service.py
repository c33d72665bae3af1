"""`run` as a service, on the wire: reload, several interfaces, interfaces that come and go, periodic announcements,
VLANs, least privilege. Every case in a lab of its own, with real clients."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from arpresponder.codec import ArpFrame, format_ipv4
from arpresponder.lab.netns import PEER_IF, RESPONDER_IF, RESPONDER_MAC, ResponderProcess

from .frames import request, tagged
from .wire import PeerPort, arpresponder_in, tcpdump

pytestmark = pytest.mark.wire


def run(lab, *args, **kw) -> ResponderProcess:
    return ResponderProcess(lab, ["run", *args], **kw)


def stats(lab, *args: str) -> dict:
    result = arpresponder_in(lab, lab.responder_ns, "stats", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def answered(replies: list[bytes]) -> list[str]:
    return sorted(format_ipv4(ArpFrame.from_bytes(f).spa) for f in replies)


def wait_for(condition, timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- reload ---


def test_reload_adds_and_removes_addresses_and_a_bad_config_changes_nothing(lab, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text('interface = "r0"\naddresses = ["198.51.100.10", "198.51.100.11"]\n')
    port = PeerPort(lab)
    with run(lab, "-c", str(config)) as r:
        before = stats(lab)
        assert answered(port.exchange([request(tpa=f"198.51.100.{n}") for n in (10, 11, 12)])) == [
            "198.51.100.10",
            "198.51.100.11",
        ]
        config.write_text('interface = "r0"\naddresses = ["198.51.100.10", "198.51.100.12"]\n')
        result = arpresponder_in(lab, lab.responder_ns, "reload")
        returned = time.monotonic()
        assert result.returncode == 0 and result.stdout == "r0: answering for 2 addresses\n", result.stderr
        # The moment reload returns: the removed address gets nothing, the added one its answer within 1 s.
        assert answered(port.exchange([request(tpa="198.51.100.11")], window=0.3)) == []
        assert answered(port.exchange([request(tpa="198.51.100.12")], window=0.3)) == ["198.51.100.12"]
        assert time.monotonic() - returned < 1.0
        after = stats(lab)
        assert after["received"] > before["received"]  # counters carry on
        assert after["interfaces"]["r0"]["loaded_at"] > before["interfaces"]["r0"]["loaded_at"]

        config.write_text('interface = "r0"\naddresses = ["198.51.100.300"]\n')
        bad = arpresponder_in(lab, lab.responder_ns, "reload")
        assert bad.returncode == 1
        error = (
            "arpresponder: error: reload failed, nothing changed (the sets loaded before keep answering): "
            f"{config}:2 addresses[0]: '198.51.100.300': not an IPv4 address"
        )
        assert bad.stderr.splitlines() == [error]
        config.unlink()  # and SIGHUP with the config gone: logged, and nothing changes either
        os.kill(r.pid, signal.SIGHUP)
        wait_for(lambda: "No such file or directory" in r.stderr, what="the SIGHUP's error in the log")
        assert answered(port.exchange([request(tpa="198.51.100.12")])) == ["198.51.100.12"]
        assert r.stop() == 0
    port.close()
    assert re.search(r"ERROR\s+reload \(SIGHUP\) failed; still answering for the set loaded at", r.stderr)


def packet_sockets(pid: int) -> set[str]:
    """The inodes of the process's AF_PACKET sockets (from /proc: what sockets it holds, and which are packet)."""
    packet = {line.split()[8] for line in Path("/proc/net/packet").read_text().splitlines()[1:]}
    mine = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    return mine & packet


def test_a_reload_under_a_flood_loses_no_more_than_the_flood_alone(lab, tmp_path):
    """The filter is swapped on the same socket between two batches: requests for addresses in both sets all answered."""
    config = tmp_path / "lab.toml"
    config.write_text('interface = "r0"\naddresses = ["198.51.100.0/25"]\n')
    with run(lab, "-c", str(config)) as r:

        def flood(reload_midway: bool) -> tuple[int, int]:
            """(sent, answered): 4000 requests for 198.51.100.1-100 at ~4000/s, from the peer."""
            with lab.inside(lab.peer_ns):
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
            sock.bind((PEER_IF, 0x0806))
            sock.settimeout(0.5)
            answered_count = 0

            def count() -> None:
                nonlocal answered_count
                while True:
                    try:
                        data, address = sock.recvfrom(128)
                    except TimeoutError:
                        return
                    if address[2] != socket.PACKET_OUTGOING and data[20:22] == b"\x00\x02":
                        answered_count += 1

            counter = threading.Thread(target=count)
            counter.start()
            frames = [request(tpa=f"198.51.100.{1 + n % 100}", spa=f"192.0.2.{10 + n % 200}") for n in range(4000)]
            for n, frame in enumerate(frames):
                sock.send(frame)
                if n % 40 == 39:
                    time.sleep(0.01)
                if reload_midway and n == 2000:
                    config.write_text('interface = "r0"\naddresses = ["198.51.100.0/24"]\n')
                    os.kill(r.pid, signal.SIGHUP)
            counter.join()
            sock.close()
            return len(frames), answered_count

        sockets = packet_sockets(r.pid)
        sent, plain = flood(False)
        sent, reloaded = flood(True)
        wait_for(lambda: "reloaded (SIGHUP)" in r.stderr, what="the reload")
        assert packet_sockets(r.pid) == sockets  # the same sockets: the filter was replaced, not the socket
        assert r.stop() == 0
    assert plain >= sent * 0.99
    assert reloaded >= plain - sent * 0.002, (plain, reloaded)


# --- several interfaces ---


def test_one_set_on_two_links_with_figures_per_interface_and_totals(lab):
    p1 = lab.add_peer(1)
    with run(lab, "-i", RESPONDER_IF, "-i", "r1", "--ip", "198.51.100.0/24", "--metrics", "127.0.0.1:9418") as r:
        assert lab.arping("198.51.100.7", count=2) == (0, [RESPONDER_MAC] * 2)
        assert lab.arping("198.51.100.8", count=3, ns=p1) == (0, ["02:00:00:00:01:01"] * 3)
        snap = stats(lab)
        by_interface = stats(lab, "-i", "r1")  # the instance is found by its second interface too
        with lab.inside(lab.responder_ns):
            import urllib.request

            with urllib.request.urlopen("http://127.0.0.1:9418/metrics", timeout=5) as response:
                metrics = response.read().decode()
        assert r.stop() == 0
    assert {label: (i["state"], i["replied"]) for label, i in snap["interfaces"].items()} == {
        "r0": ("answering", 2),
        "r1": ("answering", 3),
    }
    assert snap["replied"] == 5 and by_interface["pid"] == snap["pid"]
    assert 'arpresponder_replies_total{interface="r1"} 3.0' in metrics
    assert "all 2 interfaces" in r.stdout  # the summary has each, then the totals


def test_each_interface_with_its_own_set_from_the_config(lab, tmp_path):
    p1 = lab.add_peer(1)
    config = tmp_path / "lab.toml"
    config.write_text(
        '[[interfaces]]\nname = "r0"\naddresses = ["198.51.100.10"]\n'
        '[[interfaces]]\nname = "r1"\naddresses = ["198.51.100.20"]\n'
    )
    with run(lab, "-c", str(config)) as r:
        assert lab.arping("198.51.100.10", count=1) == (0, [RESPONDER_MAC])
        assert lab.arping("198.51.100.20", count=1)[1] == []
        assert lab.arping("198.51.100.20", count=1, ns=p1) == (0, ["02:00:00:00:01:01"])
        assert lab.arping("198.51.100.10", count=1, ns=p1)[1] == []
        assert r.stop() == 0


# --- interfaces that come and go ---


def test_an_interface_missing_at_start_is_answered_when_it_appears_and_after_it_comes_back(lab):
    with run(lab, "-i", RESPONDER_IF, "-i", "r1", "--ip", "198.51.100.0/24", "--announce",
             "--announce-count", "1") as r:  # fmt: skip
        assert "r1 does not exist (yet): waiting for it to appear" in r.stderr
        p1 = lab.add_peer(1)
        wait_for(lambda: stats(lab)["interfaces"]["r1"]["state"] == "answering", what="r1 to be answered on")
        assert lab.arping("198.51.100.8", count=2, ns=p1) == (0, ["02:00:00:00:01:01"] * 2)
        # Moved to another namespace: gone here; back: answered again.
        lab.run(lab.responder_ns, "ip", "link", "set", "r1", "netns", p1)
        wait_for(lambda: stats(lab)["interfaces"]["r1"]["state"] == "waiting", what="r1 to be gone")
        lab.run(p1, "ip", "link", "set", "r1", "netns", lab.responder_ns)
        lab.run(lab.responder_ns, "ip", "link", "set", "r1", "up")
        wait_for(lambda: stats(lab)["interfaces"]["r1"]["state"] == "answering", what="r1 to be back")
        assert lab.arping("198.51.100.9", count=2, ns=p1) == (0, ["02:00:00:00:01:01"] * 2)
        events = stats(lab)["interfaces"]["r1"]["link_events"]
        assert r.stop() == 0
    assert events["appeared"] == 2 and events["gone"] == 1
    assert r.stderr.count("r1 appeared") == 2
    assert re.search(
        r"r1 (is gone|disappeared).*; waiting for r1 to come back", r.stderr
    )  # netlink's word or the socket's


@pytest.mark.parametrize("engine", ["packet", "scapy"])
def test_an_interface_replaced_under_a_flood_is_answered_again(lab, engine):
    """The case that used to leave the responder deaf: r0 deleted and created again in one `ip -batch`."""
    with run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.0/24", "--engine", engine) as r:
        stop = threading.Event()

        def flood() -> None:
            with lab.inside(lab.peer_ns):
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            sock.bind((PEER_IF, 0))
            deadline = time.monotonic() + 3
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    sock.send(request(tpa="198.51.100.10"))
            except OSError:
                pass  # p0 went with the pair
            finally:
                sock.close()

        flooder = threading.Thread(target=flood)
        flooder.start()
        time.sleep(0.5)
        lab.replace_veth()
        stop.set()
        flooder.join()
        wait_for(lambda: stats(lab)["interfaces"]["r0"]["state"] == "answering", what="r0 to be answered on again")
        code, macs = lab.arping("198.51.100.20", count=3)
        assert r.stop() == 0
    assert (code, macs) == (0, [RESPONDER_MAC] * 3), r.stderr


def test_a_new_mac_is_in_the_next_reply_and_announced(lab, tmp_path):
    with (
        run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.10", "--announce", "--announce-count", "1") as r,
        tcpdump(lab, lab.peer_ns, PEER_IF, tmp_path / "mac.pcap") as frames,
    ):
        lab.run(lab.responder_ns, "ip", "link", "set", RESPONDER_IF, "address", "02:00:00:00:00:55")
        wait_for(lambda: "the MAC changed to 02:00:00:00:00:55" in r.stderr, what="the MAC change")
        assert lab.arping("198.51.100.10", count=1) == (0, ["02:00:00:00:00:55"])
        time.sleep(0.3)
        assert r.stop() == 0
    announced = {f["ARP"].hwsrc for f in frames if f["ARP"].psrc == f["ARP"].pdst == "198.51.100.10"}
    assert "02:00:00:00:00:55" in announced


def test_down_and_up_is_announced_again_and_counted(lab, tmp_path):
    with (
        tcpdump(lab, lab.peer_ns, PEER_IF, tmp_path / "updown.pcap") as frames,
        run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.10", "--announce", "--announce-count", "1") as r,
    ):
        time.sleep(0.3)
        lab.run(lab.responder_ns, "ip", "link", "set", RESPONDER_IF, "down")
        wait_for(lambda: stats(lab)["interfaces"]["r0"]["state"] == "down", what="down")
        lab.run(lab.responder_ns, "ip", "link", "set", RESPONDER_IF, "up")
        wait_for(lambda: stats(lab)["interfaces"]["r0"]["state"] == "answering", what="up")
        time.sleep(0.5)
        events = stats(lab)["interfaces"]["r0"]["link_events"]
        assert r.stop() == 0
    gratuitous = [f for f in frames if f["ARP"].psrc == f["ARP"].pdst == "198.51.100.10"]
    assert len(gratuitous) == 4  # both forms at start, and again once it came back up
    assert events == {"appeared": 1, "down": 1, "up": 1}
    assert "r0 is down; answering again once it is up" in r.stderr and "r0 is up: answering" in r.stderr


# --- periodic announcements ---


def test_announce_every_repeats_the_whole_set(lab, tmp_path):
    with (
        tcpdump(lab, lab.peer_ns, PEER_IF, tmp_path / "every.pcap") as frames,
        run(
            lab,
            "-i",
            RESPONDER_IF,
            "--ip",
            "198.51.100.10-198.51.100.11",
            "--announce",
            "--announce-count",
            "1",
            "--announce-every",
            "1",
        ) as r,  # fmt: skip
    ):
        time.sleep(3.4)
        assert r.stop() == 0
    gratuitous = [f for f in frames if f["ARP"].psrc == f["ARP"].pdst]
    rounds = len(gratuitous) // 4  # two addresses, two forms each
    assert 3 <= rounds <= 5 and len(gratuitous) % 4 == 0, len(gratuitous)


# --- VLANs ---


def vlan_device(lab, ns: str, parent: str, name: str, vid: int) -> None:
    """`ip link add link PARENT name NAME type vlan id VID`, or skip: a kernel without 802.1Q devices cannot."""
    result = lab.run(ns, "ip", "link", "add", "link", parent, "name", name, "type", "vlan", "id", str(vid), check=False)
    if "Unknown device type" in result.stderr:
        pytest.skip("this kernel has no 802.1Q VLAN devices (CONFIG_VLAN_8021Q is off): nothing to test on")
    assert result.returncode == 0, result.stderr


def test_a_vlan_sub_interface_is_just_another_interface(lab):
    vlan_device(lab, lab.responder_ns, RESPONDER_IF, "r0.100", 100)
    lab.run(lab.responder_ns, "ip", "link", "set", "r0.100", "up")
    vlan_device(lab, lab.peer_ns, PEER_IF, "p0.100", 100)
    lab.run(lab.peer_ns, "ip", "address", "add", "203.0.113.2/24", "dev", "p0.100")
    lab.run(lab.peer_ns, "ip", "link", "set", "p0.100", "up")
    with run(lab, "-i", "r0.100", "--ip", "203.0.113.10") as r:
        result = lab.run(lab.peer_ns, "arping", "-c", "2", "-w", "4", "-I", "p0.100", "203.0.113.10", check=False)
        assert r.stop() == 0
    assert result.stdout.count("reply from 203.0.113.10") == 2
    assert lab.arping("203.0.113.10", count=1)[1] == []  # untagged on the parent: nobody answers


@pytest.mark.parametrize("engine", ["packet", "scapy"])
def test_a_vlan_on_its_parent_is_answered_tagged_and_the_untagged_link_as_before(lab, tmp_path, engine):
    """r0 is a trunk: VLAN 100 answered there (vlan = 100), untagged frames by the untagged link, VLAN 10 by nobody."""
    config = tmp_path / "lab.toml"
    config.write_text(
        f'engine = "{engine}"\n'
        '[[interfaces]]\nname = "r0"\naddresses = ["198.51.100.10"]\n'
        '[[interfaces]]\nname = "r0"\nvlan = 100\naddresses = ["203.0.113.10"]\n'
    )
    port = PeerPort(lab)
    with run(lab, "-c", str(config)) as r:
        replies = port.exchange(
            [
                tagged(request(tpa="203.0.113.10"), 100),
                request(tpa="198.51.100.10"),
                tagged(request(tpa="198.51.100.10"), 10),
                request(tpa="203.0.113.10"),
            ]
        )
        snap = stats(lab)
        assert r.stop() == 0
    port.close()
    tagged_replies = [f for f in replies if f[12:14] == b"\x81\x00"]
    assert [f[14:16] for f in tagged_replies] == [b"\x00\x64"]  # VLAN 100, priority 0
    assert answered([f[:12] + f[16:] for f in tagged_replies]) == ["203.0.113.10"]
    assert answered([f for f in replies if f[12:14] == b"\x08\x06"]) == ["198.51.100.10"]
    assert snap["interfaces"]["r0 vlan 100"]["replied"] == 1 and snap["interfaces"]["r0"]["replied"] == 1


# --- least privilege ---


def capabilities(pid: int) -> dict[str, str]:
    status = Path(f"/proc/{pid}/status").read_text()
    return dict(re.findall(r"^(Uid|Gid|CapEff|CapPrm|CapBnd|CapInh|CapAmb):\s+(.*)$", status, re.MULTILINE))


def test_user_drops_root_keeps_only_net_raw_and_still_reopens_sockets(lab, tmp_path):
    control = tmp_path / "ctl.sock"
    with run(lab, "-i", RESPONDER_IF, "--ip", "198.51.100.0/24", "--user", "nobody",
             "--control-socket", str(control)) as r:  # fmt: skip
        wait_for(lambda: "running as nobody, with CAP_NET_RAW only" in r.stderr, what="the switch")
        caps = capabilities(r.pid)
        assert caps["Uid"].split() == ["65534"] * 4
        net_raw = f"{1 << 13:016x}"
        assert (caps["CapEff"], caps["CapPrm"], caps["CapBnd"], caps["CapInh"]) == (net_raw, net_raw, net_raw, "0" * 16)
        assert control.stat().st_uid == 65534  # the control socket belongs to the user
        assert lab.arping("198.51.100.7", count=1) == (0, [RESPONDER_MAC])
        lab.replace_veth()  # opening r0 again needs CAP_NET_RAW, and no more
        wait_for(lambda: r.stderr.count("r0 appeared") == 1, what="r0 to come back")
        wait_for(lambda: lab.arping("198.51.100.8", count=1) == (0, [RESPONDER_MAC]), what="r0 answered again")
        assert r.stop() == 0


def test_a_non_root_user_with_only_net_raw_runs_end_to_end(lab):
    home = Path(tempfile.mkdtemp(prefix="arpr-nobody-"))  # pytest's tmp_path is under a directory only root enters
    home.chmod(0o777)
    prefix = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
              "--inh-caps", "-all,+net_raw", "--ambient-caps", "+net_raw")  # fmt: skip
    r = ResponderProcess(
        lab, ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.0/24", "--control-socket", str(home / "c.sock")],
        prefix=prefix,
    )  # fmt: skip
    try:
        with r:
            assert lab.arping("198.51.100.7", count=2) == (0, [RESPONDER_MAC] * 2)
            assert capabilities(r.pid)["CapEff"] == f"{1 << 13:016x}" and capabilities(r.pid)["Uid"].startswith("65534")
            assert r.stop() == 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- bad input ---


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "-i", "r0", "-i", "r0", "--ip", "198.51.100.7"], 2, r"--interface r0 is given twice"),
        (
            ["run", "-i", "r0", "--ip", "198.51.100.7", "--user", "nosuchuser"],
            1,
            r"--user: no user named .nosuchuser. here",
        ),
        (["reload"], 1, r"no running arpresponder found"),
        (["run", "-i", "r0", "--ip", "198.51.100.7", "--announce-every", "0.5"], 2, r"--announce-every: expected"),
    ],
)
def test_bad_service_input_is_one_line(lab, args, code, message):
    result = arpresponder_in(lab, lab.responder_ns, *args)
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("arpresponder: error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), result.stderr
    assert "Traceback" not in result.stderr


def test_a_vlan_on_an_interface_that_is_not_its_parent(lab, tmp_path):
    vlan_device(lab, lab.responder_ns, RESPONDER_IF, "r0.100", 100)
    config = tmp_path / "lab.toml"
    config.write_text('[[interfaces]]\nname = "r0.100"\nvlan = 5\naddresses = ["198.51.100.7"]\n')
    result = arpresponder_in(lab, lab.responder_ns, "run", "-c", str(config), "--duration", "1")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "arpresponder: error: r0.100 vlan 5: r0.100 is itself a VLAN device (VLAN 100 of r0): give its parent, "
        'name = "r0", for vlan = 5'
    )
