"""The wire format: round trips, named errors, and scapy as an independent encoder."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arpresponder.codec import (
    ARP_FRAME_LEN,
    BROADCAST_MAC,
    MIN_FRAME_LEN,
    OP_REPLY,
    OP_REQUEST,
    ZERO_MAC,
    AddressSyntaxError,
    ArpFrame,
    NotArp,
    TruncatedFrame,
    UnsupportedArp,
    format_ipv4,
    format_mac,
    gratuitous_frames,
    pack_arp,
    parse_ipv4,
    parse_mac,
)

macs = st.binary(min_size=6, max_size=6)
ips = st.integers(0, 2**32 - 1)
frames = st.builds(ArpFrame, macs, macs, st.integers(0, 0xFFFF), macs, ips, macs, ips, st.sampled_from([1, 6]))

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


@given(frames)
def test_frame_round_trips_through_bytes(frame):
    data = frame.to_bytes()
    assert len(data) == MIN_FRAME_LEN
    assert data[ARP_FRAME_LEN:] == bytes(MIN_FRAME_LEN - ARP_FRAME_LEN)  # zero padding
    assert ArpFrame.from_bytes(data) == frame
    assert ArpFrame.from_bytes(data[:ARP_FRAME_LEN]) == frame  # unpadded, as a veth delivers


@given(frames.filter(lambda f: f.htype == 1))  # scapy models other hardware types' addresses as opaque strings
def test_encoding_matches_scapy(frame):
    from scapy.layers.l2 import ARP, Ether

    theirs = Ether(dst=format_mac(frame.eth_dst), src=format_mac(frame.eth_src)) / ARP(
        op=frame.op, hwsrc=format_mac(frame.sha), psrc=format_ipv4(frame.spa),
        hwdst=format_mac(frame.tha), pdst=format_ipv4(frame.tpa),
    )  # fmt: skip
    assert frame.to_bytes()[:ARP_FRAME_LEN] == bytes(theirs)


def test_named_errors():
    good = pack_arp(BROADCAST_MAC, MAC_A, OP_REQUEST, MAC_A, 1, ZERO_MAC, 2)
    with pytest.raises(TruncatedFrame):
        ArpFrame.from_bytes(good[:41])
    with pytest.raises(NotArp):
        ArpFrame.from_bytes(good[:12] + b"\x08\x00" + good[14:])
    assert ArpFrame.from_bytes(good[:14] + b"\x00\x06" + good[16:]).htype == 6  # IEEE 802, as the kernel accepts
    for offset, value in ((14, b"\x00\x02"), (16, b"\x86\xdd"), (18, b"\x05"), (19, b"\x10")):
        with pytest.raises(UnsupportedArp):
            ArpFrame.from_bytes(good[:offset] + value + good[offset + len(value) :])


def test_gratuitous_forms():
    ip = parse_ipv4("198.51.100.7")
    request, reply = (ArpFrame.from_bytes(f) for f in gratuitous_frames(MAC_B, ip, eth_src=MAC_A))
    assert request == ArpFrame(BROADCAST_MAC, MAC_A, OP_REQUEST, MAC_B, ip, ZERO_MAC, ip)
    assert reply == ArpFrame(BROADCAST_MAC, MAC_A, OP_REPLY, MAC_B, ip, MAC_B, ip)


@pytest.mark.parametrize(
    "text", ["02:aa:bb:cc:dd", "02:aa:bb:cc:dd:ee:ff", "02:aa:bb:cc:dd:gg", "2:aa:bb:cc:dd:ee", ""]
)
def test_bad_macs_are_refused(text):
    with pytest.raises(AddressSyntaxError, match="not a MAC"):
        parse_mac(text)


def test_mac_forms():
    assert parse_mac("02:AA:bb:cc:dd:ee") == parse_mac("02-aa-bb-cc-dd-ee") == bytes.fromhex("02aabbccddee")
    assert format_mac(bytes.fromhex("02aabbccddee")) == "02:aa:bb:cc:dd:ee"


@pytest.mark.parametrize("text", ["198.51.100", "198.51.100.256", "198.051.100.1", " 198.51.100.1", "1.2.3.4.5", "x"])
def test_bad_ipv4_is_refused(text):
    with pytest.raises(AddressSyntaxError, match="not an IPv4 address"):
        parse_ipv4(text)


@given(ips)
def test_ipv4_round_trips(ip):
    assert parse_ipv4(format_ipv4(ip)) == ip
