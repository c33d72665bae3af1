"""The live panel (`run --live`, `stats --watch`): one snapshot drawn to fit an 80×24 terminal.

It draws from a snapshot (ProcessStats.snapshot(), or the same JSON read
from the control socket), so the panel looks the same in both places: the
interfaces, one row each (IFACE_ROWS at most), then the totals' counters,
rates, drops and top lists, then the last log events.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

IFACE_ROWS = 3  # interfaces listed at most; the rest in one "+N more" row
DROP_ROWS = 4  # reasons listed at most; the rest are summed in one "+N more" row
EVENT_ROWS = 3


def render(snap: dict) -> RenderableType:
    conflict = _conflicts(snap)
    rows = IFACE_ROWS - 1 if conflict else IFACE_ROWS
    parts = [_title(snap), Text(""), _interfaces(snap, rows), *([conflict] if conflict else [])]
    return Group(*parts, Text(""), _body(snap), Text(""), _events(snap))


def _conflicts(snap: dict) -> Text | None:
    """One line: the most recent other host seen using an address of ours, and how many addresses that is in all.
    (It takes the place of the third interface row: the panel stays within 24 lines.)"""
    seen = [(c, link["interface"]) for link in snap["interfaces"].values() for c in link.get("conflicts", ())]
    if not seen:
        return None
    latest, label = min(seen, key=lambda cl: cl[0]["seen_s_ago"])
    state = "yielded" if latest["yielded"] else "still answered"
    more = f"; {len(seen) - 1} more" if len(seen) > 1 else ""
    return Text(
        f"conflict: {latest['ip']} is at {latest['mac']} too ({label}, {latest['seen_s_ago']:g} s ago, {state}){more}",
        style="bold yellow", no_wrap=True, overflow="ellipsis",
    )  # fmt: skip


def _title(snap: dict) -> Text:
    uptime = int(snap["uptime_s"])
    up = f"{uptime // 3600}:{uptime // 60 % 60:02d}:{uptime % 60:02d}"
    links = snap["interfaces"].values()
    dry = "  DRY RUN" if any(link["dry_run"] for link in links) else ""
    count = f"{len(links)} interface{'' if len(links) == 1 else 's'}"
    standby = "  STANDBY" if snap.get("state") == "standby" else ""
    return Text.assemble(
        ("arpresponder", "bold"), f"  pid {snap['pid']}  up {up}  {count}", (dry, "bold red"), (standby, "bold yellow")
    )


def _interfaces(snap: dict, rows: int = IFACE_ROWS) -> Table:
    table = Table(box=None, padding=(0, 1), collapse_padding=True, pad_edge=False, show_edge=False, header_style="bold")
    for heading, justify, width in (("interface", "left", 12), ("state", "left", 9), ("mac", "left", 17),
                                    ("engine", "left", 6), ("set", "right", 7), ("received", "right", 9),
                                    ("replied", "right", 9)):  # fmt: skip
        table.add_column(heading, justify=justify, min_width=width, no_wrap=True, overflow="ellipsis")
    links = list(snap["interfaces"].values())
    shown = links if len(links) <= rows else links[: rows - 1]
    for link in shown:
        table.add_row(link["interface"], link["state"], link["mac"] or "-", link["engine"], str(link["addresses"]),
                      str(link["received"]), str(link["replied"]))  # fmt: skip
    if len(shown) < len(links):
        table.add_row(f"+{len(links) - len(shown)} more", "", "", "", "", "", "")
    return table


def _body(snap: dict) -> Table:
    left = Table.grid()
    left.add_row(_counters(snap))
    left.add_row(_drops(snap))
    right = Table.grid()
    right.add_row(_top("top requested IPs", snap["top_targets"]))
    right.add_row(_top("top requesters", snap["top_senders"]))
    body = Table.grid(padding=(0, 3))
    body.add_row(left, right)
    return body


def _table() -> Table:
    """The panel's tables: no borders, one space between columns, bold headings."""
    return Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")


def _counters(snap: dict) -> Table:
    table = _table()
    table.add_column("frames", min_width=12)
    for heading in ("total", "/s 1 s", "/s 10 s"):
        table.add_column(heading, justify="right", min_width=8)
    rates = snap["rates"]
    totals = {"received": snap["received"], "replied": snap["replied"], "dropped": sum(snap["dropped"].values())}
    for key, total in totals.items():
        table.add_row(key, str(total), f"{rates['1s'][key]:.1f}", f"{rates['10s'][key]:.1f}")
    kernel = snap["kernel_drops"]
    table.add_row("kernel drops", "n/a" if kernel is None else str(kernel), "", "")
    table.add_row("announced", str(snap["announced"]), "", "")
    return table


def _drops(snap: dict) -> Table:
    table = _table()
    table.add_column("drops by reason", min_width=12)
    table.add_column("", justify="right", min_width=8)
    rows = sorted(((r, str(n)) for r, n in snap["dropped"].items() if n), key=lambda rn: -int(rn[1]))
    if len(rows) > DROP_ROWS:
        rows = [*rows[: DROP_ROWS - 1], (f"+{len(rows) - DROP_ROWS + 1} more", "")]
    for row in rows or [("none", "")]:
        table.add_row(*row)
    return table


def _top(title: str, top: list[dict]) -> Table:
    table = _table()
    table.add_column(title, width=18)
    table.add_column("", justify="right", width=9)
    for entry in top or [{"ip": "-", "count": ""}]:
        table.add_row(entry["ip"], str(entry["count"]))
    return table


def _events(snap: dict) -> Table:
    table = _table()
    table.add_column("recent events", no_wrap=True, overflow="ellipsis", max_width=78)
    for event in snap["events"][-EVENT_ROWS:]:
        when = time.strftime("%H:%M:%S", time.localtime(event["time"]))
        table.add_row(f"{when} {event['level'][:4]} {event['message']}")
    return table


def full_screen(get_snapshot: Callable[[], dict] | None = None, refresh_per_second: float = 4) -> Live:
    """A full-screen Live (use as a context manager, or start()/stop()).

    With get_snapshot it redraws itself from it refresh_per_second times a
    second (`run --live`); without, the caller update()s it (`stats --watch`).
    """
    return Live(
        get_renderable=(lambda: render(get_snapshot())) if get_snapshot else None,
        auto_refresh=get_snapshot is not None,
        console=Console(),
        screen=True,
        refresh_per_second=refresh_per_second,
        redirect_stdout=False,
        redirect_stderr=False,
    )
