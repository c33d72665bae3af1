"""The service's loop driven with a fake host: fake engines, fake link events, no socket and no root.

As MetalLB's layer-2 tests do, each frame goes in and the test asserts what
came out: the reply, or the named drop reason counted for it. The wire tests
(test_service.py) do the same with real interfaces.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from pathlib import Path

from arpresponder.codec import ArpFrame, parse_mac
from arpresponder.iface import InterfaceFacts
from arpresponder.links import Change, LinkEvent, LinkState
from arpresponder.service import Service
from arpresponder.settings import CommandLine, load

from .frames import OURS, REPLY, SET_TOKENS, request, rows, tagged

NEW_MAC = parse_mac("02:00:00:00:00:77")


class FakeEngine:
    """Frames in through deliver(), replies kept in sent; poll()able through a pipe."""

    name = "fake"
    kernel_filter = "every frame (fake)"
    filter_note = "none: a fake engine"

    def __init__(self, interface: str, **options):
        self.interface = interface
        self.options = options
        self.ifindex = 1
        self.inbox: deque[bytes] = deque()
        self.sent: list[bytes] = []
        self.filters = 0
        self.closed = False
        self._read, self._write = os.pipe()

    def deliver(self, frames: list[bytes]) -> None:
        self.inbox.extend(frames)
        os.write(self._write, b"\0")

    def fileno(self) -> int:
        return self._read

    def take(self) -> list[bytes]:
        with contextlib.suppress(BlockingIOError):
            os.set_blocking(self._read, False)
            os.read(self._read, 4096)
        frames = []
        while self.inbox and len(frames) < 256:
            frames.append(self.inbox.popleft())
        return frames

    def check(self) -> None:
        pass

    def send_batch(self, frames: list[bytes]) -> int:
        self.sent += frames
        return len(frames)

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def kernel_drops(self) -> int:
        return 0

    def accept_unicast_macs(self, macs) -> None:
        self.unicast = set(macs)

    def replace_filter(self, *args) -> None:
        self.filters += 1

    def close(self) -> None:
        self.closed = True
        os.close(self._read)
        os.close(self._write)


class FakeWatcher:
    def __init__(self, names, on_event, present):
        self.names, self.on_event, self.present = list(names), on_event, present

    def start(self):
        return [LinkEvent(Change.APPEARED, LinkState(n, 1, OURS, True)) for n in self.names if n in self.present]

    def watch(self, names):
        new = [n for n in names if n not in self.names and n in self.present]
        self.names = list(names)
        return [LinkEvent(Change.APPEARED, LinkState(n, 1, OURS, True)) for n in new]

    def stop(self):
        pass


class FakeHost:
    def __init__(self, present=("r0",)):
        self.present = set(present)
        self.engines: list[FakeEngine] = []

    def open_engine(self, name, interface, **options):
        engine = FakeEngine(interface, **options)
        self.engines.append(engine)
        return engine

    def interface_facts(self, name):
        return InterfaceFacts(name, 1, OURS, (), True)

    def interface_names(self):
        return sorted(self.present)

    def warnings_for(self, facts, addresses):
        return []

    def broadcast_targets(self, addresses):
        return {}

    def link_watcher(self, names, on_event):
        return FakeWatcher(names, on_event, self.present)


@contextlib.contextmanager
def running(cli: CommandLine, host: FakeHost):
    service = Service(load(cli), host)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.ready.wait(5)
    try:
        yield service
    finally:
        service.stop()
        thread.join(5)
        assert not thread.is_alive()


def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


ROWS = rows()


def test_every_row_of_the_decision_table_through_the_loop():
    host = FakeHost()
    with running(CommandLine(interfaces=("r0",), ip=SET_TOKENS), host) as service:
        engine = host.engines[0]
        engine.deliver([row.frame for row in ROWS])
        stats = service.links[0].stats
        until(lambda: stats.received == len(ROWS))
    expected_replies = [row for row in ROWS if row.ours == REPLY]
    assert len(engine.sent) == stats.replied == stats.sent == len(expected_replies)
    expected_drops = {}
    for row in ROWS:
        if row.ours != REPLY:
            expected_drops[row.ours] = expected_drops.get(row.ours, 0) + 1
    assert {str(k): v for k, v in stats.dropped.items()} == {str(k): v for k, v in expected_drops.items()}
    assert engine.closed  # the loop closed it on the way out


def test_a_mac_change_shows_in_the_next_batch_and_a_gone_interface_closes_its_engine():
    host = FakeHost()
    with running(CommandLine(interfaces=("r0",), ip=SET_TOKENS), host) as service:
        link = service.links[0]
        host.engines[0].deliver([request()])
        until(lambda: link.stats.sent == 1)
        service._link_event(LinkEvent(Change.MAC_CHANGED, LinkState("r0", 1, NEW_MAC, True)))
        until(lambda: link.responder.mac == NEW_MAC)
        host.engines[0].deliver([request()])
        until(lambda: link.stats.sent == 2)
        assert [ArpFrame.from_bytes(f).sha for f in host.engines[0].sent] == [OURS, NEW_MAC]
        service._link_event(LinkEvent(Change.GONE, LinkState("r0", 1, NEW_MAC, True)))
        until(lambda: host.engines[0].closed and link.stats.state == "waiting")
        service._link_event(LinkEvent(Change.APPEARED, LinkState("r0", 2, OURS, True)))
        until(lambda: len(host.engines) == 2 and link.stats.state == "answering")
        host.engines[1].deliver([request()])
        until(lambda: link.stats.sent == 3)
    assert dict(link.stats.link_events) == {"appeared": 2, "mac-changed": 1, "gone": 1}


def test_an_interface_missing_at_start_is_answered_once_it_appears():
    host = FakeHost(present=())
    with running(CommandLine(interfaces=("r0",), ip=SET_TOKENS), host) as service:
        link = service.links[0]
        time.sleep(0.1)
        assert host.engines == [] and link.stats.state == "waiting"
        service._link_event(LinkEvent(Change.APPEARED, LinkState("r0", 3, OURS, True)))
        until(lambda: link.stats.state == "answering")
        host.engines[0].deliver([request()])
        until(lambda: link.stats.sent == 1)


def test_a_vlan_link_gets_its_own_engine_and_the_parents_filter_steps_aside(tmp_path: Path):
    config = tmp_path / "lab.toml"
    config.write_text(
        'addresses = ["198.51.100.10"]\n[[interfaces]]\nname = "r0"\n[[interfaces]]\nname = "r0"\nvlan = 100\n'
    )
    host = FakeHost()
    with running(CommandLine(config=config), host) as service:
        untagged, vlan = host.engines
        assert untagged.options["sibling_vlans"] == (100,) and vlan.options["vlan"] == 100
        vlan.deliver([tagged(request(), 100), request()])
        until(lambda: service.links[1].stats.received == 2)
    assert [f[12:16].hex() for f in vlan.sent] == ["81000064"]  # the reply is tagged as the request was
    assert dict(service.links[1].stats.dropped) == {"other-vlan": 1}


def test_a_reload_swaps_the_set_between_two_batches_and_a_bad_one_changes_nothing(tmp_path: Path):
    config = tmp_path / "lab.toml"
    config.write_text('interface = "r0"\naddresses = ["198.51.100.10"]\n')
    host = FakeHost()
    with running(CommandLine(config=config), host) as service:
        engine, link = host.engines[0], service.links[0]
        config.write_text('interface = "r0"\naddresses = ["198.51.100.11"]\n')
        assert service.request_reload("test").result(5) == {"reloaded": {"r0": {"addresses": 1, "state": "answering"}}}
        engine.deliver([request(tpa="198.51.100.10"), request(tpa="198.51.100.11", spa="192.0.2.9")])
        until(lambda: link.stats.received == 2)
        assert [ArpFrame.from_bytes(f).spa for f in engine.sent] == [0xC6336400 + 11]
        assert engine.filters >= 1  # the kernel filter swapped on the same engine, not a new one
        config.write_text('interface = "r0"\naddresses = ["198.51.100.300"]\n')
        answer = service.request_reload("test").result(5)
        assert "not an IPv4 address" in answer["error"]
        engine.deliver([request(tpa="198.51.100.11")])
        until(lambda: link.stats.received == 3)
        assert link.stats.sent == 2 and len(host.engines) == 1  # still the set loaded before


def test_a_reload_adds_and_removes_interfaces(tmp_path: Path):
    config = tmp_path / "lab.toml"
    config.write_text('interface = "r0"\naddresses = ["198.51.100.10"]\n')
    host = FakeHost(present=("r0", "r1"))
    with running(CommandLine(config=config), host) as service:
        config.write_text('interface = "r1"\naddresses = ["198.51.100.10"]\n')
        assert service.request_reload("test").result(5) == {"reloaded": {"r1": {"addresses": 1, "state": "answering"}}}
        assert [link.label for link in service.links] == ["r1"]
        assert host.engines[0].closed and host.engines[1].interface == "r1"
        host.engines[1].deliver([request()])
        until(lambda: service.links[0].stats.sent == 1)
