"""The snapshot's shape: what every view reads (ProcessStats.snapshot()) and what `stats --json` prints.

The totals of every link are at the top level, so a consumer that wants one
number need not add; each link's own figures are under `interfaces`, keyed
by its label (`r0`, or `r0 vlan 100` for a VLAN answered on its parent).
"""

from __future__ import annotations

from typing import TypedDict

Rates = dict[str, dict[str, float]]  # "1s" | "10s" → "received" | "replied" | "dropped" → frames/s
Top = list[dict]  # [{"ip": "198.51.100.10", "count": 7}], highest first


class InterfaceSnapshot(TypedDict):
    interface: str  # the link's label
    vlan: int  # the VLAN answered on, on the parent; 0: untagged frames
    state: str  # waiting | answering | down
    mac: str  # the interface's, as replies carry it ("" while waiting for the interface)
    engine: str
    dry_run: bool
    addresses: int  # in the set answered for
    loaded_at: float  # when that set was loaded (Unix time; a start or a reload)
    received: int
    replied: int
    sent: int
    send_errors: int
    dropped: dict[str, int]  # reason → frames; reasons filtered in the kernel are absent, not 0
    kernel_filter: str  # what the kernel filter passes, in words
    kernel_drops: int | None  # None: the engine cannot tell
    announced: int  # gratuitous ARP frames sent
    link_events: dict[str, int]  # appeared | gone | mac-changed | down | up → times
    rates: Rates
    top_targets: Top
    top_senders: Top


class Snapshot(TypedDict):
    pid: int
    uptime_s: float
    received: int  # the totals over interfaces, as in InterfaceSnapshot
    replied: int
    sent: int
    send_errors: int
    announced: int
    dropped: dict[str, int]
    kernel_drops: int | None
    rates: Rates
    top_targets: Top
    top_senders: Top
    interfaces: dict[str, InterfaceSnapshot]
    events: list[dict]  # the last notable log records: {"time", "level", "message"}
    pcap_dropped: int  # what each view gave up rather than make the loop wait (observe/worker.py)
    log_dropped: int
    stats_json_dropped: int
    control_dropped: int
    metrics_dropped: int
