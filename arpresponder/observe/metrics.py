"""Prometheus metrics (`run --metrics HOST:PORT`), read from the stats snapshot at scrape time.

Nothing is counted twice: a custom collector turns the same snapshot the
other views read into metric families, so the fast path does no extra work
and the numbers match the JSON. No label per IP: sets hold millions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from ..errors import ConfigError, UserError
from .stats import VIEW_DROPS


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (or [v6]:PORT) → (host, port); ConfigError naming what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise ConfigError(f"--metrics {text!r}: give HOST:PORT, e.g. 127.0.0.1:9417 or 0.0.0.0:9417")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--metrics {text!r}: port must be a number from 1 to 65535")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"--metrics {text!r}: {host!r} is not an IP address (or localhost)") from None
    return host, int(port)


class StatsCollector:
    def __init__(self, snapshot: Callable[[], dict]):
        self.snapshot = snapshot

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        snap = self.snapshot()
        yield InfoMetricFamily("arpresponder", "The instance: interface, MAC, engine.",
                               value={"interface": snap["interface"], "mac": snap["mac"], "engine": snap["engine"]})  # fmt: skip
        yield GaugeMetricFamily("arpresponder_uptime_seconds", "Seconds since the run started.", value=snap["uptime_s"])
        for name, key, doc in (
            ("arpresponder_received_frames", "received", "ARP frames the engine handed to the decision."),
            ("arpresponder_replies", "replied", "Requests the decision answered (sent, or not in a dry run)."),
            ("arpresponder_replies_sent", "sent", "Reply frames the kernel took."),
            ("arpresponder_send_errors", "send_errors", "Reply frames the kernel refused."),
            ("arpresponder_announcements_sent", "announced", "Gratuitous ARP frames sent."),
        ):
            yield CounterMetricFamily(name, doc, value=snap[key])
        dropped = CounterMetricFamily(
            "arpresponder_dropped_frames", "Frames not answered, by reason (classes filtered in the kernel are absent).",
            labels=["reason"],
        )  # fmt: skip
        for reason, n in snap["dropped"].items():
            dropped.add_metric([reason], n)
        yield dropped
        filtered = GaugeMetricFamily(
            "arpresponder_filtered_in_kernel", "1 for each drop class the kernel's BPF filter removes before we count it.",
            labels=["reason"],
        )  # fmt: skip
        for reason in snap["filtered_in_kernel"]:
            filtered.add_metric([reason], 1)
        yield filtered
        for view, unit in VIEW_DROPS.items():  # e.g. arpresponder_pcap_dropped_frames_total
            doc = f"{unit.capitalize()} the {view} view gave up rather than wait (see the README)."
            yield CounterMetricFamily(f"arpresponder_{view}_dropped_{unit}", doc, value=snap[f"{view}_dropped"])
        if snap["kernel_drops"] is not None:  # an engine that cannot tell exports nothing rather than a false 0
            yield CounterMetricFamily("arpresponder_kernel_drops", "Frames the kernel dropped for lack of buffer.",
                                      value=snap["kernel_drops"])  # fmt: skip


def serve_metrics(listen: str, snapshot: Callable[[], dict]):
    """Start the HTTP endpoint in a daemon thread; returns the server (call shutdown(), then server_close(), at the end)."""
    host, port = parse_listen(listen)
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise UserError("--metrics needs prometheus-client: pip install 'arpresponder[metrics]'") from None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(snapshot))
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        raise UserError(f"--metrics {listen}: cannot listen there: {e.strerror or e}") from None
    return server
