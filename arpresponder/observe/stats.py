"""Counters: a Stats for each link (every frame ends up in exactly one of its counters), and ProcessStats, which
puts them together with what the views dropped and the recent events into the snapshot every view reads.

The loop thread writes a link's counters once per batch; the views (live
panel, control socket, JSON file, Prometheus, log line) run in other threads
and only ever read `ProcessStats.snapshot()`, which copies what it reads in
single C-level steps, so no lock is taken on the fast path. The snapshot's
shape is declared in observe/snapshot.py.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter

from ..codec import OFFSET_SPA, OFFSET_TPA
from ..decision import Drop
from ..owners import CLAIM_OUTCOMES
from .snapshot import InterfaceSnapshot, Snapshot
from .topk import TopK
from .worker import Tally

TARGET_IP = itemgetter(slice(OFFSET_TPA, OFFSET_TPA + 4))  # ARP tpa: the address asked about
SENDER_IP = itemgetter(slice(OFFSET_SPA, OFFSET_SPA + 4))  # ARP spa: who asks
TOP_TRACKED = 64  # keys each sketch holds (at most twice that between shrinks)
TOP_SHOWN = 5
SKETCH_SAMPLE = 16  # frames of a batch counted at most (see Stats.sketch_batch)
RATE_WINDOWS = (1, 10)  # seconds
_SAMPLES_KEPT = 64  # rate samples: more than 10 s at the views' 4 a second
# What each view can have to give up rather than wait (see worker.py): snapshot key `<view>_dropped`, and its unit.
VIEW_DROPS = {"pcap": "frames", "log": "records", "stats_json": "writes", "control": "connections",
              "metrics": "connections"}  # fmt: skip
# Summed over the links for the totals.
COUNTERS = ("received", "replied", "sent", "send_errors", "announced", "probes_sent", "replied_late")
# What a worker process of `run --workers` counts on a link, handed to the main process as it goes (workers.py).
WORKER_COUNTERS = ("received", "replied", "sent", "send_errors")


@dataclass
class Stats:
    """One link's counters (an interface, or a VLAN on its parent)."""

    interface: str  # the link's label: `r0`, or `r0 vlan 100`
    engine: str
    vlan: int = 0
    state: str = "waiting"  # waiting (for the interface to appear) | answering | down
    received: int = 0  # frames the engine handed to the decision
    replied: int = 0  # frames the decision answered (sent, or not in --dry-run)
    dropped: Counter[Drop] = field(default_factory=Counter)  # reason → frames
    sent: int = 0  # reply frames the engine sent
    send_errors: int = 0  # reply frames the kernel refused (e.g. ENOBUFS under flood)
    announced: int = 0  # gratuitous ARP frames sent
    kernel_drops: int | None = None  # frames the kernel dropped for lack of buffer; None: engine cannot tell
    kernel_filter: str = ""  # what that filter lets through, in words: every count here covers only that
    mac: str = ""
    dry_run: bool = False
    addresses: int = 0  # in the set answered for
    loaded_at: float = 0.0  # when that set was loaded (time.time(): a start or a reload)
    link_events: Counter[str] = field(default_factory=Counter)  # links.Change value → times seen
    probes_sent: int = 0  # ARP probes sent to find out whether anyone uses an address (claim = unowned)
    replied_late: int = 0  # of replied: requests first dropped as unclaimed, answered once their address was claimed
    owners: Callable[[], dict] | None = None  # the owner table's part of the snapshot (owners.Owners.snapshot)
    top_targets: TopK = field(default_factory=lambda: TopK(TOP_TRACKED))
    top_senders: TopK = field(default_factory=lambda: TopK(TOP_TRACKED))
    _batches: int = 0  # large batches sketched, to move the sample's start
    _samples: deque[tuple[float, int, int, int]] = field(default_factory=lambda: deque(maxlen=_SAMPLES_KEPT))

    def set_loaded(self, addresses: int) -> None:
        """A set of that many addresses is answered for from now on."""
        self.addresses, self.loaded_at = addresses, time.time()

    def count_sent(self, replies: int, sent: int) -> None:
        """Of `replies` frames handed to the engine, the kernel took `sent`; the rest it refused (send_errors)."""
        self.sent += sent
        self.send_errors += replies - sent

    def opened(self, engine: str, mac: str, kernel_filter: str) -> None:
        """An engine opened on the interface: what it is, the interface's MAC, what its kernel filter passes."""
        self.engine, self.mac, self.kernel_filter = engine, mac, kernel_filter

    def sketch_batch(self, frames: list[bytes], tag_len: int = 0) -> None:
        """Feed the top-K sketches from one batch, at a cost that does not grow with the batch.

        Up to SKETCH_SAMPLE frames every frame is counted (exact at a calm
        rate); a larger batch, i.e. a flood, is sampled every stride-th frame
        and each sampled frame counts stride times (so counts are estimates
        then). Counting every frame of a flood cost ~20% of the loop's time
        per frame; this costs a few %. tag_len: bytes of VLAN tag before the
        ARP fields (4 on a link answering a VLAN on its parent).
        """
        stride = -(-len(frames) // SKETCH_SAMPLE)
        if stride > 1:
            # The start moves every batch, so traffic that repeats with the stride's period is not aliased.
            self._batches += 1
            sample = frames[self._batches % stride :: stride]
        else:
            sample = frames
        if tag_len:
            sample = [frame[tag_len:] for frame in sample]
        self.top_targets.update(map(TARGET_IP, sample), stride)
        self.top_senders.update(map(SENDER_IP, sample), stride)

    def take_counts(self) -> dict:
        """What was counted since the last call, as plain data (picklable), and start again from zero: a worker
        process's share (workers.py), which the main process adds to its own Stats with add_counts()."""
        counts = {key: getattr(self, key) for key in WORKER_COUNTERS}
        counts["dropped"], counts["kernel_drops"] = dict(self.dropped), self.kernel_drops or 0
        counts["top_targets"], counts["top_senders"] = self.top_targets.take(), self.top_senders.take()
        for key in WORKER_COUNTERS:
            setattr(self, key, 0)
        self.dropped = Counter()
        self.kernel_drops = None if self.kernel_drops is None else 0
        return counts

    def add_counts(self, counts: dict) -> None:
        """Add a worker's share (take_counts() in that process)."""
        for key in WORKER_COUNTERS:
            setattr(self, key, getattr(self, key) + counts[key])
        self.dropped.update(counts["dropped"])
        if counts["kernel_drops"]:
            self.kernel_drops = (self.kernel_drops or 0) + counts["kernel_drops"]
        self.top_targets.merge(counts["top_targets"])
        self.top_senders.merge(counts["top_senders"])

    def sample(self) -> None:
        """Record the counters now, for rates; the views call this a few times a second."""
        self._samples.append((time.monotonic(), self.received, self.replied, sum(self.dropped.values())))

    def rates(self) -> dict[str, dict[str, float]]:
        """Frames a second over each of RATE_WINDOWS, from the samples: {"1s": {"received": …}, …}."""
        samples = list(self._samples)
        out = {}
        for window in RATE_WINDOWS:
            rate = dict.fromkeys(("received", "replied", "dropped"), 0.0)
            if len(samples) > 1:
                newest = samples[-1]
                oldest = next((s for s in samples if s[0] >= newest[0] - window - 0.01), samples[0])
                elapsed = newest[0] - oldest[0]
                if elapsed > 0:
                    rate = {k: round((newest[i] - oldest[i]) / elapsed, 1) for i, k in enumerate(rate, 1)}
            out[f"{window}s"] = rate
        return out

    def snapshot(self) -> InterfaceSnapshot:
        """This link's part of the snapshot: every count covers the frames its kernel filter passed
        (kernel_filter says which)."""
        dropped = dict(self.dropped)  # C-level copy: the loop thread may add a reason meanwhile
        return {
            "interface": self.interface,
            "vlan": self.vlan,
            "state": self.state,
            "mac": self.mac,
            "engine": self.engine,
            "dry_run": self.dry_run,
            "addresses": self.addresses,
            "loaded_at": round(self.loaded_at, 3),
            "received": self.received,
            "replied": self.replied,
            "sent": self.sent,
            "send_errors": self.send_errors,
            "dropped": {str(r): dropped.get(r, 0) for r in Drop},
            "kernel_filter": self.kernel_filter,
            "kernel_drops": self.kernel_drops,
            "announced": self.announced,
            "link_events": dict(self.link_events),
            "rates": self.rates(),
            "top_targets": _top(self.top_targets),
            "top_senders": _top(self.top_senders),
            "probes_sent": self.probes_sent,
            "replied_late": self.replied_late,
            **(self.owners() if self.owners is not None else {}),
        }


@dataclass
class ProcessStats:
    """The whole run: its links' Stats (as `links()` gives them now: a reload adds and removes links), what the
    views gave up rather than wait, and the recent notable log records."""

    links: Callable[[], list[Stats]]
    events: deque[dict] = field(default_factory=lambda: deque(maxlen=5))  # notable log records, newest last
    view_drops: dict[str, Tally] = field(default_factory=dict)  # view (a VIEW_DROPS key) → what it gave up
    started: float = field(default_factory=time.monotonic)
    state: Callable[[], str] = lambda: "active"  # active, or standby (keepalived's backup)

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started

    def sample(self) -> None:
        """Record every link's counters now, for rates."""
        for link in self.links():
            link.sample()

    def dropped_by(self, view: str) -> int:
        """How many items (VIEW_DROPS[view]) the view gave up rather than wait; 0 for a view not running."""
        tally = self.view_drops.get(view)
        return tally.total if tally is not None else 0

    def snapshot(self) -> Snapshot:
        """Everything the views show, as plain JSON-ready data: the totals at the top, each link under interfaces."""
        interfaces = [link.snapshot() for link in self.links()]
        dropped: Counter[str] = Counter()
        for snap in interfaces:
            dropped.update(snap["dropped"])
        kernel_drops = [snap["kernel_drops"] for snap in interfaces if snap["kernel_drops"] is not None]
        return {
            "pid": os.getpid(),
            "state": self.state(),
            "uptime_s": round(self.uptime, 3),
            **{key: sum(snap[key] for snap in interfaces) for key in COUNTERS},
            "dropped": {reason: dropped[reason] for reason in _reasons(interfaces)},
            "kernel_drops": sum(kernel_drops) if kernel_drops else None,
            "rates": _sum_rates([snap["rates"] for snap in interfaces]),
            "top_targets": _merge_top([snap["top_targets"] for snap in interfaces]),
            "top_senders": _merge_top([snap["top_senders"] for snap in interfaces]),
            "interfaces": {snap["interface"]: snap for snap in interfaces},
            "events": list(self.events),
            **{f"{view}_dropped": self.dropped_by(view) for view in VIEW_DROPS},
        }

    def summary(self) -> str:
        """The report printed when a run ends: each link's counters, then the totals when there are several."""
        links = self.links()
        blocks = [
            _summary(link.snapshot(), f"arpresponder on {link.interface} ({link.engine} engine)") for link in links
        ]
        snap = self.snapshot()
        if len(links) > 1:
            blocks.append(_summary(snap, f"all {len(links)} interfaces"))
        views = [(f"{view} {unit} dropped", self.dropped_by(view)) for view, unit in VIEW_DROPS.items()]
        views = [row for row in views if row[1]]
        footer = f"ran {self.uptime:.1f} s" + "".join(f"; {label}: {n}" for label, n in views)
        return "\n".join([*blocks, footer])


def _summary(snap: InterfaceSnapshot | Snapshot, head: str) -> str:
    dry = snap.get("dry_run", False)
    rows: list[tuple[str, object]] = [("frames seen", snap["received"])]
    if dry:
        rows.append(("would have replied (dry run)", snap["replied"]))
    else:
        rows.append(("replies sent", snap["sent"]))
        if snap["send_errors"]:
            rows.append(("replies the kernel refused", snap["send_errors"]))
    rows.append(("dropped", sum(snap["dropped"].values())))
    rows += [(f"  {reason}", n) for reason, n in sorted(snap["dropped"].items(), key=lambda kv: -kv[1]) if n]
    rows.append(("kernel drops", "n/a" if snap["kernel_drops"] is None else snap["kernel_drops"]))
    if snap["announced"]:
        rows.append(("gratuitous ARP frames sent", snap["announced"]))
    if snap.get("probes_sent"):
        rows.append(("ARP probes sent (claim = unowned)", snap["probes_sent"]))
    if snap.get("replied_late"):
        rows.append(("replies once claimed", snap["replied_late"]))
    outcomes = snap.get("conflict_outcomes") or {}
    claiming = snap.get("claim") == "unowned"
    if outcomes.get("seen"):
        policy = "" if claiming else f" (on_conflict = {snap.get('on_conflict')})"
        rows.append((f"other hosts on our addresses{policy}", outcomes["seen"]))
        rows += [(f"  {o}", n) for o, n in sorted(outcomes.items()) if o != "seen" and o not in CLAIM_OUTCOMES]
    if claiming:
        rows.append(("claim = unowned", ""))
        rows += [(f"  {o}", n) for o, n in sorted(outcomes.items()) if o in CLAIM_OUTCOMES]
    width = max(len(label) for label, _ in rows)
    lines = [head, *(f"  {label:<{width}}  {value:>10}" for label, value in rows)]
    if snap.get("kernel_filter"):
        lines.append(f"  (the kernel filter passes {snap['kernel_filter']}: the counts cover those frames only)")
    return "\n".join(lines)


def _reasons(interfaces: list[InterfaceSnapshot]) -> list[str]:
    """Every drop reason some link counts (not filtered in its kernel), in Drop's order."""
    counted = set().union(*(snap["dropped"] for snap in interfaces)) if interfaces else set()
    return [str(r) for r in Drop if str(r) in counted]


def _sum_rates(rates: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out = {f"{w}s": dict.fromkeys(("received", "replied", "dropped"), 0.0) for w in RATE_WINDOWS}
    for rate in rates:
        for window, values in rate.items():
            for key, value in values.items():
                out[window][key] = round(out[window][key] + value, 1)
    return out


def _merge_top(lists: list[list[dict]]) -> list[dict]:
    counts: Counter[str] = Counter()
    for top in lists:
        for entry in top:
            counts[entry["ip"]] += entry["count"]
    return [{"ip": ip, "count": n} for ip, n in counts.most_common(TOP_SHOWN)]


def _top(sketch: TopK) -> list[dict]:
    # Keys shorter than 4 bytes (at most 4 of them: lengths 0-3) come from truncated frames: never shown.
    top = sketch.top(TOP_SHOWN + 4)
    return [{"ip": socket.inet_ntoa(key), "count": n} for key, n in top if len(key) == 4][:TOP_SHOWN]


def one_line(snap: Snapshot) -> str:
    """The snapshot as one log line (`run --stats-interval`): the totals, and each link's state if several."""
    rate = snap["rates"]["10s"]
    drops = [f"{reason} {n}" for reason, n in sorted(snap["dropped"].items(), key=lambda rn: -rn[1]) if n]
    kernel = "n/a" if snap["kernel_drops"] is None else snap["kernel_drops"]
    views = [f"{view} {snap[f'{view}_dropped']}" for view in VIEW_DROPS if snap[f"{view}_dropped"]]
    links = [f"{label} {link['state']}" for label, link in snap["interfaces"].items()]
    return (
        f"stats: received {snap['received']} ({rate['received']:g}/s), replied {snap['replied']} ({rate['replied']:g}/s), "
        f"dropped {sum(snap['dropped'].values())} ({', '.join(drops) or 'none'}), kernel drops {kernel}"
        + (
            f"; {', '.join(links)}"
            if len(links) > 1 or any(s["state"] != "answering" for s in snap["interfaces"].values())
            else ""
        )
        + (f", views dropped: {', '.join(views)}" if views else "")
    )
