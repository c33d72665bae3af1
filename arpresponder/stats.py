"""Counters for one run: every frame ends up in exactly one of them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from .decision import Drop


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

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started

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
        width = max(len(label) for label, _ in rows)
        head = f"arpresponder on {self.interface} ({self.engine} engine), {self.uptime:.1f} s"
        return "\n".join([head, *(f"  {label:<{width}}  {value:>10}" for label, value in rows)])
