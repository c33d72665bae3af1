"""What a running instance tells: JSON snapshot, `stats`, Prometheus, pcap, live panel, logs, control socket.

Known numbers of frames of each kind go from the peer's namespace, slowly,
and every counter must equal what the engine can see.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from arpresponder.codec import OP_REPLY, parse_mac
from arpresponder.decision import Drop
from arpresponder.lab.netns import RESPONDER_IF, RESPONDER_MAC, ResponderProcess

from .frames import patched, request
from .wire import PeerPort, arpresponder_in

pytestmark = pytest.mark.wire

SET = "198.51.100.0/25"
IN_SET = {"198.51.100.10": 5, "198.51.100.11": 3}  # target → requests sent
OUT_OF_SET = {"198.51.100.200": 4}
UNSUPPORTED = 2  # htype 2
TRUNCATED = 1  # 41 bytes
REPLIES = 3  # op 2: the kernel's BPF filter removes them before we see them

OURS = parse_mac(RESPONDER_MAC)


def known_traffic() -> list[bytes]:
    frames = []
    for target, n in (*IN_SET.items(), *OUT_OF_SET.items()):
        frames += [request(tpa=target)] * n
    frames += [patched(request(tpa="198.51.100.10"), 14, "!H", 2)] * UNSUPPORTED
    frames += [request(tpa="198.51.100.10")[:41]] * TRUNCATED
    frames += [request(tpa="198.51.100.10", op=OP_REPLY)] * REPLIES
    return frames


# What each engine's kernel filter passes: the packet engine compiles the set into its filter (none of the known
# traffic comes from an address of the set, so only the requests for its targets pass); the scapy engine's passes
# every ARP frame.
PASSED = {"packet": "ARP requests for the set's targets, and ARP frames from the set's addresses",
          "scapy": "every ARP frame"}  # fmt: skip


def expected_counts(engine: str = "packet", engine_drops_known: bool = True) -> dict:
    in_set = sum(IN_SET.values())
    seen = {"unsupported": UNSUPPORTED}  # a request for .10 in all but its ptype: it passes the packet engine's filter
    if engine == "scapy":
        seen |= {"not-in-set": sum(OUT_OF_SET.values()), "truncated": TRUNCATED, "not-request": REPLIES}
    dropped = {str(r): seen.get(r, 0) for r in Drop}
    return {
        "received": in_set + sum(dropped.values()),
        "replied": in_set,
        "sent": in_set,
        "send_errors": 0,
        "dropped": dropped,
        "kernel_filter": PASSED[engine],
        "kernel_drops": 0 if engine_drops_known else None,
        "announced": 0,
    }


def counters(snap: dict) -> dict:
    """The lab's one interface's figures."""
    link = snap["interfaces"][RESPONDER_IF]
    return {key: link[key] for key in expected_counts()}


def run_with(lab, tmp_path, *extra, engine="packet"):
    return ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--engine", engine, "--ip", SET,
                                  "--control-socket", str(tmp_path / "ctl.sock"), *extra])  # fmt: skip


def send_known_traffic(lab) -> list[bytes]:
    """The known frames from the peer, 1 ms apart; what came back."""
    port = PeerPort(lab)
    try:
        return port.exchange(known_traffic(), window=1.0)
    finally:
        port.close()


def stats_json(lab, tmp_path) -> dict:
    result = arpresponder_in(lab, lab.responder_ns, "stats", "--json", "--control-socket", str(tmp_path / "ctl.sock"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("engine", ["packet", "scapy"])
def test_counters_are_exact_in_stats_json_and_the_snapshot_file(lab, tmp_path, engine):
    snapshot_file = tmp_path / "stats.json"
    with run_with(lab, tmp_path, "--stats-json", str(snapshot_file), engine=engine) as r:
        back = send_known_traffic(lab)
        live = stats_json(lab, tmp_path)
        time.sleep(1.5)  # the file is rewritten every second
        periodic = json.loads(snapshot_file.read_text())
        assert r.stop() == 0
    final = json.loads(snapshot_file.read_text())
    assert len([f for f in back if f[12:14] == b"\x08\x06" and f[21] == OP_REPLY]) == sum(IN_SET.values())
    expected = expected_counts(engine, engine_drops_known=live["kernel_drops"] is not None)
    assert counters(live) == expected
    assert counters(periodic) == expected
    assert counters(final) == expected
    link = live["interfaces"][RESPONDER_IF]
    assert (link["interface"], link["engine"], link["mac"], link["state"]) == (
        RESPONDER_IF,
        engine,
        RESPONDER_MAC,
        "answering",
    )
    totals = [key for key in expected_counts() if key != "kernel_filter"]  # (a link's filter has no total)
    assert {key: link[key] for key in totals} == {key: live[key] for key in totals}  # one link: it is the total
    assert final["uptime_s"] > live["uptime_s"] > 0
    # Every frame that carries a whole address, whatever became of it (the 41-byte one lacks its target's last byte).
    # The scapy engine sees the replies to .10 too; the packet engine's filter keeps them and the out-of-set target.
    to_10 = 5 + UNSUPPORTED + (REPLIES if engine == "scapy" else 0)
    targets = [{"ip": "198.51.100.10", "count": to_10}, {"ip": "198.51.100.200", "count": 4},
               {"ip": "198.51.100.11", "count": 3}]  # fmt: skip
    if engine == "packet":
        del targets[1]
    assert live["top_targets"] == targets
    assert live["top_senders"] == [{"ip": "192.0.2.2", "count": expected["received"]}]
    if engine == "packet":
        assert live["kernel_drops"] == 0


def test_prometheus_scrape_matches_the_json_snapshot(lab, tmp_path):
    with run_with(lab, tmp_path, "--metrics", "127.0.0.1:9417") as r:
        send_known_traffic(lab)
        snap = stats_json(lab, tmp_path)
        # The endpoint listens in the responder's namespace.
        with (
            lab.inside(lab.responder_ns),
            urllib.request.urlopen("http://127.0.0.1:9417/metrics", timeout=5) as response,
        ):
            assert response.status == 200
            text = response.read().decode()
        assert r.stop() == 0
    samples = {
        (s.name, s.labels.get("reason")): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.labels.get("interface") in (RESPONDER_IF, None)
    }
    assert samples[("arpresponder_received_frames_total", None)] == snap["received"] == expected_counts()["received"]
    assert samples[("arpresponder_replies_total", None)] == snap["replied"]
    assert samples[("arpresponder_replies_sent_total", None)] == snap["sent"]
    assert samples[("arpresponder_announcements_sent_total", None)] == snap["announced"]
    assert samples[("arpresponder_kernel_drops_total", None)] == snap["kernel_drops"]
    dropped = {reason: v for (name, reason), v in samples.items() if name == "arpresponder_dropped_frames_total"}
    assert dropped == snap["dropped"]
    assert dropped["not-request"] == 0  # the replies never pass the packet engine's filter
    assert not any("198.51.100" in line for line in text.splitlines()), "no label per IP"


def test_pcap_holds_the_requests_handled_and_the_replies_sent(lab, tmp_path):
    from scapy.utils import RawPcapReader

    pcap = tmp_path / "capture.pcap"
    with run_with(lab, tmp_path, "--pcap", str(pcap)) as r:
        back = send_known_traffic(lab)
        assert r.stop() == 0
    written = [data for data, _meta in RawPcapReader(str(pcap))]
    # What the packet engine's BPF filter lets through: whole requests for targets in SET (198.51.100.0/25).
    handled = [
        f for f in known_traffic() if f[21] != OP_REPLY and len(f) >= 42 and f[38:41] == b"\xc6\x33\x64" and f[41] < 128
    ]
    replies = [f for f in back if f[21] == OP_REPLY]
    assert [f for f in written if f[6:12] != OURS] == handled
    assert [f for f in written if f[6:12] == OURS] == replies
    assert subprocess.run(["tcpdump", "-r", str(pcap), "-n"], capture_output=True, check=False).returncode == 0


def test_pcap_max_bounds_the_file(lab, tmp_path):
    from scapy.utils import RawPcapReader

    pcap = tmp_path / "capture.pcap"
    with run_with(lab, tmp_path, "--pcap", str(pcap), "--pcap-max", "5") as r:
        send_known_traffic(lab)
        assert r.stop() == 0
    assert len(list(RawPcapReader(str(pcap)))) == 5
    assert "capture stopped" in r.stderr


def test_control_socket_is_owner_only_and_survives_bad_commands(lab):
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to connect as another user")
    path = f"/run/arpresponder/{lab.responder_ns}/{RESPONDER_IF}.sock"  # the default inside `ip netns exec`
    with ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", SET]) as r:
        assert f"control socket: {path}" in r.stderr
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600 and os.stat(path).st_uid == 0
        connect = f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})"
        as_nobody = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                    sys.executable, "-c", connect], capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert as_nobody.returncode != 0 and "PermissionError" in as_nobody.stderr
        for bad, error in ((b"bogus\n", "unknown command 'bogus'"), (b"x" * 5000, "command too long"),
                           (b"\xff\xfe\n", "not ASCII")):  # fmt: skip
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                s.sendall(bad)
                answer = json.loads(s.makefile().readline())
            assert error in answer["error"] and "commands: stats" in answer["error"]
        # Still running and answering; found without naming a socket, as the container's health check asks.
        result = arpresponder_in(lab, lab.responder_ns, "stats", "--json")
        assert result.returncode == 0 and list(json.loads(result.stdout)["interfaces"]) == [RESPONDER_IF]
        plain = arpresponder_in(lab, lab.responder_ns, "stats")
        assert plain.returncode == 0 and "drops by reason" in plain.stdout
        assert r.stop() == 0
    assert not os.path.exists(path)  # removed at exit
    gone = arpresponder_in(lab, lab.responder_ns, "stats", "-i", RESPONDER_IF)
    assert gone.returncode == 1 and gone.stderr.startswith("arpresponder: error: no control socket at")
    assert len(gone.stderr.strip().splitlines()) == 1


def test_stats_watch_json_prints_a_line_a_tick(lab, tmp_path):
    with run_with(lab, tmp_path) as r:
        watch = subprocess.Popen(["ip", "netns", "exec", lab.responder_ns, sys.executable, "-m", "arpresponder", "stats",
                                  "--json", "--watch", "--interval", "0.2", "--control-socket", str(tmp_path / "ctl.sock")],
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            first = json.loads(watch.stdout.readline())
            send_known_traffic(lab)
            time.sleep(0.3)
            later = json.loads(watch.stdout.readline())
            while later["received"] < first["received"] + expected_counts()["received"]:
                later = json.loads(watch.stdout.readline())
        finally:
            watch.terminate()
            watch.wait(timeout=10)
        assert later["uptime_s"] > first["uptime_s"]
        assert r.stop() == 0


def test_json_log_format_and_the_periodic_stats_line(lab, tmp_path):
    with run_with(lab, tmp_path, "--log-format", "json", "--stats-interval", "0.3", "-v") as r:
        send_known_traffic(lab)
        time.sleep(0.8)
        assert r.stop() == 0
    records = [json.loads(line) for line in r.stderr.splitlines()]  # every line is one JSON object
    assert all(set(rec) == {"time", "level", "message"} for rec in records)
    messages = [rec["message"] for rec in records]
    assert any(m.startswith("ready: answering 128 addresses on r0") for m in messages)
    assert sum(m.startswith("reply ") for m in messages) == sum(IN_SET.values())  # DEBUG: one line per decision
    assert sum(m.startswith("drop unsupported") for m in messages) == UNSUPPORTED
    assert not any(m.startswith("drop not-in-set") for m in messages)  # the packet engine's filter holds the set
    last_stats = [m for m in messages if m.startswith("stats: ")][-1]
    assert f"received {expected_counts()['received']} " in last_stats
    assert f"unsupported {UNSUPPORTED}" in last_stats


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", TMUX_SERVER, *args], capture_output=True, text=True, timeout=10, check=True
    ).stdout


TMUX_SERVER = f"arpr-test-{os.getpid()}"


def test_live_panel_in_a_real_80x24_terminal(lab, tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed to draw the live panel in a real terminal")
    command = (f"ip netns exec {lab.responder_ns} {sys.executable} -m arpresponder run -i {RESPONDER_IF} --ip {SET} "
               f"--control-socket {tmp_path / 'ctl.sock'} --live --duration 20 2>{tmp_path / 'stderr'}")  # fmt: skip
    tmux("new-session", "-d", "-s", "live", "-x", "80", "-y", "24", command)
    try:
        deadline = time.monotonic() + 15
        while (
            "recent events" not in (before := tmux("capture-pane", "-p", "-t", "live")) and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        send_known_traffic(lab)
        time.sleep(1.0)  # a few redraws
        after = tmux("capture-pane", "-p", "-t", "live")
    finally:
        subprocess.run(["tmux", "-L", TMUX_SERVER, "kill-server"], capture_output=True, timeout=10, check=False)
    for screen in (before, after):
        lines = screen.rstrip("\n").split("\n")
        assert len(lines) <= 24 and max(len(line) for line in lines) <= 80
        assert re.match(r"arpresponder  pid \d+  up \d+:\d\d:\d\d  1 interface$", lines[0]), lines[0]
        row = next(line for line in lines if line.startswith(f"{RESPONDER_IF} "))
        assert row.split()[:4] == [RESPONDER_IF, "answering", RESPONDER_MAC, "packet"]
        assert "recent events" in screen and "ready: answering 128 addresses" in screen  # the bottom part fits

    def received(screen):
        return int(next(row for row in screen.splitlines() if row.strip().startswith("received")).split()[1])

    assert received(before) == 0
    assert received(after) == expected_counts()["received"]
    assert re.search(rf"^ unsupported +{UNSUPPORTED}\b", after, re.MULTILINE)
    assert "198.51.100.10" in after and "192.0.2.2" in after  # top requested IPs and requesters
