"""The address set: token forms, refusals, overlaps, exclusions, and a model check."""

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arpresponder.addrset import (
    REFUSED_TARGETS,
    AddressError,
    AddressSet,
    is_refused,
    parse_token,
    refused_target,
    span_text,
)
from arpresponder.codec import format_ipv4, parse_ipv4, parse_mac

OURS = parse_mac("02:00:00:00:00:01")
MAC_A = parse_mac("02:aa:00:00:00:0a")
MAC_B = parse_mac("02:bb:00:00:00:0b")


def ip(text: str) -> int:
    return parse_ipv4(text)


def answers(addresses: AddressSet, text: str) -> bytes | None:
    return addresses.resolve(ip(text), OURS)


def test_token_forms():
    s = AddressSet.parse(
        ["198.51.100.7", "198.51.100.128/26", "203.0.113.10-203.0.113.20", "192.0.2.9=02:aa:00:00:00:0a"]
    )
    assert answers(s, "198.51.100.7") == OURS
    assert answers(s, "198.51.100.6") is None
    assert answers(s, "198.51.100.127") is None
    assert answers(s, "198.51.100.128") == answers(s, "198.51.100.191") == OURS
    assert answers(s, "198.51.100.192") is None
    assert answers(s, "203.0.113.9") is None
    assert answers(s, "203.0.113.10") == answers(s, "203.0.113.20") == OURS
    assert answers(s, "203.0.113.21") is None
    assert answers(s, "192.0.2.9") == MAC_A
    assert len(s) == 1 + 64 + 11 + 1


def test_exclusions_win_whatever_the_order():
    for tokens in (["198.51.100.128/26", "!198.51.100.130"], ["!198.51.100.130", "198.51.100.128/26"]):
        s = AddressSet.parse(tokens)
        assert answers(s, "198.51.100.129") == OURS
        assert answers(s, "198.51.100.130") is None
        assert answers(s, "198.51.100.131") == OURS
        assert len(s) == 63


def test_exclusion_of_a_range_splits_the_block():
    s = AddressSet.parse(["198.51.100.0/24", "!198.51.100.10-198.51.100.19", "!198.51.100.255"])
    assert [answers(s, f"198.51.100.{n}") is not None for n in (9, 10, 19, 20, 254, 255)] == [
        True, False, False, True, True, False,
    ]  # fmt: skip
    assert len(s) == 256 - 10 - 1


def test_most_specific_entry_wins():
    s = AddressSet.parse([
        "198.51.100.0/24=02:aa:00:00:00:0a",
        "198.51.100.128/25",                    # interface MAC for the upper half
        "198.51.100.200=02:bb:00:00:00:0b",     # one host inside it with its own MAC
    ])  # fmt: skip
    assert answers(s, "198.51.100.1") == MAC_A
    assert answers(s, "198.51.100.128") == OURS
    assert answers(s, "198.51.100.200") == MAC_B
    assert answers(s, "198.51.100.201") == OURS
    assert len(s) == 256


def test_equally_specific_overlap_with_different_macs_is_an_error():
    with pytest.raises(AddressError, match=re.escape("198.51.100.5-198.51.100.14")):
        AddressSet.parse(
            ["198.51.100.0-198.51.100.9=02:aa:00:00:00:0a", "198.51.100.5-198.51.100.14=02:bb:00:00:00:0b"]
        )
    with pytest.raises(AddressError, match="same address, different MAC"):
        AddressSet.parse(["198.51.100.7=02:aa:00:00:00:0a", "198.51.100.7"])
    # The same MAC twice is no conflict.
    s = AddressSet.parse(["198.51.100.0-198.51.100.9", "198.51.100.5-198.51.100.14", "198.51.100.7", "198.51.100.7"])
    assert len(s) == 15


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("0.0.0.0", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("198.51.100.0-127.0.0.1", "runs backwards"),
        ("100.0.0.0-127.0.0.1", "loopback"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.255", "multicast"),
        ("255.255.255.255", "limited broadcast"),
        ("0.0.0.0/0", "unspecified"),
        ("198.51.100.5/24", "'198.51.100.5/24': host bits set; the block is 198.51.100.0/24"),
        ("198.51.100.0/33", "not a prefix length"),
        ("198.51.100.0/", "not a prefix length"),
        ("198.51.100.300", "not an IPv4 address"),
        ("198.51.100.7=02:aa:bb", "not a MAC"),
        ("198.51.100.7=01:00:5e:00:00:01", "not a unicast MAC"),
        ("198.51.100.7=00:00:00:00:00:00", "not a unicast MAC"),
        ("!198.51.100.7=02:aa:00:00:00:0a", "exclusion cannot carry a MAC"),
        ("", "not an IPv4 address"),
    ],
)
def test_bad_tokens_name_the_token_and_the_problem(token, why):
    with pytest.raises(AddressError) as e:
        AddressSet.parse([token])
    assert repr(token) in str(e.value)
    assert why in str(e.value)


@given(st.integers(0, 2**32 - 1))
def test_fast_refusal_check_is_the_table(address):
    assert is_refused(address) == (refused_target(address, address) is not None)


def test_fast_refusal_check_at_every_edge_of_the_table():
    edges = {x for lo, hi, _ in REFUSED_TARGETS for x in (lo - 1, lo, hi, hi + 1) if 0 <= x <= 2**32 - 1}
    for address in edges:
        assert is_refused(address) == (refused_target(address, address) is not None), format_ipv4(address)


def test_refused_addresses_may_still_be_excluded():
    assert len(AddressSet.parse(["198.51.100.0/30", "!127.0.0.1"])) == 4


def test_what_had_no_effect_is_said():
    s = AddressSet.parse(["198.51.100.0/24", "198.51.100.7", "!198.51.100.0/25", "!203.0.113.1"])
    assert any("excluded entirely" in w and "198.51.100.7" in w for w in s.warnings)
    assert any("matches nothing" in w and "203.0.113.1" in w for w in s.warnings)
    assert AddressSet.parse(["198.51.100.0/24", "!198.51.100.7"]).warnings == []


def test_addresses_lists_each_address_once_with_its_mac():
    s = AddressSet.parse(["198.51.100.0/30", "198.51.100.2=02:aa:00:00:00:0a", "198.51.100.9", "!198.51.100.1"])
    assert [(format_ipv4(a), m) for a, m in s.addresses()] == [
        ("198.51.100.0", None), ("198.51.100.2", MAC_A), ("198.51.100.3", None), ("198.51.100.9", None),
    ]  # fmt: skip


def test_describe_uses_the_shortest_form():
    s = AddressSet.parse(["198.51.100.128/26", "198.51.100.7=02:aa:00:00:00:0a", "203.0.113.10-203.0.113.20"])
    assert s.describe() == [
        "198.51.100.7 = 02:aa:00:00:00:0a",
        "198.51.100.128/26  (64 addresses)",
        "203.0.113.10-203.0.113.20  (11 addresses)",
    ]
    assert span_text(ip("198.51.100.0"), ip("198.51.100.255")) == "198.51.100.0/24"
    assert span_text(ip("198.51.100.1"), ip("198.51.100.2")) == "198.51.100.1-198.51.100.2"


def test_a_slash_eight_is_one_entry():
    s = AddressSet.parse(["10.0.0.0/8"])
    assert len(s.range_starts) == 1 and not s.singles
    assert len(s) == 2**24


# --- against a model that enumerates every address ------------------------------------------------
# Universe: 198.51.100.0/28, small enough to enumerate, big enough for every overlap shape.

BASE = ip("198.51.100.0")
UNIVERSE = 16
MODEL_MACS = [None, MAC_A, MAC_B]


@st.composite
def specs(draw):
    first = draw(st.integers(0, UNIVERSE - 1))
    kind = draw(st.sampled_from(["single", "range", "cidr"]))
    if kind == "single":
        last = first
        text = format_ipv4(BASE + first)
    elif kind == "range":
        last = draw(st.integers(first, UNIVERSE - 1))
        text = f"{format_ipv4(BASE + first)}-{format_ipv4(BASE + last)}"
    else:
        prefix = draw(st.integers(28, 32))
        net = ipaddress.ip_network(f"{format_ipv4(BASE + first)}/{prefix}", strict=False)
        first, last = int(net.network_address) - BASE, int(net.broadcast_address) - BASE
        text = str(net)
    exclude = draw(st.booleans()) and draw(st.booleans())  # one in four
    mac = None if exclude else draw(st.sampled_from(MODEL_MACS))
    token = ("!" if exclude else "") + text + (f"={mac.hex(':')}" if mac else "")
    return token, first, last, mac, exclude


def model(entries):
    """ip offset → MAC to answer with (None: interface's), or 'conflict' when the rules have no winner."""
    answer = {}
    for offset in range(UNIVERSE):
        if any(e[4] and e[1] <= offset <= e[2] for e in entries):
            continue
        covering = [e for e in entries if not e[4] and e[1] <= offset <= e[2]]
        if not covering:
            continue
        smallest = min(e[2] - e[1] for e in covering)
        winners = {e[3] for e in covering if e[2] - e[1] == smallest}
        answer[offset] = "conflict" if len(winners) > 1 else winners.pop()
    return answer


def equal_size_conflict(entries):
    """Would the set refuse these? Two overlapping includes of the same size with different MACs."""
    includes = [e for e in entries if not e[4]]
    return any(
        a[2] - a[1] == b[2] - b[1] and a[1] <= b[2] and b[1] <= a[2] and a[3] != b[3]
        for i, a in enumerate(includes) for b in includes[i + 1:]
    )  # fmt: skip


@settings(max_examples=400)
@given(st.lists(specs(), min_size=1, max_size=8))
def test_lookup_agrees_with_the_model(entries):
    tokens = [e[0] for e in entries]
    if equal_size_conflict(entries):
        with pytest.raises(AddressError):
            AddressSet.parse(tokens)
        return
    s = AddressSet.parse(tokens)
    expected = model(entries)
    for offset in range(-2, UNIVERSE + 2):
        want = expected.get(offset, "absent")
        got = s.resolve(BASE + offset, OURS)
        if want == "absent":
            assert got is None, format_ipv4(BASE + offset)
        else:
            assert got == (want or OURS), format_ipv4(BASE + offset)
    assert len(s) == len(expected)
    assert [a - BASE for a, _ in s.addresses()] == sorted(expected)


# --- size ---------------------------------------------------------------------------------------


def test_a_million_entries_load_and_answer():
    """500k single addresses and 500k ranges: loads, answers, and stays compact (ranges are not expanded)."""
    singles = [format_ipv4(ip("100.0.0.0") + 2 * n) for n in range(500_000)]  # 100.0.0.0 up, every other address
    ranges = [
        f"{format_ipv4(ip('200.0.0.0') + 16 * n)}-{format_ipv4(ip('200.0.0.0') + 16 * n + 9)}" for n in range(500_000)
    ]
    s = AddressSet.parse(singles + ranges)
    assert len(s.singles) == 500_000 and len(s.range_starts) == 500_000
    assert s.range_starts.itemsize == 4  # 32-bit integers in an array, not Python objects per range
    assert answers(s, "100.0.0.0") == OURS and answers(s, "100.0.0.1") is None
    assert answers(s, singles[-1]) == OURS
    last_range_start = ip("200.0.0.0") + 16 * 499_999
    assert s.resolve(last_range_start + 9, OURS) == OURS
    assert s.resolve(last_range_start + 10, OURS) is None
    assert len(s) == 500_000 + 500_000 * 10


# --- the bulk path is the plain path, faster ------------------------------------------------------

BULK_PIECES = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "127.0.0.1", "198.51.100.300", "198.51.100.01", "", " ",
               "-", ".", "=02:aa:00:00:00:0a", "!", "/30", "/31", "#", "0.0.0.0", "203.0.113.255"]  # fmt: skip


@st.composite
def token_lists(draw):
    """Mostly well-formed tokens, with junk glued in: whatever the bulk path meets must come out as the plain path's."""
    well_formed = specs().map(lambda entry: entry[0])
    glued = st.lists(st.sampled_from(BULK_PIECES), min_size=1, max_size=3).map("".join)
    return draw(st.lists(st.one_of(well_formed, well_formed, glued), min_size=1, max_size=8))


def plain_path(tokens):
    from arpresponder.addrset import _specs_in_order

    return AddressSet.from_specs(_specs_in_order(tokens))


def outcome(build, tokens):
    try:
        s = build(tokens)
    except AddressError as e:
        return ("error", str(e), e.index)
    return (s.singles, list(s.range_starts), list(s.range_ends), s.range_macs, len(s), s.warnings)


@settings(max_examples=600)
@given(token_lists())
def test_bulk_path_equals_plain_path(tokens):
    assert outcome(AddressSet.parse, tokens) == outcome(plain_path, tokens)


@pytest.mark.parametrize("tokens", [
    ["198.51.100.1", "198.51.100.2"],  # plain addresses only: the commonest large file
    ["198.51.100.1-198.51.100.9"],
    ["198.51.100.1", "198.51.100.0/28", "198.51.100.20-198.51.100.30"],
])  # fmt: skip
def test_bulk_path_takes_plain_addresses_and_ranges(tokens):
    """The fast path, not only the fallback, builds sets of these shapes (the equality test above cannot tell)."""
    from arpresponder.addrset import _from_bulk

    built = _from_bulk(tokens)
    assert built is not None
    assert outcome(lambda _: built, tokens) == outcome(plain_path, tokens)


@given(st.lists(st.tuples(st.integers(0x80000000, 0xDFFFFFFF), st.integers(0, 1 << 20)), min_size=1, max_size=30),
       st.lists(st.integers(0x80000000, 0xDFFFFFFF), max_size=30))  # fmt: skip
def test_lookups_across_16_bit_blocks_match_a_model(spans, probes):
    """Ranges that start in one /16 and end many /16s later are found from inside any of them (range_index).

    Drawn from 128.0.0.0-223.255.255.255: no refused target (loopback, multicast) inside.
    """
    spans = [(first, min(first + length, 0xDFFFFFFF)) for first, length in spans]
    tokens = [
        f"{format_ipv4(first)}-{format_ipv4(last)}" if last > first else format_ipv4(first) for first, last in spans
    ]
    s = AddressSet.parse(tokens)
    edges = [ip for first, last in spans for ip in (first - 1, first, last, last + 1, (first | 0xFFFF) + 1)]
    for ip in edges + probes:
        assert (ip in s) == any(first <= ip <= last for first, last in spans), format_ipv4(ip)


@pytest.mark.parametrize(
    ("first", "last", "limit", "expected"),
    [
        ("198.51.100.0", "198.51.100.255", 3, ["198.51.100.5", "198.51.100.20", "198.51.100.21"]),
        ("198.51.100.21", "198.51.100.22", 5, ["198.51.100.21", "198.51.100.22"]),
        ("198.51.100.26", "198.51.100.99", 5, []),
        (
            "198.51.0.0",
            "198.51.255.255",
            10,
            ["198.51.100.5", *(f"198.51.100.{n}" for n in range(20, 26)), "198.51.200.1"],
        ),
    ],
)
def test_within_names_the_first_addresses_of_a_span(first, last, limit, expected):
    addresses = AddressSet.parse(["198.51.100.5", "198.51.100.20-198.51.100.25", "198.51.200.1", "!198.51.100.30"])
    found = addresses.within(parse_ipv4(first), parse_ipv4(last), limit)
    assert [format_ipv4(ip) for ip in found] == expected


# Any text at all, as a token or a list of them: a set, or an AddressError naming the token; never another
# exception (a NUL, or a surrogate standing for a byte that was not UTF-8, made inet_pton raise ValueError).
TOKEN_ISH = st.text(alphabet="0123456789./-!=:abcdefx \t\n\x00\udcff²٣", max_size=40)


@given(st.one_of(TOKEN_ISH, st.text(max_size=40)))
def test_any_token_is_a_spec_or_an_address_error(token):
    try:
        spec = parse_token(token)
    except AddressError as e:
        assert e.token == token
    else:
        assert 0 <= spec.first <= spec.last <= 0xFFFFFFFF


@given(st.lists(st.one_of(TOKEN_ISH, st.sampled_from(["198.51.100.7", "198.51.100.0-198.51.100.9"])), max_size=8))
def test_any_token_list_is_a_set_or_an_address_error(tokens):
    try:
        AddressSet.parse(tokens)
    except AddressError as e:
        assert e.index is None or tokens[e.index] == e.token


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("198.51.100.7\x00", r"^'198.51.100.7\\x00': not an IPv4 address$"),
        ("198.51.100.7\udcff", r"^'198.51.100.7\\udcff': not an IPv4 address$"),
        ("198.51.100.0/²", r"^'198.51.100.0/²': '²': not a prefix length"),
        ("198.51.100.0/٣٢", r"'٣٢': not a prefix length"),  # int() would read Arabic-Indic 32
        ("198.51.100.7=٠٢:aa:bb:cc:dd:ee", r"'٠٢:aa:bb:cc:dd:ee': not a MAC address"),
        ("198.51.100.7=02:aa:bb:cc:dd: e", r"not a MAC address"),  # int(" e", 16) would read 14
        ("x" * 100, r"^'x{40}'… \(100 characters\): not an IPv4 address$"),
    ],
)
def test_odd_tokens_are_refused_and_quoted_short(token, message):
    with pytest.raises(AddressError, match=message):
        parse_token(token)
