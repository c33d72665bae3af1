"""The metrics endpoint's HTTP answers and its exposure warning, without a socket (the wire tests serve it for real)."""

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from arpresponder.observe.metrics import StatsCollector, exposure, http_response
from arpresponder.observe.stats import ProcessStats, Stats


@pytest.fixture
def registry():
    links = [
        Stats(interface="r0", engine="packet", received=12),
        Stats(interface="r0 vlan 100", engine="packet", vlan=100),
    ]
    snap = ProcessStats(lambda: links).snapshot()  # fixed: the uptime does not move
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(lambda: snap))
    return registry


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    return status, dict(f.split(": ", 1) for f in fields), body


def test_get_metrics_is_the_text_format(registry):
    status, headers, body = split(http_response(b"GET /metrics?x=1 HTTP/1.1\r\nHost: h", registry))
    assert status == "HTTP/1.0 200 OK"
    assert headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert int(headers["Content-Length"]) == len(body) and headers["Connection"] == "close"
    samples = {
        (s.name, s.labels.get("interface")): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
    }
    assert samples["arpresponder_received_frames_total", "r0"] == 12  # one series per interface
    assert samples["arpresponder_received_frames_total", "r0 vlan 100"] == 0
    assert samples["arpresponder_info", "r0 vlan 100"] == 1
    samples = {name: value for (name, _label), value in samples.items()}
    assert samples["arpresponder_pcap_dropped_frames_total"] == 0
    assert samples["arpresponder_control_dropped_connections_total"] == 0


def test_head_has_the_headers_without_the_body(registry):
    get = split(http_response(b"GET /metrics HTTP/1.0", registry))
    status, headers, body = split(http_response(b"HEAD /metrics HTTP/1.0", registry))
    assert status == "HTTP/1.0 200 OK" and body == b""
    assert headers["Content-Length"] == get[1]["Content-Length"]


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"POST /metrics HTTP/1.1", "HTTP/1.0 405 Method Not Allowed"),
        (b"GET /other HTTP/1.1", "HTTP/1.0 404 Not Found"),
        (b"\x16\x03\x01 hello", "HTTP/1.0 400 Bad Request"),  # e.g. TLS to a plain HTTP port
        (None, "HTTP/1.0 400 Bad Request"),  # too long, or cut short
    ],
)
def test_other_requests_get_an_error_status(registry, request_head, status):
    assert split(http_response(request_head, registry))[0] == status


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_is_not_warned_about(host):
    assert exposure(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_every_address_says_the_lan_side_is_included(host):
    assert exposure(host) == "every address of this host, the LAN side included"


def test_one_other_address_is_named():
    assert exposure("192.0.2.1") == "192.0.2.1, which other hosts can reach"
