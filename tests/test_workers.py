"""`run --workers N` on the wire: every worker answers a share, each request is answered once, the counts add up."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter

import pytest

from arpresponder.codec import ArpFrame, format_ipv4
from arpresponder.lab.netns import RESPONDER_IF, RESPONDER_MAC, ResponderProcess
from arpresponder.observe.stats import Stats
from arpresponder.observe.topk import TopK

from .frames import request
from .wire import PeerPort, arpresponder_in

REQUESTS = 2000


def stats(lab) -> dict:
    result = arpresponder_in(lab, lab.responder_ns, "stats", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.wire
def test_two_workers_share_the_requests_answer_each_once_and_count_them_all(lab):
    port = PeerPort(lab)
    frames = [request(tpa=f"198.51.100.{1 + n % 200}", spa=f"192.0.2.{10 + n // 200}") for n in range(REQUESTS)]
    with ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.0/24", "--workers", "2"]) as r:
        deadline = time.monotonic() + 15
        while "started 1 more worker" not in r.stderr or len(_packet_sockets(lab)) < 2:
            assert time.monotonic() < deadline, r.stderr
            time.sleep(0.1)
        # The worker's socket rejects every frame until it is in the group, then takes its filter: two system
        # calls apart, which this leaves behind (a request in between would go unanswered, never answered twice).
        time.sleep(0.2)
        # A burst at a time: the workers' rings fill and each takes its share as a batch, like under a flood.
        replies = []
        for start in range(0, REQUESTS, 200):
            for frame in frames[start : start + 200]:
                port.sock.send(frame)
            replies += port.collect(0.2)
        replies += port.collect(1.0)
        snapshot = stats(lab)
        assert r.stop() == 0
    asked = Counter((format_ipv4(ArpFrame.from_bytes(f).spa), format_ipv4(ArpFrame.from_bytes(f).tpa)) for f in frames)
    answered = Counter(
        (format_ipv4(reply.tpa), format_ipv4(reply.spa))
        for reply in map(ArpFrame.from_bytes, replies)
        if reply.op == 2 and reply.sha == bytes.fromhex(RESPONDER_MAC.replace(":", ""))
    )
    assert answered == asked  # every request answered, none twice
    # Counted once each, in every view: the snapshot (`stats --json`, the panel and /metrics read it) and the summary.
    assert snapshot["received"] == REQUESTS and snapshot["replied"] == REQUESTS, (snapshot, r.stderr)
    assert not any(snapshot["dropped"].values()), snapshot["dropped"]  # no worker saw another's replies
    assert re.search(rf"frames seen +{REQUESTS}\n", r.stdout), r.stdout
    assert snapshot["interfaces"]["r0"]["sent"] == REQUESTS
    shares = re.search(r"frames received by each worker: 0: (\d+), 1: (\d+)", r.stderr)
    assert shares, r.stderr
    assert int(shares[1]) + int(shares[2]) == REQUESTS
    assert min(int(shares[1]), int(shares[2])) >= REQUESTS // 4  # round robin: both answer, about half each


@pytest.mark.wire
@pytest.mark.parametrize(
    "args, message",
    [
        (["--on-conflict", "yield"], r"on_conflict = yield .* would see only a share"),
        (["--engine", "scapy"], r"--workers needs the packet engine"),
        (["--standby"], r"--workers cannot stand by"),
        (["--workers", "0"], r"--workers"),
        (["--pcap", "/tmp/arpr-workers-test.pcap"], r"--pcap captures what one process handles"),
    ],
)
def test_what_workers_cannot_share_is_one_error_line(lab, args, message):
    result = arpresponder_in(lab, lab.responder_ns, "run", "-i", RESPONDER_IF, "--ip", "198.51.100.7", "--workers", "2",
                             *args)  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("arpresponder: error:")]
    assert result.returncode == 2 and len(errors) == 1 and re.search(message, errors[0]), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.wire
def test_a_worker_killed_is_logged_and_the_others_take_its_share(lab):
    port = PeerPort(lab)
    with ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.0/24", "--workers", "2"]) as r:
        deadline = time.monotonic() + 15
        while not (started := re.search(r"started 1 more worker\(s\): pids (\d+)", r.stderr)):
            assert time.monotonic() < deadline, r.stderr
            time.sleep(0.1)
        pid = int(started[1])
        os.kill(pid, signal.SIGKILL)
        while f"worker 1 (pid {pid}) ended (by signal 9)" not in r.stderr:
            assert time.monotonic() < deadline, r.stderr
            time.sleep(0.1)
        replies = port.exchange([request(tpa=f"198.51.100.{n}") for n in range(1, 21)])
        assert len([f for f in replies if f[21] == 2]) == 20  # the survivor answers all
        assert not os.path.exists(f"/proc/{pid}")  # reaped, no zombie


@pytest.mark.wire
@pytest.mark.parametrize("change", ['engine = "scapy"', 'on_conflict = "yield"', 'claim = "unowned"'])
def test_a_reload_workers_cannot_share_changes_nothing(lab, tmp_path, change):
    config = tmp_path / "lab.toml"
    config.write_text('interface = "r0"\naddresses = ["198.51.100.7"]\n')
    port = PeerPort(lab)
    with ResponderProcess(lab, ["run", "-c", str(config), "--workers", "2"]):
        config.write_text(f'interface = "r0"\naddresses = ["198.51.100.7", "198.51.100.8"]\n{change}\n')
        result = arpresponder_in(lab, lab.responder_ns, "reload")
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
        assert "reload failed, nothing changed" in result.stderr and "workers" in result.stderr
        replies = [
            ArpFrame.from_bytes(f) for f in port.exchange([request(tpa="198.51.100.7"), request(tpa="198.51.100.8")])
        ]
        assert sorted(format_ipv4(f.spa) for f in replies if f.op == 2) == ["198.51.100.7"]  # the old set, still


def _packet_sockets(lab) -> list[str]:
    """The receiving packet sockets in the responder's namespace (/proc/net/packet rows bound to ETH_P_ALL)."""
    rows = lab.run(lab.responder_ns, "cat", "/proc/net/packet").stdout.splitlines()[1:]
    return [row for row in rows if row.split()[3] == "0003"]


def test_the_main_process_adds_up_a_workers_counts():
    worker, main = Stats(interface="r0", engine="packet"), Stats(interface="r0", engine="packet")
    main.received, main.replied = 5, 4
    worker.received, worker.replied, worker.sent, worker.kernel_drops = 7, 6, 6, 2
    worker.top_targets.update([b"\xc6\x33\x64\x01"] * 7)
    share = worker.take_counts()
    assert (worker.received, worker.replied, worker.sent, worker.kernel_drops) == (0, 0, 0, 0)
    main.add_counts(share)
    assert (main.received, main.replied, main.sent, main.kernel_drops) == (12, 10, 6, 2)
    assert main.top_targets.top(1) == [(b"\xc6\x33\x64\x01", 7)]


def test_merged_top_k_counts_add():
    a, b = TopK(4), TopK(4)
    a.update([b"x"] * 3 + [b"y"])
    b.update([b"x"] * 2)
    a.merge(b.take())
    assert a.top(1) == [(b"x", 5)] and b.take() == {}
