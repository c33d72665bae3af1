"""Following the interfaces we answer on as they come and go: link events from netlink, through pyroute2.

An interface may not exist yet when we start (a container's entrypoint runs
before its veth end is moved in), may be deleted or moved to another
namespace (RTM_DELLINK here), come back under the same name with a new
index, change its MAC, or go down and up. The watcher turns the kernel's
RTM_NEWLINK/RTM_DELLINK messages into one event per change that matters to
us, for the names it is told to watch, and hands each to a callback, in its
own thread.

It subscribes before it reads the current state, so nothing that happens
in between is missed; an event that repeats what is known is dropped.
pyroute2 is asyncio-based: the watcher runs its own event loop in its
thread, and stop() cancels it from outside.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from .codec import parse_mac

log = logging.getLogger("arpresponder")

IFF_UP = 0x1
IFF_RUNNING = 0x40  # operationally up: carrier, not dormant


@dataclass(frozen=True)
class LinkState:
    """What we know of one interface: name, index, MAC (6 bytes, None if it has none), usable."""

    name: str
    index: int
    mac: bytes | None
    up: bool  # administratively up and running (IFF_UP and IFF_RUNNING)


class Change(StrEnum):
    """What happened to a watched interface. The values are what logs and stats show."""

    APPEARED = "appeared"  # created, moved into our namespace, renamed to the name, or there when we started
    GONE = "gone"  # deleted, moved to another namespace, or renamed away
    MAC_CHANGED = "mac-changed"
    DOWN = "down"
    UP = "up"


@dataclass(frozen=True)
class LinkEvent:
    change: Change
    state: LinkState  # after the change (for GONE: as it was last known)


def link_state(message) -> LinkState | None:
    """The LinkState an RTM_NEWLINK message describes (None for a link without a name)."""
    name = message.get_attr("IFLA_IFNAME")
    if name is None:
        return None
    mac_text = message.get_attr("IFLA_ADDRESS")
    mac = parse_mac(mac_text) if mac_text and len(mac_text) == 17 else None
    flags = message["flags"]
    return LinkState(name, message["index"], mac, bool(flags & IFF_UP) and bool(flags & IFF_RUNNING))


class LinkTable:
    """The known state of the watched names, and what each netlink message changes about them.

    Pure bookkeeping (no sockets), so the rules are tested on their own.
    """

    def __init__(self, names: Iterable[str]):
        self.names = set(names)
        self.known: dict[str, LinkState] = {}

    def watch(self, names: Iterable[str]) -> None:
        """Watch these names from now on; forget the others."""
        self.names = set(names)
        self.known = {name: state for name, state in self.known.items() if name in self.names}

    def seen(self, state: LinkState) -> list[LinkEvent]:
        """An RTM_NEWLINK (or the start-up dump) for state: the events it means."""
        events = []
        for name, old in list(self.known.items()):
            if old.index == state.index and name != state.name:  # renamed away from a watched name
                del self.known[name]
                events.append(LinkEvent(Change.GONE, old))
        if state.name not in self.names:
            return events
        old = self.known.get(state.name)
        self.known[state.name] = state
        if old is None or old.index != state.index:
            if old is not None:
                events.append(LinkEvent(Change.GONE, old))
            events.append(LinkEvent(Change.APPEARED, state))
            return events
        if old.mac != state.mac:
            events.append(LinkEvent(Change.MAC_CHANGED, state))
        if old.up != state.up:
            events.append(LinkEvent(Change.UP if state.up else Change.DOWN, state))
        return events

    def deleted(self, index: int) -> list[LinkEvent]:
        """An RTM_DELLINK for index: the events it means."""
        for name, old in list(self.known.items()):
            if old.index == index:
                del self.known[name]
                return [LinkEvent(Change.GONE, old)]
        return []


class LinkWatcher:
    """Calls on_event(LinkEvent) from its own thread for every change to the watched interfaces.

    start() returns once subscribed, with the events that describe the
    interfaces present then (APPEARED each); UserError-free: a netlink
    failure later is logged and ends the watching.
    """

    def __init__(self, names: Iterable[str], on_event: Callable[[LinkEvent], None]):
        self.table = LinkTable(names)
        self.on_event = on_event
        self._lock = threading.Lock()  # the table is read by the watcher and changed by watch()
        self._ready = threading.Event()
        self._initial: list[LinkEvent] = []
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread = threading.Thread(target=self._run, name="links", daemon=True)

    def start(self) -> list[LinkEvent]:
        """Subscribe, read what is there now; the APPEARED events for the watched interfaces present."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._initial

    def watch(self, names: Iterable[str]) -> list[LinkEvent]:
        """Change the watched names (a reload); APPEARED events for newly watched interfaces present now."""
        from pyroute2.iproute.linux import IPRoute

        with IPRoute() as ipr:
            states = [s for s in map(link_state, ipr.get_links()) if s is not None]
        with self._lock:
            self.table.watch(names)
            events = []
            for state in states:
                if state.name in self.table.names and state.name not in self.table.known:
                    events += self.table.seen(state)
        return events

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=2)

    def _run(self) -> None:
        try:
            asyncio.run(self._watch())
        except BaseException as e:  # noqa: BLE001  (whatever ends the watching is reported, not raised in a thread)
            if not self._ready.is_set():
                self._error = e
                self._ready.set()
            else:
                log.error("following interfaces stopped: %s", e)

    async def _watch(self) -> None:
        from pyroute2.iproute.linux import AsyncIPRoute
        from pyroute2.netlink.rtnl import RTMGRP_LINK

        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        try:
            async with AsyncIPRoute() as ipr:
                await ipr.bind(groups=RTMGRP_LINK)  # first: what changes from now on is queued for us
                async for message in await ipr.get_links():
                    state = link_state(message)
                    if state is not None:
                        with self._lock:
                            self._initial += self.table.seen(state)
                self._ready.set()
                while True:
                    async for message in ipr.get():
                        self._handle(message)
        except asyncio.CancelledError:
            return

    def _handle(self, message) -> None:
        with self._lock:
            if message["event"] == "RTM_DELLINK":
                events = self.table.deleted(message["index"])
            elif message["event"] == "RTM_NEWLINK":
                state = link_state(message)
                events = self.table.seen(state) if state is not None else []
            else:
                events = []
        for event in events:
            self.on_event(event)
