"""Link events: the bookkeeping rules on their own, and the watcher on netlink in a lab."""

import threading
import time

import pytest

from arpresponder.lab.netns import RESPONDER_IF
from arpresponder.links import Change, LinkState, LinkTable, LinkWatcher

MAC = b"\x02\x00\x00\x00\x00\x01"
OTHER_MAC = b"\x02\x00\x00\x00\x00\x05"


def changes(events):
    return [(e.change, e.state.name) for e in events]


def test_the_table_turns_link_messages_into_changes():
    table = LinkTable(["r0"])
    assert table.seen(LinkState("eth9", 5, MAC, True)) == []  # not watched
    assert changes(table.seen(LinkState("r0", 2, MAC, False))) == [(Change.APPEARED, "r0")]
    assert table.seen(LinkState("r0", 2, MAC, False)) == []  # nothing new
    assert changes(table.seen(LinkState("r0", 2, MAC, True))) == [(Change.UP, "r0")]
    assert changes(table.seen(LinkState("r0", 2, OTHER_MAC, False))) == [
        (Change.MAC_CHANGED, "r0"),
        (Change.DOWN, "r0"),
    ]
    # Deleted and created again under the name, seen only as a NEWLINK with a new index: gone, then appeared.
    assert changes(table.seen(LinkState("r0", 7, MAC, True))) == [(Change.GONE, "r0"), (Change.APPEARED, "r0")]
    assert changes(table.seen(LinkState("r1", 7, MAC, True))) == [(Change.GONE, "r0")]  # renamed away
    assert table.deleted(7) == []  # r1 is not watched
    assert changes(table.seen(LinkState("r0", 8, MAC, True))) == [(Change.APPEARED, "r0")]
    assert changes(table.deleted(8)) == [(Change.GONE, "r0")]


def test_watching_other_names_forgets_the_old_ones():
    table = LinkTable(["r0", "r1"])
    table.seen(LinkState("r0", 2, MAC, True))
    table.seen(LinkState("r1", 3, MAC, True))
    table.watch(["r1"])
    assert table.deleted(2) == []
    assert changes(table.deleted(3)) == [(Change.GONE, "r1")]


@pytest.mark.wire
def test_the_watcher_follows_every_change_on_netlink(lab):
    seen = []
    got = threading.Event()

    def on_event(event):
        seen.append((event.change, event.state.name))
        got.set()

    def expect(*wanted, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(seen) < len(wanted) and time.monotonic() < deadline:
            got.wait(0.1)
            got.clear()
        assert seen == list(wanted)
        seen.clear()

    r = lab.responder_ns
    with lab.inside(r):
        watcher = LinkWatcher([RESPONDER_IF, "r9"], on_event)
        initial = watcher.start()
    try:
        assert changes(initial) == [(Change.APPEARED, RESPONDER_IF)]
        lab.run(r, "ip", "link", "set", RESPONDER_IF, "down")
        expect((Change.DOWN, RESPONDER_IF))
        lab.run(r, "ip", "link", "set", RESPONDER_IF, "up")
        expect((Change.UP, RESPONDER_IF))
        lab.run(r, "ip", "link", "set", RESPONDER_IF, "address", "02:00:00:00:00:05")
        expect((Change.MAC_CHANGED, RESPONDER_IF))
        lab.run(r, "ip", "link", "add", "r9", "type", "veth", "peer", "name", "r9p")
        expect((Change.APPEARED, "r9"))
        lab.run(r, "ip", "link", "set", "r9", "netns", lab.peer_ns)  # moved away: deleted here
        expect((Change.GONE, "r9"))
        lab.replace_veth()  # r0 deleted and created again under its name
        expect(
            (Change.DOWN, RESPONDER_IF),
            (Change.GONE, RESPONDER_IF),
            (Change.APPEARED, RESPONDER_IF),
            (Change.UP, RESPONDER_IF),
        )
    finally:
        watcher.stop()
    assert not watcher._thread.is_alive()
