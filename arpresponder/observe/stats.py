"""Counters for one run: every frame ends up in exactly one of them; and the snapshot every view reads.

The loop thread writes the counters once per batch; the views (live panel,
control socket, JSON file, Prometheus, log line) run in other threads and
only ever read `snapshot()`, which copies what it reads in single C-level
steps, so no lock is taken on the fast path.
"""

from __future__ import annotations

import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from operator import itemgetter

from ..codec import OFFSET_SPA, OFFSET_TPA
from ..decision import Drop
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


@dataclass
class Stats:
    interface: str
    engine: str
    started: float = field(default_factory=time.monotonic)
    received: int = 0  # frames the engine handed to the decision
    replied: int = 0  # frames the decision answered (sent, or not in --dry-run)
    dropped: Counter[Drop] = field(default_factory=Counter)  # reason → frames
    sent: int = 0  # reply frames the engine sent
    send_errors: int = 0  # reply frames the kernel refused (e.g. ENOBUFS under flood)
    announced: int = 0  # gratuitous ARP frames sent
    kernel_drops: int | None = None  # frames the kernel dropped for lack of buffer; None: engine cannot tell
    filtered_in_kernel: frozenset[Drop] = frozenset()  # classes the engine's kernel filter removes: never seen here
    kernel_filter: str = ""  # what that filter lets through, in words: every count here covers only that
    mac: str = ""
    dry_run: bool = False
    top_targets: TopK = field(default_factory=lambda: TopK(TOP_TRACKED))
    top_senders: TopK = field(default_factory=lambda: TopK(TOP_TRACKED))
    events: deque[dict] = field(default_factory=lambda: deque(maxlen=5))  # notable log records, newest last
    view_drops: dict[str, Tally] = field(default_factory=dict)  # view (a VIEW_DROPS key) → what it gave up
    _batches: int = 0  # large batches sketched, to move the sample's start
    _samples: deque[tuple[float, int, int, int]] = field(default_factory=lambda: deque(maxlen=_SAMPLES_KEPT))

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started

    def sketch_batch(self, frames: list[bytes]) -> None:
        """Feed the top-K sketches from one batch, at a cost that does not grow with the batch.

        Up to SKETCH_SAMPLE frames every frame is counted (exact at a calm
        rate); a larger batch, i.e. a flood, is sampled every stride-th frame
        and each sampled frame counts stride times (so counts are estimates
        then). Counting every frame of a
        flood cost ~20% of the loop's time per frame; this costs a few %.
        """
        stride = -(-len(frames) // SKETCH_SAMPLE)
        if stride > 1:
            # The start moves every batch, so traffic that repeats with the stride's period is not aliased.
            self._batches += 1
            sample = frames[self._batches % stride :: stride]
        else:
            sample = frames
        self.top_targets.update(map(TARGET_IP, sample), stride)
        self.top_senders.update(map(SENDER_IP, sample), stride)

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

    def snapshot(self) -> dict:
        """Everything the views show, as plain JSON-ready data.

        Drop classes the kernel filters are listed under filtered_in_kernel
        and left out of dropped: we never see them, so a count would lie.
        """
        dropped = dict(self.dropped)  # C-level copy: the loop thread may add a reason meanwhile
        return {
            "interface": self.interface,
            "mac": self.mac,
            "engine": self.engine,
            "dry_run": self.dry_run,
            "uptime_s": round(self.uptime, 3),
            "received": self.received,
            "replied": self.replied,
            "sent": self.sent,
            "send_errors": self.send_errors,
            "dropped": {str(r): dropped.get(r, 0) for r in Drop if r not in self.filtered_in_kernel},
            "filtered_in_kernel": sorted(str(r) for r in self.filtered_in_kernel),
            "kernel_filter": self.kernel_filter,
            "kernel_drops": self.kernel_drops,
            "announced": self.announced,
            "rates": self.rates(),
            "top_targets": _top(self.top_targets),
            "top_senders": _top(self.top_senders),
            "events": list(self.events),
            **{f"{view}_dropped": self.dropped_by(view) for view in VIEW_DROPS},
        }

    def dropped_by(self, view: str) -> int:
        """How many items (VIEW_DROPS[view]) the view gave up rather than wait; 0 for a view not running."""
        tally = self.view_drops.get(view)
        return tally.total if tally is not None else 0

    def summary(self, dry_run: bool = False) -> str:
        """The one-screen report printed when a run ends."""
        rows = [("frames seen", self.received)]
        if dry_run:
            rows.append(("would have replied (dry run)", self.replied))
        else:
            rows.append(("replies sent", self.sent))
            if self.send_errors:
                rows.append(("replies the kernel refused", self.send_errors))
        rows.append(("dropped", sum(self.dropped.values())))
        rows += [(f"  {reason}", n) for reason, n in sorted(self.dropped.items(), key=lambda kv: -kv[1])]
        rows += [(f"  {reason}", "in kernel") for reason in sorted(self.filtered_in_kernel)]
        rows.append(("kernel drops", "n/a" if self.kernel_drops is None else self.kernel_drops))
        if self.announced:
            rows.append(("gratuitous ARP frames sent", self.announced))
        rows += [
            (f"{view} {unit} dropped", self.dropped_by(view))
            for view, unit in VIEW_DROPS.items()
            if self.dropped_by(view)
        ]
        width = max(len(label) for label, _ in rows)
        head = f"arpresponder on {self.interface} ({self.engine} engine), {self.uptime:.1f} s"
        lines = [head, *(f"  {label:<{width}}  {value:>10}" for label, value in rows)]
        if self.kernel_filter:
            lines.append(f"  (the kernel filter passes {self.kernel_filter}: the counts cover those frames only)")
        return "\n".join(lines)


def _top(sketch: TopK) -> list[dict]:
    # Keys shorter than 4 bytes (at most 4 of them: lengths 0-3) come from truncated frames: never shown.
    top = sketch.top(TOP_SHOWN + 4)
    return [{"ip": socket.inet_ntoa(key), "count": n} for key, n in top if len(key) == 4][:TOP_SHOWN]


def one_line(snap: dict) -> str:
    """The snapshot as one log line (`run --stats-interval`)."""
    rate = snap["rates"]["10s"]
    drops = [f"{reason} {n}" for reason, n in sorted(snap["dropped"].items(), key=lambda rn: -rn[1]) if n]
    drops += [f"{reason} filtered in kernel" for reason in snap["filtered_in_kernel"]]
    kernel = "n/a" if snap["kernel_drops"] is None else snap["kernel_drops"]
    views = [f"{view} {snap[f'{view}_dropped']}" for view in VIEW_DROPS if snap[f"{view}_dropped"]]
    return (
        f"stats: received {snap['received']} ({rate['received']:g}/s), replied {snap['replied']} ({rate['replied']:g}/s), "
        f"dropped {sum(snap['dropped'].values())} ({', '.join(drops) or 'none'}), kernel drops {kernel}"
        + (f", views dropped: {', '.join(views)}" if views else "")
    )
