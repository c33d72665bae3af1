"""Prometheus metrics (`run --metrics HOST:PORT`), read from the stats snapshot at scrape time.

Nothing is counted twice: a custom collector turns the same snapshot the
other views read into metric families, so the fast path does no extra work
and the numbers match the JSON. No label per IP: sets hold millions. Served
by a BoundedServer: at most MAX_CONNECTIONS at once, DEADLINE seconds each.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from ..errors import ConfigError, UserError
from .server import BoundedServer, Protocol
from .stats import VIEW_DROPS
from .worker import Tally

MAX_CONNECTIONS = 16  # open at once
DEADLINE = 5.0  # seconds from accept to the end of the response
MAX_REQUEST = 8192  # bytes of request head
BACKLOG = 64  # connections the kernel holds until we accept them
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            503: "Service Unavailable"}  # fmt: skip


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
    """Turns the snapshot into metric families at scrape time: one series per interface (label `interface`), the
    process-wide ones (uptime, what the views dropped) without it. Totals are for PromQL's sum()."""

    def __init__(self, snapshot: Callable[[], dict]):
        self.snapshot = snapshot

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        snap = self.snapshot()
        links = list(snap["interfaces"].values())
        info = InfoMetricFamily("arpresponder", "Each interface answered on: its MAC, engine, VLAN, state.",
                                labels=["interface"])  # fmt: skip
        for link in links:
            info.add_metric([link["interface"]], {"mac": link["mac"], "engine": link["engine"],
                                                  "vlan": str(link["vlan"]), "state": link["state"]})  # fmt: skip
        yield info
        yield GaugeMetricFamily("arpresponder_uptime_seconds", "Seconds since the run started.", value=snap["uptime_s"])
        up = GaugeMetricFamily("arpresponder_answering", "1 while the interface is there and up, else 0.",
                               labels=["interface"])  # fmt: skip
        size = GaugeMetricFamily(
            "arpresponder_set_addresses", "Addresses in the set answered for.", labels=["interface"]
        )
        loaded = GaugeMetricFamily("arpresponder_set_loaded_timestamp_seconds", "When that set was loaded (Unix time).",
                                   labels=["interface"])  # fmt: skip
        for link in links:
            up.add_metric([link["interface"]], 1 if link["state"] == "answering" else 0)
            size.add_metric([link["interface"]], link["addresses"])
            loaded.add_metric([link["interface"]], link["loaded_at"])
        yield from (up, size, loaded)
        for name, key, doc in (
            ("arpresponder_received_frames", "received", "ARP frames the engine handed to the decision."),
            ("arpresponder_replies", "replied", "Requests the decision answered (sent, or not in a dry run)."),
            ("arpresponder_replies_sent", "sent", "Reply frames the kernel took."),
            ("arpresponder_send_errors", "send_errors", "Reply frames the kernel refused."),
            ("arpresponder_announcements_sent", "announced", "Gratuitous ARP frames sent."),
        ):
            family = CounterMetricFamily(name, doc, labels=["interface"])
            for link in links:
                family.add_metric([link["interface"]], link[key])
            yield family
        dropped = CounterMetricFamily(
            "arpresponder_dropped_frames", "Frames not answered, by reason (of those the kernel filter passed).",
            labels=["interface", "reason"],
        )  # fmt: skip
        events = CounterMetricFamily("arpresponder_link_events", "Interface changes seen (netlink).",
                                     labels=["interface", "event"])  # fmt: skip
        kernel = CounterMetricFamily("arpresponder_kernel_drops", "Frames the kernel dropped for lack of buffer.",
                                     labels=["interface"])  # fmt: skip
        outcomes = CounterMetricFamily(
            "arpresponder_conflict_outcomes", "What another host using our addresses led to (seen, warned, yielded, "
            "defended, resumed; claim mode: probed, claimed, released, …).", labels=["interface", "outcome"],
        )  # fmt: skip
        conflicts = GaugeMetricFamily("arpresponder_conflicts", "Addresses of the set other hosts are seen using now.",
                                      labels=["interface"])  # fmt: skip
        claimed = GaugeMetricFamily("arpresponder_claimed_addresses", "claim = unowned: addresses claimed so far.",
                                    labels=["interface"])  # fmt: skip
        for link in links:
            for reason, n in link["dropped"].items():
                dropped.add_metric([link["interface"], reason], n)
            for event, n in link["link_events"].items():
                events.add_metric([link["interface"], event], n)
            if link["kernel_drops"] is not None:  # an engine that cannot tell exports nothing rather than a false 0
                kernel.add_metric([link["interface"]], link["kernel_drops"])
            for outcome, n in link.get("conflict_outcomes", {}).items():
                outcomes.add_metric([link["interface"], outcome], n)
            conflicts.add_metric([link["interface"]], link.get("conflicts_known", 0))
            if link.get("claims"):
                claimed.add_metric([link["interface"]], link["claims"]["claimed"])
        yield from (dropped, events, kernel, outcomes, conflicts, claimed)
        yield GaugeMetricFamily("arpresponder_standby", "1 while standing by (keepalived's backup), 0 while active.",
                                value=1 if snap.get("state") == "standby" else 0)  # fmt: skip
        for view, unit in VIEW_DROPS.items():  # e.g. arpresponder_pcap_dropped_frames_total
            doc = f"{unit.capitalize()} the {view} view gave up rather than wait (see the README)."
            yield CounterMetricFamily(f"arpresponder_{view}_dropped_{unit}", doc, value=snap[f"{view}_dropped"])


def metrics_dropped() -> Tally:
    """The metrics_dropped count, with its log line."""
    return Tally(
        f"metrics: %d connection(s) closed unanswered: more than {MAX_CONNECTIONS} at once, "
        f"or no whole request and response within {DEADLINE:g} s"
    )


def exposure(host: str) -> str | None:
    """What the endpoint is open to, when more than this host (a warning), or None for a loopback address.

    host as parse_listen returns it: "localhost" or an IP address.
    """
    if host == "localhost" or ipaddress.ip_address(host).is_loopback:
        return None
    if ipaddress.ip_address(host).is_unspecified:
        return "every address of this host, the LAN side included"
    return f"{host}, which other hosts can reach"


class MetricsServer:
    """The /metrics endpoint: an HTTP/1.0 BoundedServer that answers GET or HEAD with the registry's text format.

    prometheus_client formats the metrics (generate_latest); its own
    start_http_server is not used because it gives every connection a thread,
    without limit, so held connections could take every descriptor. close()
    stops it and frees the port.
    """

    def __init__(self, listen: str, snapshot: Callable[[], dict], dropped: Tally | None = None):
        host, port = parse_listen(listen)
        try:
            from prometheus_client import CollectorRegistry
        except ImportError:
            raise UserError("--metrics needs prometheus-client: pip install 'arpresponder[metrics]'") from None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StatsCollector(snapshot))
        try:
            listener = _listen(host, port)
        except OSError as e:
            raise UserError(f"--metrics {listen}: cannot listen there: {e.strerror or e}") from None
        protocol = Protocol(
            end=b"\r\n\r\n", max_request=MAX_REQUEST, respond=self.respond, deadline=DEADLINE,
            max_connections=MAX_CONNECTIONS,
            busy=_http(503, f"busy: {MAX_CONNECTIONS} connections are open; try again\n".encode()),
            too_slow=_http(408, f"no whole request within {DEADLINE:g} s\n".encode()),
        )  # fmt: skip
        self._server = BoundedServer(listener, protocol, "metrics", dropped or metrics_dropped())

    def respond(self, request: bytes | None) -> bytes:
        return http_response(request, self.registry)

    def close(self) -> None:
        self._server.close()


def http_response(request: bytes | None, registry) -> bytes:
    """A request's head (None: too long, or cut short) → the whole HTTP/1.0 response: the registry's metrics in
    Prometheus' text format for GET or HEAD of /metrics (or /), else 400, 404 or 405 (RFC 9110)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if request is None:
        return _http(400, b"request head too long or cut short\n")
    parts = request.split(b"\r\n", 1)[0].split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return _http(400, b"not an HTTP request\n")
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return _http(405, b"GET or HEAD only\n", headers={"Allow": "GET, HEAD"})
    if target not in (b"/metrics", b"/"):
        return _http(404, b"the metrics are at /metrics\n")
    return _http(200, generate_latest(registry), CONTENT_TYPE_LATEST, head_only=method == b"HEAD")


def _listen(host: str, port: int) -> socket.socket:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    # "::" stays dual-stack, as the kernel makes it by default: the IPv4 side is reached too (and warned about).
    dual = family == socket.AF_INET6 and ipaddress.ip_address(address[0]).is_unspecified and socket.has_dualstack_ipv6()
    return socket.create_server(address, family=family, backlog=BACKLOG, dualstack_ipv6=dual)


def _http(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", head_only: bool = False,
          headers: dict[str, str] | None = None) -> bytes:  # fmt: skip
    lines = [f"HTTP/1.0 {status} {_REASONS[status]}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]  # fmt: skip
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + (b"" if head_only else body)
