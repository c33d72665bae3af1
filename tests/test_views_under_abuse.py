"""Views under abuse, on the wire: clients that connect and say nothing, a flood of half-open HTTP connections, a
pcap FIFO nobody reads, a stderr nobody reads. None of them may stop the answering, another view, or shutdown.

The misbehaving clients are real processes (tests/abusers.py) in the responder's namespace, bounded in count and
time; the answering is checked with iputils arping from the peer.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from arpresponder.lab.netns import PEER_IF, RESPONDER_IF, RESPONDER_MAC, LabProcess, ResponderProcess

from .frames import request
from .wire import arpresponder_in

pytestmark = pytest.mark.wire

ABUSERS = Path(__file__).with_name("abusers.py")
SET = "198.51.100.0/25"
ASKED = "198.51.100.5"  # what arping asks for: in SET
PORT = 9417  # in the lab's own namespace: no other test's port
STATS_WITHIN = 3.0  # seconds `stats --json` may take on this shared 2-core machine (its own timeout is 5 s)
STOP_WITHIN = 5.0  # seconds from SIGTERM to exit with a view stuck: each view gets about 1 s, then is abandoned


def run_with(lab, tmp_path, *extra) -> ResponderProcess:
    return ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", SET, "--control-socket", str(tmp_path / "ctl.sock"),
                                  *extra])  # fmt: skip


def abuser(lab, *args: str, ready: str) -> LabProcess:
    return LabProcess(lab.responder_ns, [sys.executable, str(ABUSERS), *args], ready_mark=ready)


def timed_stats(lab, tmp_path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = arpresponder_in(lab, lab.responder_ns, "stats", "--json", "--control-socket", str(tmp_path / "ctl.sock"))
    return result, time.monotonic() - started


def answers(lab, count: int = 3) -> list[str]:
    """The MACs of arping's replies from the peer: the loop is answering if there is one per request."""
    _code, macs = lab.arping(ASKED, count=count)
    return macs


def flood_requests(lab, tmp_path, n: int) -> dict:
    """n in-set requests from the peer, back to back (a burst, not a benchmark); the snapshot once all are handled.

    Waiting for them keeps their replies from crowding arping's socket afterwards.
    """
    with lab.inside(lab.peer_ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        sock.bind((PEER_IF, 0))
        frame = request(tpa="198.51.100.9")
        for _ in range(n):
            sock.send(frame)
    finally:
        sock.close()
    deadline = time.monotonic() + 20
    while True:
        result, took = timed_stats(lab, tmp_path)
        assert result.returncode == 0 and took < STATS_WITHIN, result.stderr
        snap = json.loads(result.stdout)
        if snap["received"] >= n or time.monotonic() > deadline:
            return snap
        time.sleep(0.2)


def stop_timed(process: LabProcess) -> tuple[int, float]:
    started = time.monotonic()
    code = process.stop(timeout=3 * STOP_WITHIN)  # then SIGKILL: the assertion on the time fails
    return code, time.monotonic() - started


def test_idle_control_clients_do_not_keep_stats_from_answering(lab, tmp_path):
    # The case: 9 clients that connect and never send, held (reconnected whenever the server closes them).
    with run_with(lab, tmp_path) as r:
        with abuser(lab, "hold-unix", str(tmp_path / "ctl.sock"), "9", "8", ready="holding 9"):
            for _ in range(3):  # over more than one of their 2 s deadlines
                result, took = timed_stats(lab, tmp_path)
                assert result.returncode == 0, result.stderr
                assert took < STATS_WITHIN
                assert list(json.loads(result.stdout)["interfaces"]) == [RESPONDER_IF]
                time.sleep(0.7)
            assert answers(lab) == [RESPONDER_MAC] * 3
        after, _ = timed_stats(lab, tmp_path)
        assert r.stop() == 0
    # The idle ones were closed at their deadline and counted; one log line for all of them (one a minute at most).
    assert json.loads(after.stdout)["control_dropped"] >= 9
    assert len([line for line in r.stderr.splitlines() if "closed unanswered" in line]) == 1
    assert "Traceback" not in r.stderr


def test_half_open_metrics_flood_starves_nothing_and_everything_recovers(lab, tmp_path):
    snapshot_file = tmp_path / "stats.json"
    with run_with(lab, tmp_path, "--metrics", f"127.0.0.1:{PORT}", "--stats-json", str(snapshot_file)) as r:
        fds_before = len(os.listdir(f"/proc/{r.pid}/fd"))
        with abuser(lab, "half-open", "127.0.0.1", str(PORT), "2000", "8", ready="half-open connections"):
            fds = len(os.listdir(f"/proc/{r.pid}/fd"))
            result, took = timed_stats(lab, tmp_path)
            assert result.returncode == 0, result.stderr
            assert took < STATS_WITHIN
            assert answers(lab) == [RESPONDER_MAC] * 3
        # The peer let go: a scrape is answered, stats too, and the snapshot file is still rewritten every second.
        with lab.inside(lab.responder_ns), urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=5) as got:
            assert got.status == 200
            text = got.read().decode()
        written = snapshot_file.stat().st_mtime
        time.sleep(1.5)
        assert snapshot_file.stat().st_mtime > written
        snap = json.loads(arpresponder_in(lab, lab.responder_ns, "stats", "--json",
                                          "--control-socket", str(tmp_path / "ctl.sock")).stdout)  # fmt: skip
        assert r.stop() == 0
    # At most 16 connections held at once, whatever the peer opens: the descriptors stay few (2000 were asked).
    assert fds <= fds_before + 16 + 2
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["arpresponder_metrics_dropped_connections_total"] >= 2000 - 16
    assert snap["metrics_dropped"] >= 2000 - 16
    assert "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if "closed unanswered" in line]) == 1


def test_pcap_fifo_without_a_reader_is_refused_at_start(lab, tmp_path):
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = arpresponder_in(lab, lab.responder_ns, "run", "-i", RESPONDER_IF, "--ip", SET,
                             "--control-socket", str(tmp_path / "ctl.sock"), "--pcap", str(fifo), timeout=20)  # fmt: skip
    assert time.monotonic() - started < 10
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("arpresponder: error:")]
    assert errors == [f"arpresponder: error: --pcap {fifo}: a FIFO with no reader; start the reader first"]
    assert "Traceback" not in result.stderr


def test_pcap_reader_that_stops_reading_never_stops_answering_nor_shutdown(lab, tmp_path):
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    with (
        abuser(lab, "stalled-reader", str(fifo), "60", ready="not reading"),
        run_with(lab, tmp_path, "--pcap", str(fifo)) as r,
    ):
        snap = flood_requests(lab, tmp_path, 3000)  # requests and replies: far more than the FIFO's 64 KiB holds
        assert snap["received"] == snap["sent"] == 3000
        assert answers(lab) == [RESPONDER_MAC] * 3
        code, took = stop_timed(r)
    assert code == 0
    assert took < STOP_WITHIN
    assert "pcap: writing" in r.stderr and "abandoned" in r.stderr
    dropped = [line.split()[-1] for line in r.stdout.splitlines() if "pcap frames dropped" in line]
    assert len(dropped) == 1 and int(dropped[0]) > 0


def test_stderr_nobody_reads_never_stops_answering_nor_shutdown(lab, tmp_path):
    fifo = tmp_path / "stderr"
    os.mkfifo(fifo)
    with abuser(lab, "stalled-reader", str(fifo), "60", ready="not reading"):
        stderr = os.open(fifo, os.O_WRONLY)  # the reader has it open: no wait
        try:
            proc = subprocess.Popen(["ip", "netns", "exec", lab.responder_ns, sys.executable, "-m", "arpresponder", "run",
                                     "-i", RESPONDER_IF, "--ip", SET, "--control-socket", str(tmp_path / "ctl.sock"), "-v"],
                                    stdout=subprocess.PIPE, stderr=stderr, text=True)  # fmt: skip
        finally:
            os.close(stderr)
        try:
            deadline = time.monotonic() + 15
            while timed_stats(lab, tmp_path)[0].returncode != 0:  # ready: its `ready:` line went where nobody reads
                assert time.monotonic() < deadline and proc.poll() is None, "did not start"
                time.sleep(0.2)
            # -v: a line per decision, more than the pipe (64 KiB) and the log's queue (4096 records) hold.
            snap = flood_requests(lab, tmp_path, 10_000)
            assert snap["received"] == snap["sent"] == 10_000
            assert snap["log_dropped"] > 0
            assert answers(lab) == [RESPONDER_MAC] * 3
            started = time.monotonic()
            proc.terminate()
            out, _ = proc.communicate(timeout=3 * STOP_WITHIN)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
    assert took < STOP_WITHIN
    assert "log records dropped" in out


def test_metrics_on_every_address_is_warned_about(lab, tmp_path):
    with run_with(lab, tmp_path, "--metrics", f"0.0.0.0:{PORT}") as r:
        # The warning is true: the peer reaches it on the lab link.
        with lab.inside(lab.peer_ns), urllib.request.urlopen(f"http://192.0.2.1:{PORT}/metrics", timeout=5) as got:
            assert got.status == 200
        assert r.stop() == 0
    warnings = [line for line in r.stderr.splitlines() if "WARNING" in line and "metrics:" in line]
    assert len(warnings) == 1
    assert f"0.0.0.0:{PORT} listens on every address of this host, the LAN side included" in warnings[0]
    with run_with(lab, tmp_path, "--metrics", f"127.0.0.1:{PORT}") as r:
        assert r.stop() == 0
    assert f"metrics: http://127.0.0.1:{PORT}/metrics" in r.stderr
    assert "listens on" not in r.stderr
