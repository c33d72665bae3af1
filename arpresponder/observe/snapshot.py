"""The snapshot's shape: what every view reads (ProcessStats.snapshot()) and what `stats --json` prints.

The totals of every link are at the top level, so a consumer that wants one
number need not add; each link's own figures are under `interfaces`, keyed
by its label (`r0`, or `r0 vlan 100` for a VLAN answered on its parent).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

Rates = dict[str, dict[str, float]]  # "1s" | "10s" → "received" | "replied" | "dropped" → frames/s
Top = list[dict]  # [{"ip": "198.51.100.10", "count": 7}], highest first


class InterfaceSnapshot(TypedDict):
    """One link's figures (observe.stats.Stats.snapshot), under the snapshot's `interfaces`."""

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
    dropped: dict[str, int]  # every Drop reason → frames, of those the kernel filter passed
    kernel_filter: str  # what the kernel filter passes, in words
    kernel_drops: int | None  # None: the engine cannot tell
    announced: int  # gratuitous ARP frames sent
    link_events: dict[str, int]  # appeared | gone | mac-changed | down | up → times
    rates: Rates
    top_targets: Top
    top_senders: Top
    probes_sent: int  # ARP probes sent (claim = unowned)
    replied_late: int  # of replied: requests answered once their address was claimed
    # Who else uses our addresses (owners.Owners.snapshot); absent for a link without an owner table (tests' fakes).
    on_conflict: NotRequired[str]  # warn | yield | defend
    claim: NotRequired[str]  # all | unowned
    conflicts: NotRequired[list[dict]]  # the most recent: {"ip", "mac", "seen_s_ago", "frames", "yielded"}
    conflicts_known: NotRequired[int]  # addresses other hosts are seen using now
    conflict_outcomes: NotRequired[dict[str, int]]  # seen, warned, yielded, … → times
    claims: NotRequired[dict[str, int] | None]  # claim mode: {"claimed", "probing"}; None otherwise


class Snapshot(TypedDict):
    """The whole process: the totals over its links, and each link's InterfaceSnapshot."""

    pid: int
    state: str  # active | standby (keepalived's backup)
    uptime_s: float
    received: int  # the totals over interfaces, as in InterfaceSnapshot
    replied: int
    sent: int
    send_errors: int
    announced: int
    probes_sent: int
    replied_late: int
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
