"""`arpresponder run` as a service: every interface's responder in one loop, following links and reloads.

    Settings ─► Service.run()
      ├─ a Link per interface entry: an engine while the interface exists ─► Responder ─► decide();
      │                               its Stats; its Announcer (gratuitous ARP, in a thread of its own)
      ├─ LinkWatcher (netlink, a thread): interfaces appearing, going, changing MAC, going down and up
      ├─ reload (SIGHUP, the control socket's `reload`): a worker thread reads the config again
      ├─ the views (control socket, panel, JSON file, Prometheus, pcap), reading snapshot()
      └─ the loop (the main thread): take each open link's batch and answer it; when every ring is empty,
         poll all the links' sockets and the wake-up pipe; between two batches, apply what the other threads
         queued (link events, a reloaded config)

One loop for every interface rather than a thread each: Python runs one
thread at a time anyway (the GIL), so threads would only add the hand-over
between them on every wake-up; and one loop makes "between two batches",
where a reload swaps the sets, a single place. The README gives the
measurement.

Shutdown, in order: stop the loop; stop the announcers; close the engines;
stop the views (the last JSON snapshot has the final counts); the summary.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from .addrset import AddressSet
from .announce import Announcer, Entries, Target, added
from .answering import Answerer
from .codec import ZERO_MAC, format_ipv4, format_mac, probe_frame, vlan_tags
from .decision import Drop, probe_target, sender_of
from .engines import Engine, InterfaceGone, engine_name, open_engine
from .engines.bpf import target_spans
from .engines.linux import check_raw_sockets
from .errors import ConfigError, EngineError, UserError
from .iface import broadcast_targets, interface_facts, interface_names, warnings_for
from .interface_lock import InterfaceLock
from .keepalived import KeepalivedFifo
from .links import Change, LinkEvent, LinkState, LinkWatcher
from .observe.logs import keep_events, setup_logging
from .observe.stats import ProcessStats, Stats
from .observe.views import Observers, check_view_options
from .owners import Actions, Owners, Withheld
from .privileges import drop_to_user, user_entry
from .responder import Responder
from .settings import CommandLine, InterfaceSettings, Settings, load
from .workers import CountSender, Workers, check_workers, die_with_parent, fanout_group

log = logging.getLogger("arpresponder")

POLL_TIMEOUT = 1.0  # seconds the loop sleeps at most when nothing arrives (the wake-up pipe cuts it short)
SAMPLE_INTERVAL = 0.25  # seconds between reads of the kernel's drop counters (a system call each: not per batch)
RELOAD_TIMEOUT = 120.0  # seconds `reload` waits for the new set to be in place


@dataclass(frozen=True)
class SetPlan:
    """What a link needs to answer for a set, worked out away from the loop (a big set takes seconds)."""

    addresses: AddressSet
    spans: list[tuple[int, int]] | None  # for the kernel filter (engines.bpf.target_spans); None: too many
    withheld: dict[int, Drop]  # addresses of the set not answered: the subnets' broadcast addresses here
    entry_macs: frozenset[bytes]  # MACs besides the interface's that requests may be sent to

    @classmethod
    def of(cls, addresses: AddressSet, host: Host) -> SetPlan:
        """The plan for addresses on this host (its subnets' broadcast addresses withheld)."""
        withheld = dict.fromkeys(host.broadcast_targets(addresses), Drop.SUBNET_BROADCAST)
        return cls(addresses, target_spans(addresses), withheld, frozenset(addresses.entry_macs()))


class Host:
    """What the service asks of the machine: interfaces, their engines, link events, the kernel's tables.

    The only way the service reaches the system, so that tests can drive
    the whole loop with a fake one and no root (tests/test_loop.py).
    """

    open_engine = staticmethod(open_engine)
    interface_facts = staticmethod(interface_facts)
    interface_names = staticmethod(interface_names)
    warnings_for = staticmethod(warnings_for)
    broadcast_targets = staticmethod(broadcast_targets)
    link_watcher = LinkWatcher


class Link:
    """One interface entry (an interface, or a VLAN on its parent): its settings, counters and announcer, and
    while the interface exists and we may answer on it, its engine.

    Every method runs in the loop's thread, except what the announcer reads through target().
    """

    def __init__(self, settings: InterfaceSettings, plan: SetPlan, service: Service):
        self.settings = settings
        self.plan = plan
        self.service = service
        self.engine: Engine | None = None
        self.index: int | None = None  # of the interface the engine is open on
        self.lock: InterfaceLock | None = None  # one instance per interface (interface_lock.py)
        self.stats = Stats(
            interface=settings.label, engine=engine_name(settings.engine), dry_run=settings.dry_run, vlan=settings.vlan
        )
        self.stats.set_loaded(len(plan.addresses))
        self.withheld = Withheld(plan.withheld)
        self.withheld.standby = service.standby
        self.owners = self._owners(settings)
        self.responder = Responder(
            plan.addresses, ZERO_MAC, self.stats, dry_run=settings.dry_run, on_batch=service.on_batch,
            withheld=plan.withheld, vlan=settings.vlan,
        )  # fmt: skip
        self.answerer = Answerer(self.responder)
        self.responder.notice = self._notice
        self.stats.owners = lambda: self.owners.snapshot(time.monotonic())
        self.sync_withheld()
        self.announcer = Announcer(settings.label, settings.announce, self._announce_target, self._count_announced)

    def _owners(self, settings: InterfaceSettings) -> Owners:
        return Owners(
            settings.label, self.withheld, settings.on_conflict, settings.conflict_age, settings.conflict_table,
            settings.claim, settings.claim_wait, settings.claim_probes,
        )  # fmt: skip

    @property
    def key(self) -> tuple[str, int]:
        return self.settings.name, self.settings.vlan

    @property
    def label(self) -> str:
        return self.settings.label

    # --- the interface comes and goes ---

    def open(self, state: LinkState) -> None:
        """Start answering on the interface `state` describes. UserError if we may not (it is not Ethernet, another
        instance answers there, no privilege): the caller decides whether that ends the run."""
        if self.engine is not None:
            return
        host = self.service.host
        facts = host.interface_facts(self.settings.name)
        if self.settings.vlan and facts.vlan_of is not None:
            parent, vid = facts.vlan_of
            raise ConfigError(
                f"{self.label}: {facts.name} is itself a VLAN device (VLAN {vid} of {parent}): give its parent, "
                f'name = "{parent}", for vlan = {self.settings.vlan}'
            )
        for warning in host.warnings_for(facts, self.plan.addresses):
            log.warning("%s: %s", self.label, warning)
        # Worker 0 holds the lock for them all (workers.py).
        shared = self.service.share_interface or self.service.worker
        lock = None if shared else InterfaceLock(self.settings.name, self.settings.vlan)
        fanout = self.service.fanout_group(self)
        try:
            engine = host.open_engine(
                self.settings.engine,
                self.settings.name,
                target_spans=self.plan.spans,
                unicast_macs=self.plan.entry_macs - {facts.mac},
                vlan=self.settings.vlan,
                sibling_vlans=self.service.sibling_vlans(self),
                **({} if fanout is None else {"fanout": fanout}),
            )
        except BaseException:
            if lock is not None:
                lock.close()
            raise
        self.engine, self.lock, self.index = engine, lock, state.index
        self.responder.mac = facts.mac
        self.stats.opened(engine.name, format_mac(facts.mac), engine.kernel_filter)
        log.info("%s: kernel filter: %s", self.label, engine.filter_note)
        self.stats.state = "answering" if state.up else "down"
        self.service.engines_changed()
        if state.up:
            self.announce("started")

    def close(self, why: str | None) -> None:
        """Stop answering: the interface went away (why, logged), or we stop (None)."""
        if self.engine is None:
            return
        self.announcer.cancel()
        engine, lock, self.engine, self.lock, self.index = self.engine, self.lock, None, None, None
        self.service.engines_changed()
        try:
            engine.close()
        finally:
            if lock is not None:
                lock.close()
        self.stats.state = "waiting"
        if why is not None:
            log.info("%s; waiting for %s to come back", why, self.label)

    def on_event(self, event: LinkEvent) -> None:
        """A change netlink reported for this link's interface."""
        self.stats.link_events[str(event.change)] += 1
        state = event.state
        if event.change is Change.APPEARED:
            log.info("%s appeared (index %d)", self.settings.name, state.index)
            self.open_or_log(state)
        elif event.change is Change.GONE:
            self.close(f"{self.settings.name} is gone (deleted, renamed or moved to another namespace)")
        elif self.engine is None or state.index != self.index:
            return  # about an interface we are not answering on
        elif event.change is Change.MAC_CHANGED:
            self.responder.mac = state.mac or ZERO_MAC  # from the next batch on
            self.stats.mac = format_mac(self.responder.mac)
            self.engine.accept_unicast_macs(self.plan.entry_macs - {self.responder.mac})
            log.warning("%s: the MAC changed to %s; replies carry it from now on", self.label, self.stats.mac)
            self.announce("the MAC changed")
        elif event.change is Change.DOWN:
            self.stats.state = "down"
            log.warning("%s is down; answering again once it is up", self.label)
        elif event.change is Change.UP:
            self.stats.state = "answering"
            log.info("%s is up: answering", self.label)
            self.announce("the link came up")

    def open_or_log(self, state: LinkState) -> None:
        """open(), and a UserError (not Ethernet, another instance on it) logged: the link waits, the run goes on."""
        try:
            self.open(state)
        except UserError as e:
            log.error("%s: cannot answer there: %s", self.label, e)
        else:
            n = len(self.plan.addresses)
            when = "" if state.up else ", once it is up"
            log.info("%s: answering %d address%s%s", self.label, n, "" if n == 1 else "es", when)

    def engine_error(self, error: Exception | None = None) -> None:
        """The engine's socket reported an error (poll, or error from take()): a link down, or the interface gone."""
        try:
            if error is not None:
                raise error
            self.engine.check()
        except InterfaceGone as e:
            self.close(str(e))  # netlink reports (and counts) it too, maybe later
        except OSError as e:
            if e.errno != errno.ENETDOWN:
                raise EngineError(f"receiving on {self.label} failed: {e.strerror or e}") from None
            self.stats.state = "down"  # netlink says so too, and logs it

    # --- who else uses our addresses (owners.py) ---

    def _notice(self, noticed: list[tuple[bytes, Drop]]) -> None:
        """The responder's frames that may tell of other hosts using our addresses (in the loop's thread)."""
        if self.withheld.standby:
            return  # the master (keepalived's election) answers for our set: expected, not a conflict
        now = time.monotonic()
        addresses, ours = self.plan.addresses, self.plan.entry_macs | {self.responder.mac}
        for tagged, outcome in noticed:
            frame = vlan_tags(tagged)[1] if self.settings.vlan else tagged
            if outcome is Drop.UNCLAIMED:
                probed = probe_target(frame)
                if probed is not None:
                    self._carry_out(self.owners.probed(probed, now))
                else:
                    self._carry_out(self.owners.unclaimed(int.from_bytes(frame[38:42], "big"), frame, now))
                continue
            sender = sender_of(frame)
            if sender is not None and sender[1] not in ours and sender[0] in addresses:
                self._carry_out(self.owners.seen(sender[0], sender[1], now))
        self.sync_withheld()
        self.service.tick_due(self.owners.next_due())

    def tick(self, now: float) -> None:
        """Age the owner table, resume yielded addresses, go on with probes (called by the loop when due)."""
        self._carry_out(self.owners.tick(now))
        self.sync_withheld()

    def _carry_out(self, actions: Actions) -> None:
        if not actions:
            return
        for ip, why in actions.announce:
            self.announce(f"{format_ipv4(ip)} {why}", self._entries([ip]), force=True)
        for ip in actions.defend:
            self.announce(f"defending {format_ipv4(ip)}", self._entries([ip]), rounds=1, force=True)
        if self.engine is not None and not self.settings.dry_run:
            for ip in actions.probes:
                with contextlib.suppress(OSError):  # a probe the kernel refused: the claim waits the same
                    self.engine.send(probe_frame(self.responder.mac, ip))
                self.stats.probes_sent += 1
        if actions.answer:
            self.sync_withheld()
            self._answer_late(actions.answer)

    def _answer_late(self, requests: list[bytes]) -> None:
        """Answer requests dropped as unclaimed, now that their target is claimed (counted as late replies)."""
        replies, _dropped = self.responder.decide_frames(requests)  # their first drop is counted already
        self.stats.replied += len(replies)  # replies like the others, counted also apart
        self.stats.replied_late += len(replies)
        if replies and self.engine is not None and not self.settings.dry_run:
            self.stats.count_sent(len(replies), self.engine.send_batch(replies))

    def _entries(self, ips: list[int]) -> Entries:
        return Entries([(ip, self.plan.addresses.resolve(ip, None)) for ip in ips if ip in self.plan.addresses])

    def sync_withheld(self) -> None:
        """Give decide() the plain dict of fixed addresses while nothing else is withheld (the fast path), the
        policy object when something is; and say whether a batch path may decide without decide()."""
        w = self.withheld
        self.responder.withheld = w if (w.standby or w.claimed is not None or w.yielded) else w.fixed
        self.responder.batch_ok = w.finite

    # --- answering ---

    def answer(self) -> bool:
        """Take and answer what waits in the engine (answering.py: a lone request at once, a flood by the batch
        path); False if nothing waited. An engine error (the link down, the interface gone) is dealt with here."""
        if self.engine is None:
            return False  # closed in this round
        try:
            return self.answerer.serve(self.engine) > 0
        except (OSError, EngineError) as e:
            # Without its traceback: its frames hold views of the engine's rings, which engine_error() closes.
            self.engine_error(e.with_traceback(None))
            return False

    def read_kernel_drops(self) -> None:
        drops = self.engine.kernel_drops()
        if drops is not None:
            self.stats.kernel_drops = (self.stats.kernel_drops or 0) + drops

    # --- a reload ---

    @staticmethod
    def _owner_settings(s: InterfaceSettings) -> tuple:
        return s.on_conflict, s.conflict_age, s.conflict_table, s.claim, s.claim_wait, s.claim_probes

    def apply(self, settings: InterfaceSettings, plan: SetPlan, new: Entries | None) -> None:
        """Answer for a reloaded set from the next batch on; `new`: what to announce (added addresses)."""
        old = self.settings
        reopen = self.engine is not None and engine_name(settings.engine) != engine_name(self.settings.engine)
        if plan.addresses is not self.plan.addresses:
            self.announcer.cancel()  # an announcement under way is of the old set: never announce what was removed
        self.settings, self.plan = settings, plan
        responder = self.responder
        responder.addresses, responder.dry_run = plan.addresses, settings.dry_run
        self.withheld.fixed = dict(plan.withheld)
        if self._owner_settings(settings) != self._owner_settings(old):
            self.withheld.yielded.clear()
            self.withheld.claimed = None
            self.owners = self._owners(settings)  # a new policy starts from a clean table
        self.sync_withheld()
        self.stats.dry_run = settings.dry_run
        self.stats.set_loaded(len(plan.addresses))
        self.announcer.reconfigure(settings.announce)
        if reopen:
            state = LinkState(settings.name, self.index, responder.mac, self.stats.state == "answering")
            self.close(f"{self.label}: the engine is now {settings.engine}")
            self.open_or_log(state)
            return
        if self.engine is not None:  # the kernel filter: the service refilters every link once the links are settled
            self.engine.accept_unicast_macs(plan.entry_macs - {responder.mac})
            if new:
                self.announce(f"{len(new)} address{'' if len(new) == 1 else 'es'} added", new)

    def refilter(self) -> None:
        """Put the current set (and the parent's VLAN links) into the kernel filter, on the same socket."""
        self.engine.replace_filter(self.plan.spans, self.settings.vlan, self.service.sibling_vlans(self))
        log.info("%s: kernel filter: %s", self.label, self.engine.filter_note)
        self.stats.kernel_filter = self.engine.kernel_filter

    # --- announcements ---

    def announce(self, why: str, what: Entries | None = None, rounds: int | None = None, force: bool = False) -> None:
        """Ask the announcer for gratuitous ARP: when announcing is on, or (force) whatever it is (a defence, a
        resumed address); never in a dry run or in standby."""
        if (self.settings.announce.enabled or force) and not self.settings.dry_run and not self.withheld.standby:
            self.announcer.request(why, what, rounds)

    def _announce_target(self) -> Target | None:
        """For the announcer thread: where to send, now; None while not answering."""
        engine = self.engine
        if engine is None or self.stats.state != "answering" or self.settings.dry_run or self.withheld.standby:
            return None
        if self.service.worker:
            return None  # worker 0 announces for every worker (workers.py)
        return Target(engine.send, self.responder.mac, self.plan.addresses, self.plan.withheld)

    def _count_announced(self, n: int) -> None:
        self.stats.announced += n


class Wakeup:
    """A pipe the loop polls, so that another thread (or a signal handler) can cut its wait short."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)

    def __call__(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: the loop wakes anyway
            os.write(self.write_fd, b"\0")

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 4096):
                pass

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


class Service:
    """Answers on every interface of the settings until stop() (SIGINT, SIGTERM, --duration)."""

    def __init__(self, settings: Settings, host: Host | None = None, worker: int = 0, fanout_seed: int | None = None):
        """worker: this process's number in `run --workers` (0: the one with the views); fanout_seed: with several
        workers, what their links' PACKET_FANOUT groups are derived from (workers.fanout_group); None: one worker."""
        self.settings = settings
        self.worker, self.fanout_seed = worker, fanout_seed
        self.on_reloaded: Callable[[], None] | None = None  # after a reload was applied (workers.Workers.reload)
        self.host = host or Host()
        self.on_batch: Callable[[list[bytes], list[bytes]], None] | None = None  # the views' per-batch hook (--pcap)
        self.share_interface = settings.command_line.share_interface
        self.started = time.monotonic()
        self.loaded_at = time.time()
        cli = settings.command_line
        self.standby = cli.standby or cli.keepalived_fifo is not None  # everything counted, nothing answered
        self._next_tick: float | None = None  # when a link's owner table next has something to do
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the interfaces present answer (or wait), before the first batch
        self._wakeup = Wakeup()
        self._queue: deque[Callable[[], None]] = deque()  # work for the loop, from other threads
        self._engines_changed = True
        self._reload: Future | None = None
        self._reload_lock = threading.Lock()
        plans = self._plans(settings)
        self.links: list[Link] = [Link(s, plans[id(s.addresses)], self) for s in settings.interfaces]
        self.watcher = self.host.link_watcher([link.settings.name for link in self.links], self._link_event)

    def set_on_batch(self, on_batch: Callable[[list[bytes], list[bytes]], None] | None) -> None:
        """Hand every batch and its replies to on_batch (the pcap capture) from now on."""
        self.on_batch = on_batch
        for link in self.links:
            link.responder.on_batch = on_batch

    @property
    def stopped(self) -> threading.Event:
        return self._stop

    def link_stats(self) -> list[Stats]:
        """Each link's counters, as the links are now (for ProcessStats)."""
        return [link.stats for link in self.links]

    def stats_of(self, label: str) -> Stats | None:
        """The counters of the link with that label; None if there is none (any more)."""
        return next((link.stats for link in self.links if link.label == label), None)

    # --- what other threads call ---

    def stop(self) -> None:
        """Make run() return after the current batch (any thread, a signal handler)."""
        self._stop.set()
        self._wakeup()

    def request_reload(self, origin: str) -> Future:
        """Read the config again (in a worker) and swap the sets between two batches. The future's result is a
        dict for the control socket: {"reloaded": …} or {"error": …}. One reload at a time: asking again while one
        runs gets that one."""
        with self._reload_lock:
            if self._reload is not None and not self._reload.done():
                return self._reload
            future = self._reload = Future()
        threading.Thread(target=self._reload_worker, args=(future, origin), name="reload", daemon=True).start()
        return future

    def _link_event(self, event: LinkEvent) -> None:  # the watcher's thread
        self._enqueue(lambda: self._on_link_event(event))

    def _enqueue(self, work: Callable[[], None]) -> None:
        self._queue.append(work)
        self._wakeup()

    def run_in_loop(self, work: Callable[[], None]) -> None:
        """Run work in the loop's thread, between two batches (from any thread); run_pending() runs what is left."""
        self._enqueue(work)

    def run_pending(self) -> None:
        """Run the work queued for the loop that it did not get to (once it has ended: nothing counts any more)."""
        while self._queue:
            self._queue.popleft()()

    def fanout_group(self, link: Link) -> int | None:
        """The PACKET_FANOUT group of the link's receiving sockets in every worker; None with one worker."""
        return None if self.fanout_seed is None else fanout_group(self.fanout_seed, link.label)

    # --- running ---

    def run(self, on_ready: Callable[[], None] = lambda: None) -> None:
        """Answer until stopped. UserError when an interface present at start cannot be answered on.

        on_ready runs once the interfaces present have their sockets, before
        the first batch (where `--user` drops root).
        """
        try:
            for event in self.watcher.start():
                for link in self._links_named(event.state.name):
                    link.stats.link_events[str(event.change)] += 1
                    link.open(event.state)
            self._warn_missing(self.links)
            on_ready()
            self._log_ready()
            self.ready.set()
            self._loop()
        finally:
            self.close()

    def close(self) -> None:
        """Shut down in order: link events, announcers, engines (run() calls it as it returns)."""
        self._stop.set()
        self.watcher.stop()
        for link in self.links:
            link.announcer.close()
        for link in self.links:
            with contextlib.suppress(OSError):
                link.close(None)

    def _log_ready(self) -> None:
        parts = []
        for link in self.links:
            n = len(link.plan.addresses)
            what = f"{n} address{'' if n == 1 else 'es'}"
            if link.engine is None:
                parts.append(f"{link.label}: waiting for it, for {what}")
            else:
                parts.append(f"answering {what} on {link.label} ({link.stats.mac}) with the {link.engine.name} engine")
        dry = ", dry run" if any(link.settings.dry_run for link in self.links) else ""
        standby = "; standing by: counting requests, answering none until activated" if self.standby else ""
        log.info("ready: %s%s%s", "; ".join(parts), dry, standby)

    def _loop(self) -> None:
        poller = select.poll()
        by_fd: dict[int, Link] = {}
        open_links: list[Link] = []
        next_sample = 0.0
        while not self._stop.is_set():
            while self._queue:
                self._queue.popleft()()
            if self._engines_changed:
                self._engines_changed = False
                poller = select.poll()
                poller.register(self._wakeup.read_fd, select.POLLIN)
                open_links = [link for link in self.links if link.engine is not None]
                by_fd = {link.engine.fileno(): link for link in open_links}
                for fd in by_fd:
                    poller.register(fd, select.POLLIN)
            busy = False
            for link in open_links:
                if link.answer():
                    busy = True
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + SAMPLE_INTERVAL
                for link in open_links:
                    if link.engine is not None:
                        link.read_kernel_drops()
            if self._next_tick is not None and now >= self._next_tick:
                self._tick(now)
            if busy:
                continue
            timeout = POLL_TIMEOUT if self._next_tick is None else min(POLL_TIMEOUT, max(0.0, self._next_tick - now))
            for fd, events in poller.poll(timeout * 1000):
                link = by_fd.get(fd)
                if link is None:
                    self._wakeup.drain()
                    continue
                if events & select.POLLIN:
                    link.answer()  # at once: a lone request's reply leaves before the loop does anything else
                if events & (select.POLLERR | select.POLLHUP) and link.engine is not None:
                    link.engine_error()

    # --- between two batches ---

    def engines_changed(self) -> None:
        """An engine opened or closed: the loop rebuilds its poll set before the next wait."""
        self._engines_changed = True

    def tick_due(self, when: float | None) -> None:
        """A link has work to do at `when` (time.monotonic()): the loop wakes by then."""
        if when is not None and (self._next_tick is None or when < self._next_tick):
            self._next_tick = when

    def _tick(self, now: float) -> None:
        self._next_tick = None
        for link in self.links:
            link.tick(now)
            self.tick_due(link.owners.next_due())

    def set_standby(self, standby: bool, origin: str) -> dict:
        """Stand by (count, answer nothing) or be active (answer, and announce every set, paced). Loop's thread."""
        if standby == self.standby:
            return {"state": self.state, "changed": False}
        self.standby = standby
        for link in self.links:
            link.withheld.standby = standby
            link.sync_withheld()
            if standby:
                link.announcer.cancel()
        log.warning(
            "%s (%s)", "standing by: counting requests, answering none" if standby else "active: answering", origin
        )
        if not standby:
            for link in self.links:
                link.owners.clear()  # elected: what the old master was seen using is ours now
                link.sync_withheld()
                link.announce("active", force=True)
        return {"state": self.state, "changed": True}

    def follow_keepalived(self, standby: bool, why: str) -> None:
        """From the keepalived FIFO's thread: switch between two batches."""
        self._enqueue(lambda: self.set_standby(standby, why))

    @property
    def state(self) -> str:
        return "standby" if self.standby else "active"

    def state_command(self, standby: bool) -> Callable[[], Future]:
        """The control socket's `standby` or `activate`: done between two batches; its answer once done."""

        def command() -> Future:
            future: Future = Future()
            self._enqueue(lambda: future.set_result(self.set_standby(standby, "the control socket")))
            return future

        return command

    def sibling_vlans(self, link: Link) -> tuple[int, ...]:
        """For an untagged link: the VLANs other links answer on, on the same parent (bpf.vlan_prefix)."""
        if link.settings.vlan:
            return ()
        return tuple(
            other.settings.vlan
            for other in self.links
            if other.settings.name == link.settings.name and other.settings.vlan
        )

    def _links_named(self, name: str) -> list[Link]:
        return [link for link in self.links if link.settings.name == name]

    def _on_link_event(self, event: LinkEvent) -> None:
        for link in self._links_named(event.state.name):
            link.on_event(event)

    def _reload_worker(self, future: Future, origin: str) -> None:
        try:
            settings = load(self.settings.command_line)
            check_workers(settings, settings.command_line.workers)  # what --workers cannot share, a reload cannot bring
            plans = self._plans(settings)
            old = {link.key: link.settings.addresses for link in self.links}
            announce = {}
            for s in settings.interfaces:
                key = (s.name, s.vlan)
                if s.announce.enabled and key in old and old[key] is not s.addresses:
                    announce[key] = added(s.addresses, old[key])
        except UserError as e:
            loaded = time.strftime("%H:%M:%S", time.localtime(self.loaded_at))
            log.error("reload (%s) failed; still answering for the set loaded at %s: %s", origin, loaded, e)
            future.set_result({"error": str(e)})
            return
        except Exception as e:  # a bug must not end the worker silently; the old set answers on
            log.exception("reload (%s) failed", origin)
            future.set_result({"error": f"reload failed: {e}"})
            return
        for warning in settings.warnings:
            log.warning("%s", warning)
        self._enqueue(lambda: self._apply(settings, plans, announce, future, origin))

    def _apply(self, settings: Settings, plans: dict, announce: dict, future: Future, origin: str) -> None:
        """Swap in a reloaded config (the loop's thread, between two batches)."""
        if settings.user != self.settings.user:
            log.warning("user = %r takes effect at the next start, not on reload", settings.user)
        by_key = {link.key: link for link in self.links}
        wanted = {(s.name, s.vlan): s for s in settings.interfaces}
        for key, link in list(by_key.items()):
            if key not in wanted:
                link.announcer.close()
                link.close(None)
                log.info("%s is no longer in the config: not answering there", link.label)
                self.links.remove(link)
        added = []
        for key, s in wanted.items():
            if key in by_key:
                by_key[key].apply(s, plans[id(s.addresses)], announce.get(key))
            else:
                added.append(Link(s, plans[id(s.addresses)], self))
                self.links.append(added[-1])
        self.settings = settings
        self.loaded_at = time.time()
        for link in self.links:  # the new sets; and VLAN links come and go: the parents' filters step aside for them
            if link.engine is not None:
                link.refilter()
        for event in self.watcher.watch([link.settings.name for link in self.links]):
            self._on_link_event(event)
        self._warn_missing(added)
        summary = {
            link.label: {"addresses": len(link.plan.addresses), "state": link.stats.state} for link in self.links
        }
        log.info(
            "reloaded (%s): %s", origin,
            ", ".join(f"{label} {s['addresses']} addresses ({s['state']})" for label, s in summary.items()),
        )  # fmt: skip
        future.set_result({"reloaded": summary})
        if self.on_reloaded is not None:
            self.on_reloaded()

    def _warn_missing(self, links: list[Link]) -> None:
        for link in links:
            if link.engine is None:
                log.warning(
                    "%s does not exist (yet): waiting for it to appear (interfaces here: %s)",
                    link.settings.name, ", ".join(self.host.interface_names()),
                )  # fmt: skip

    def _plans(self, settings: Settings) -> dict[int, SetPlan]:
        """A SetPlan per distinct AddressSet of the settings (interfaces sharing a set share its plan)."""
        plans: dict[int, SetPlan] = {}
        for s in settings.interfaces:
            if id(s.addresses) not in plans:
                plans[id(s.addresses)] = SetPlan.of(s.addresses, self.host)
        return plans

    def reload_command(self) -> Future:
        """The control socket's `reload`: the reload's Future (its result, a dict, is the answer)."""
        return self.request_reload("the control socket")

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM stop, SIGHUP reloads. Call from the main thread."""

        def stop(signum: int, _frame: object) -> None:
            log.info("%s: stopping", signal.Signals(signum).name)
            self.stop()

        def reload(_signum: int, _frame: object) -> None:
            self.request_reload("SIGHUP")

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, reload)


def print_summary(stats: ProcessStats) -> None:
    """The summary at exit, to stdout; not at all if stdout is gone (a terminal hung up, a closed pipe)."""
    with contextlib.suppress(OSError):
        print(stats.summary(), flush=True)


def run(cli: CommandLine) -> None:
    """`arpresponder run`: load the settings, start the views, answer until stopped, print the summary.

    The one entry point the CLI calls with what it parsed. UserError (one
    line for the CLI to print) for anything that stops it before or while
    it answers.
    """
    if cli.worker is not None:
        run_worker(cli)
        return
    views = cli.views
    check_view_options(views)
    setup_logging(views.verbose, views.log_format, to_stderr=not (views.live and sys.stderr.isatty()))
    events = keep_events()  # from the first warning on, for the live panel and `stats`
    settings = load(cli)
    check_workers(settings, cli.workers)
    if cli.workers > (os.cpu_count() or 1):
        log.warning("--workers %d on %d CPUs: they take turns on them", cli.workers, os.cpu_count() or 1)
    for warning in settings.warnings:
        log.warning("%s", warning)
    if settings.user:
        user_entry(settings.user, settings.user_where)  # an error now, not once the sockets are open
    if sys.platform.startswith("linux"):
        check_raw_sockets()  # now, not when an interface we wait for appears
    if not cli.share_interface:
        for s in settings.interfaces:  # another instance there: one error line now, before any view starts
            InterfaceLock(s.name, s.vlan).close()
    with contextlib.suppress(OSError):  # `pkill -HUP -x arpresponder` finds it, whatever runs it (python3 -m …)
        Path("/proc/self/comm").write_text("arpresponder")
    service = Service(settings, fanout_seed=os.getpid() if cli.workers > 1 else None)
    workers = Workers(cli.workers - 1, os.getpid(), service.run_in_loop, service.stats_of)
    service.on_reloaded = workers.reload
    fifo = None  # made now: a FIFO that cannot be made is an error before anything starts
    if cli.keepalived_fifo is not None:
        fifo = KeepalivedFifo(cli.keepalived_fifo, cli.keepalived_instance, service.follow_keepalived)
    stats = ProcessStats(service.link_stats, events, state=lambda: service.state)
    service.install_signal_handlers()
    # Closed in reverse: the views after the last count (the final JSON snapshot is the summary's numbers), then the
    # summary. Service.run() itself stops the announcers and closes the engines before it returns.
    with contextlib.ExitStack() as cleanup:
        commands = {
            "stats": stats.snapshot,
            "reload": service.reload_command,
            "activate": service.state_command(standby=False),
            "standby": service.state_command(standby=True),
        }
        observers = Observers.start(stats, service.stopped, views, commands, settings.interfaces[0].name)
        cleanup.callback(print_summary, stats)
        cleanup.callback(observers.close)
        cleanup.callback(lambda: workers.log_shares(sum(link.stats.received for link in service.links)))
        cleanup.callback(service.run_pending)  # the workers' last counts, before the views' last snapshot
        cleanup.callback(workers.stop)
        cleanup.callback(service.stop)
        service.set_on_batch(observers.on_batch)
        if fifo is not None:
            fifo.start()
            log.info("following keepalived through %s: standing by until it says MASTER", cli.keepalived_fifo)
        if cli.duration is not None:
            timer = threading.Timer(cli.duration, service.stop)
            timer.daemon = True
            timer.start()

        def ready() -> None:
            if workers.count:
                workers.start(sys.argv[1:])  # as root still, with worker 0's sockets open and its lock taken
            if settings.user:
                entry = user_entry(settings.user, settings.user_where)
                # Made as root, they belong to the user from now on: `stats` connects, the FIFO is reopened after a
                # keepalived restart.
                for path in (observers.control_path, cli.keepalived_fifo):
                    if path is not None:
                        os.chown(path, entry.pw_uid, entry.pw_gid)
                drop_to_user(settings.user)
                log.info("running as %s, with CAP_NET_RAW only", settings.user)

        service.run(ready)


def run_worker(cli: CommandLine) -> None:
    """Worker K of `run --workers` (workers.py): answer as worker 0 does, on a share of the frames, with no views;
    send the counts to worker 0; end when it tells us to, or when it ends."""
    seed, k, fd = cli.worker
    die_with_parent()
    setup_logging(cli.views.verbose, cli.views.log_format)
    if not cli.views.verbose:
        logging.getLogger("arpresponder").setLevel(logging.WARNING)  # worker 0 says what they all do
    settings = load(cli)
    service = Service(settings, worker=k, fanout_seed=seed)
    sender = CountSender(fd, lambda: {link.label: link.stats.take_counts() for link in service.links},
                         service.run_in_loop)  # fmt: skip
    service.install_signal_handlers()

    def ready() -> None:
        sender.start()
        if settings.user:
            drop_to_user(settings.user)

    try:
        service.run(ready)
    finally:
        service.stop()
        service.run_pending()
        sender.close()
