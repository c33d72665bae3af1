"""The set of IPv4 addresses we answer for, each with the MAC to answer with.

Tokens, as given on the command line or in a config file:

    198.51.100.7                   one address
    198.51.100.128/26              every address in the block, .128 to .191
    198.51.100.10-198.51.100.20    an inclusive range
    !198.51.100.130                an exclusion (any of the forms above)
    198.51.100.9=02:aa:bb:cc:dd:ee answer with this MAC instead of the interface's

Rules, like a routing table: where entries overlap, the more specific (fewer
addresses) wins, so a single address with its own MAC can sit inside a
block. Two equally specific overlapping entries with different MACs are an
error. Exclusions beat every inclusion, whatever the order.

Ranges are never expanded: a /8 is one interval. Once loaded, lookups are
a dict probe for single addresses, then a bisect over sorted, disjoint
interval arrays.

Loading a million tokens one Spec at a time takes seconds, so `parse` first
tries a bulk path: plain addresses and `a-b` ranges are converted and merged
with C-level map/sort/accumulate, and only the other forms go through
parse_token. Whenever the bulk path meets something it does not handle
(an error, an exclusion, a range with its own MAC), the plain path runs on
every token in order, so results, errors and warnings stay those of the
plain path.
"""

from __future__ import annotations

import heapq
import re
import socket
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate, compress, pairwise, repeat
from operator import and_, gt, le, lshift, lt, or_, rshift, sub
from typing import NamedTuple

from .codec import AddressSyntaxError, format_ipv4, format_mac, is_multicast_mac, parse_ipv4, parse_mac
from .errors import ConfigError, quote

_MAX_IP = 0xFFFFFFFF
_MISSING = object()


class AddressError(ConfigError):
    """A token that is not a usable address specification; the message quotes (a short prefix of) the token."""

    def __init__(self, token: str, problem: str):
        super().__init__(f"{quote(token)}: {problem}")
        self.token = token
        self.problem = problem
        self.index: int | None = None  # set by AddressSet.parse when the token itself is bad: its place in the input


# Addresses that never belong to one host on a link: the kernel would not
# answer for them either. Inclusive (first, last, why).
REFUSED_TARGETS = (
    (0x00000000, 0x00000000, "0.0.0.0 is the unspecified address"),
    (0x7F000000, 0x7FFFFFFF, "127.0.0.0/8 is loopback"),
    (0xE0000000, 0xEFFFFFFF, "224.0.0.0/4 is multicast"),
    (0xFFFFFFFF, 0xFFFFFFFF, "255.255.255.255 is the limited broadcast address"),
)


def refused_target(first: int, last: int) -> str | None:
    """Why [first, last] holds an address that must never be answered for, or None."""
    for lo, hi, why in REFUSED_TARGETS:
        if first <= hi and lo <= last:
            return why
    return None


def is_refused(ip: int) -> bool:
    """refused_target(ip, ip) is not None, as plain comparisons: the decision asks this for every request."""
    return ip == 0 or ip >> 24 == 127 or 0xE0000000 <= ip <= 0xEFFFFFFF or ip == 0xFFFFFFFF


class Spec(NamedTuple):
    """One parsed token."""

    first: int
    last: int
    mac: bytes | None  # None: answer with the interface's MAC
    exclude: bool
    token: str

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def parse_token(token: str) -> Spec:
    """One token → Spec, or AddressError naming the token."""
    try:  # A plain address, the common case in large sets, first and cheaply.
        ip = int.from_bytes(socket.inet_pton(socket.AF_INET, token), "big")
    except (OSError, ValueError):  # ValueError: a NUL, or a surrogate from an undecodable byte
        pass
    else:
        if is_refused(ip):
            raise AddressError(token, f"refused: {refused_target(ip, ip)}; no host on a link owns it")
        return Spec(ip, ip, None, False, token)
    text = token.strip()
    exclude = text.startswith("!")
    if exclude:
        text = text[1:].strip()
    text, has_mac, mac_text = text.partition("=")
    try:
        mac = parse_mac(mac_text.strip()) if has_mac else None
        first, last = _parse_span(text.strip())
    except AddressSyntaxError as e:
        # When the bad text is the whole token, the token is quoted once, not twice.
        raise AddressError(token, e.problem if e.text == token.strip() else str(e)) from None
    if mac is not None:
        if exclude:
            raise AddressError(token, "an exclusion cannot carry a MAC")
        if is_multicast_mac(mac) or not any(mac):
            raise AddressError(token, f"{format_mac(mac)} is not a unicast MAC; answers must name one host")
    if not exclude:
        why = refused_target(first, last)
        if why:
            raise AddressError(token, f"refused: {why}; no host on a link owns it")
    return Spec(first, last, mac, exclude, token)


_PREFIX_LENGTH = re.compile(r"[0-9]{1,2}")  # ASCII only: str.isdigit() takes '²' and other scripts' digits


def _parse_span(text: str) -> tuple[int, int]:
    if "/" in text:
        base, _, bits = text.partition("/")
        if not _PREFIX_LENGTH.fullmatch(bits) or not 0 <= int(bits) <= 32:
            raise AddressSyntaxError(bits, "not a prefix length (0-32)")
        prefixlen = int(bits)
        first = parse_ipv4(base)
        hostmask = (1 << (32 - prefixlen)) - 1
        if first & hostmask:
            network = format_ipv4(first & ~hostmask & _MAX_IP)
            raise AddressSyntaxError(text, f"host bits set; the block is {network}/{prefixlen}")
        return first, first | hostmask
    if "-" in text:
        lo, _, hi = text.partition("-")
        first, last = parse_ipv4(lo.strip()), parse_ipv4(hi.strip())
        if first > last:
            raise AddressSyntaxError(text, "a range that runs backwards")
        return first, last
    ip = parse_ipv4(text)
    return ip, ip


def _specs_in_order(tokens: Iterable[str]) -> Iterator[Spec]:
    for index, token in enumerate(tokens):
        try:
            yield parse_token(token)
        except AddressError as e:
            e.index = index
            raise


# --- the bulk path: plain addresses and a-b ranges, converted and merged in C ---------------------

_NOT_RANGE_CHAR = re.compile(r"[^0-9.\n-]")
_INET_PTON4 = partial(socket.inet_pton, socket.AF_INET)


def _ipv4s(texts: list[str]) -> list[int]:
    """Strict dotted quads → addresses, converted in C; OSError when one is not an address."""
    ips = array("I")  # 4 bytes an item on every platform CPython runs on
    ips.frombytes(b"".join(map(_INET_PTON4, texts)))
    if sys.byteorder == "little":
        ips.byteswap()  # inet_pton gives network (big-endian) order
    return ips.tolist()


def _tokens_with_other_chars(joined: str) -> list[str]:
    """The lines of joined holding anything but digits, dots and dashes (CIDRs, exclusions, MACs), each time it occurs.

    The regex finds the odd characters in C; Python only touches the lines that have them, usually few.
    """
    found = []
    end = -1
    for match in _NOT_RANGE_CHAR.finditer(joined):
        at = match.start()
        if at < end:
            continue  # another odd character of the line already taken
        end = joined.find("\n", at)
        end = len(joined) if end < 0 else end
        found.append(joined[joined.rfind("\n", 0, at) + 1 : end])
    return found


def _from_bulk(tokens: list[str]) -> AddressSet | None:
    """The set, if the bulk path can build it exactly as the plain path would; else None."""
    other = _tokens_with_other_chars("\n".join(tokens))
    if other:
        odd = set(other)
        tokens = [token for token in tokens if token not in odd]
    # Left: only digits, dots and dashes. Sorting on "-" alone is far cheaper than a strip() per token.
    plain = [token for token in tokens if "-" not in token]
    dashed = [token for token in tokens if "-" in token]
    bounds = "-".join(dashed).split("-") if dashed else []
    if len(bounds) != 2 * len(dashed):
        return None  # a token with no address or more than one dash: an error, which the plain path names
    try:
        singles = dict.fromkeys(_ipv4s(plain))
        bounds_ips = _ipv4s(bounds) if dashed else []
        specs = [parse_token(token) for token in other]
    except (OSError, ValueError, AddressError):  # ValueError: a NUL in a token holding a newline, which
        return None  # _tokens_with_other_chars, working line by line, cannot match to its token
    starts, ends = bounds_ips[0::2], bounds_ips[1::2]
    if not all(map(lt, starts, ends)):
        if not all(map(le, starts, ends)):
            return None  # a range running backwards
        # "a-a" is one address, a single as far as MAC conflicts go.
        singles.update(dict.fromkeys(first for first, last in zip(starts, ends) if first == last))
        wide = [(first, last) for first, last in zip(starts, ends) if first != last]
        starts, ends = [first for first, _ in wide], [last for _, last in wide]
    for spec in specs:
        if spec.exclude or (spec.mac is not None and spec.first != spec.last):
            return None  # exclusions and ranges with their own MAC need the plain path's rules
        if spec.first == spec.last:
            if singles.setdefault(spec.first, spec.mac) != spec.mac:
                return None  # a conflict: the plain path names the token, in input order
        else:
            starts.append(spec.first)
            ends.append(spec.last)
    if not all(map(gt, starts[1:], map((1).__add__, ends[:-1]))):  # a file in order skips the sort and merge
        starts, ends = _union(starts, ends)
    ordered = sorted(singles)
    if any(_overlaps(ordered, starts, ends, lo, hi) for lo, hi, _ in REFUSED_TARGETS):
        return None  # a refused address: the plain path says which token
    self = AddressSet()
    self._store(singles, starts, ends, None, ordered)
    return self


def _union(starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
    """Intervals, in any order, overlapping or not → their union as sorted, disjoint, non-adjacent intervals.

    With every range answering with the interface's MAC, "the most specific wins" decides nothing, so the
    plain path's result is this union. Each step is one C-level pass: sort (first, last) packed into one
    integer, unpack, the furthest end reached so far, and where a gap starts a new interval.
    """
    if not starts:
        return [], []
    packed = sorted(map(or_, map(lshift, starts, repeat(32)), ends))
    starts = list(map(rshift, packed, repeat(32)))
    reach = list(accumulate(map(and_, packed, repeat(0xFFFFFFFF)), max))
    gap_before = list(map(gt, starts[1:], map((1).__add__, reach)))
    merged_starts = [starts[0], *compress(starts[1:], gap_before)]
    merged_ends = [*compress(reach, gap_before), reach[-1]]
    return merged_starts, merged_ends


def _overlaps(singles_sorted: list[int], starts: list[int], ends: list[int], lo: int, hi: int) -> bool:
    """Does [lo, hi] hold one of the sorted singles, or meet one of the sorted disjoint intervals?"""
    i = bisect_left(singles_sorted, lo)
    if i < len(singles_sorted) and singles_sorted[i] <= hi:
        return True
    j = bisect_right(starts, hi) - 1
    return j >= 0 and ends[j] >= lo


def span_text(first: int, last: int) -> str:
    """The shortest token for [first, last]: an address, a CIDR block, or a range."""
    if first == last:
        return format_ipv4(first)
    size = last - first + 1
    if size & (size - 1) == 0 and first % size == 0:
        return f"{format_ipv4(first)}/{33 - size.bit_length()}"
    return f"{format_ipv4(first)}-{format_ipv4(last)}"


@dataclass
class AddressSet:
    """What we answer for. Build with `AddressSet.parse(tokens)`."""

    # Single addresses: ip → entry MAC (None: the interface's).
    singles: dict[int, bytes | None] = field(default_factory=dict)
    # Disjoint ranges sorted by start, as parallel arrays; range_macs is None when no range has its own MAC.
    range_starts: array = field(default_factory=lambda: array("I"))
    range_ends: array = field(default_factory=lambda: array("I"))
    range_macs: list[bytes | None] | None = None
    # range_index[b]: the first range starting at or after b << 16. A lookup bisects only the ranges that start
    # in its /16, not all of them: with 500k ranges, 19 steps become the few in one /16.
    range_index: array = field(default_factory=lambda: _index_ranges(array("I")))
    # Things the user configured that had no effect, in words.
    warnings: list[str] = field(default_factory=list)
    # How many addresses: counted once when built, as the CLI asks at start.
    size: int = 0

    @classmethod
    def parse(cls, tokens: Iterable[str]) -> AddressSet:
        """The set the tokens describe; a bad token raises AddressError with .index saying which one."""
        tokens = tokens if isinstance(tokens, list) else list(tokens)
        return _from_bulk(tokens) or cls.from_specs(_specs_in_order(tokens))

    @classmethod
    def from_specs(cls, specs: Iterable[Spec]) -> AddressSet:
        singles: dict[int, bytes | None] = {}
        ranges: list[Spec] = []
        exclusions: list[Spec] = []
        for spec in specs:
            if spec.exclude:
                exclusions.append(spec)
            elif spec.first == spec.last:
                mac = singles.setdefault(spec.first, spec.mac)
                if mac != spec.mac:
                    earlier = format_mac(mac) if mac else "the interface's MAC"
                    raise AddressError(spec.token, f"same address, different MAC than an earlier entry ({earlier})")
            else:
                ranges.append(spec)
        self = cls()
        self._compile(singles, ranges, exclusions)
        return self

    # --- lookup (the hot path) ---

    def resolve(self, ip: int, default_mac: bytes) -> bytes | None:
        """The MAC to answer with for ip, or None when ip is not in the set."""
        mac = self.singles.get(ip, _MISSING)
        if mac is not _MISSING:
            return mac or default_mac
        index = self.range_index
        block = ip >> 16
        i = (
            bisect_right(self.range_starts, ip, index[block], index[block + 1]) - 1
        )  # before its /16: the last one there
        if i >= 0 and ip <= self.range_ends[i]:
            return (self.range_macs and self.range_macs[i]) or default_mac
        return None

    def __contains__(self, ip: int) -> bool:
        return self.resolve(ip, b"") is not None

    def __repr__(self) -> str:  # the arrays run to megabytes
        return f"<AddressSet: {self.size} addresses, {len(self.singles)} singles, {len(self.range_starts)} ranges>"

    def within(self, first: int, last: int, limit: int) -> list[int]:
        """Up to limit addresses of the set in [first, last], lowest first (e.g. to name a few in a warning).

        Costs a bisect and the ranges that meet the span, plus one probe per
        address of a small span or one pass over the singles for a large one.
        """
        found: list[int] = []
        i = max(bisect_right(self.range_starts, first) - 1, 0)
        while i < len(self.range_starts) and self.range_starts[i] <= last and len(found) < limit:
            lo, hi = max(self.range_starts[i], first), min(self.range_ends[i], last)
            found.extend(range(lo, min(hi, lo + limit - 1) + 1))
            i += 1
        if last - first < 4096:
            singles = [ip for ip in range(first, last + 1) if ip in self.singles]
        else:
            singles = [ip for ip in self.singles if first <= ip <= last]
        return sorted(set(found).union(singles))[:limit]

    # --- whole-set views ---

    def entries(self) -> Iterator[tuple[int, int, bytes | None]]:
        """(first, last, mac) for every entry, in address order; singles inside ranges come out on their own."""
        singles = sorted(self.singles.items())
        ranges = ((s, e, self.range_macs[i] if self.range_macs else None)
                  for i, (s, e) in enumerate(zip(self.range_starts, self.range_ends)))  # fmt: skip
        yield from heapq.merge(((ip, ip, mac) for ip, mac in singles), ranges, key=lambda entry: entry[:2])

    def addresses(self) -> Iterator[tuple[int, bytes | None]]:
        """Every address in the set once, in order, with its entry MAC."""
        ranges = self._range_addresses()
        singles = iter(sorted(self.singles.items()))
        nxt_range = next(ranges, None)
        nxt_single = next(singles, None)
        while nxt_range or nxt_single:
            if nxt_single and (not nxt_range or nxt_single[0] <= nxt_range[0]):
                if nxt_range and nxt_range[0] == nxt_single[0]:
                    nxt_range = next(ranges, None)  # the single overrides the range here
                yield nxt_single
                nxt_single = next(singles, None)
            else:
                yield nxt_range
                nxt_range = next(ranges, None)

    def _range_addresses(self) -> Iterator[tuple[int, bytes | None]]:
        for i, (s, e) in enumerate(zip(self.range_starts, self.range_ends)):
            mac = self.range_macs[i] if self.range_macs else None
            for ip in range(s, e + 1):
                yield ip, mac

    def __len__(self) -> int:
        """How many addresses (not entries) the set holds."""
        return self.size

    def spans(self) -> list[tuple[int, int]]:
        """Every address of the set as sorted, disjoint, non-adjacent (first, last) spans, whatever the MACs."""
        singles = list(self.singles)
        return _merge_spans(list(zip(self.range_starts, self.range_ends)) + list(zip(singles, singles)))

    def entry_macs(self) -> set[bytes]:
        """Every MAC an entry answers with, besides the interface's."""
        macs = {*self.singles.values(), *(self.range_macs or ())}
        macs.discard(None)
        return macs

    def __bool__(self) -> bool:
        return bool(self.singles) or bool(self.range_starts)

    def describe(self) -> list[str]:
        """One line per entry, as `check` prints it."""
        lines = []
        for first, last, mac in self.entries():
            size = last - first + 1
            count = "" if size == 1 else f"  ({size} addresses)"
            lines.append(f"{span_text(first, last)}{' = ' + format_mac(mac) if mac else ''}{count}")
        return lines

    # --- building ---

    def _compile(self, singles: dict[int, bytes | None], ranges: list[Spec], exclusions: list[Spec]) -> None:
        pieces = _most_specific_wins(ranges)
        if exclusions:
            # Exclusions beat everything: cut them out of the ranges and singles.
            excluded = _merge_spans([(s.first, s.last) for s in exclusions])
            kept_pieces = list(_subtract(pieces, excluded))
            kept_singles = {ip: mac for ip, mac in singles.items() if not _span_covered(excluded, ip, ip)}
            self._note_ineffective(singles, ranges, exclusions, kept_singles, pieces, excluded)
        else:
            kept_pieces, kept_singles = pieces, singles

        # Store. Adjacent pieces with the same MAC merge into one interval.
        merged: list[list] = []
        for first, last, mac in kept_pieces:
            if merged and merged[-1][1] + 1 == first and merged[-1][2] == mac:
                merged[-1][1] = last
            else:
                merged.append([first, last, mac])
        macs = [p[2] for p in merged]
        self._store(kept_singles, [p[0] for p in merged], [p[1] for p in merged], macs if any(macs) else None)

    def _store(self, singles: dict[int, bytes | None], starts: list[int], ends: list[int],
               macs: list[bytes | None] | None, ordered: list[int] | None = None) -> None:  # fmt: skip
        """Keep the compiled set, and count it: ranges are disjoint, singles inside one count once.

        ordered: sorted(singles), when the caller has it already.
        """
        self.singles = singles
        self.range_starts = array("I", starts)
        self.range_ends = array("I", ends)
        self.range_index = _index_ranges(self.range_starts)
        self.range_macs = macs
        ordered = sorted(singles) if ordered is None else ordered
        # Singles inside ranges, in C: one bisect a single into the range starts (behind a sentinel range that
        # ends before any address), then is it at most that range's end.
        if ordered and starts:
            ends_behind = array("q", [-1, *ends])
            found = map(bisect_right, repeat(array("q", [-1, *starts])), ordered)
            inside = sum(map(le, ordered, map(ends_behind.__getitem__, map(sub, found, repeat(1)))))
        else:
            inside = 0
        self.size = sum(ends) - sum(starts) + len(starts) + len(ordered) - inside

    def _note_ineffective(self, singles, ranges, exclusions, kept_singles, pieces, excluded) -> None:
        """Nothing configured is silently ignored: say which tokens ended up with no effect."""
        dropped = [format_ipv4(ip) for ip in singles if ip not in kept_singles]
        dropped += [spec.token for spec in ranges if _span_covered(excluded, spec.first, spec.last)]
        if dropped:
            shown = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
            self.warnings.append(f"excluded entirely, so never answered: {shown}")
        included = _merge_spans([(first, last) for first, last, _ in pieces] + [(ip, ip) for ip in singles])
        idle = [spec.token for spec in exclusions if not _overlaps_any(included, spec.first, spec.last)]
        if idle:
            shown = ", ".join(idle[:5]) + (f" and {len(idle) - 5} more" if len(idle) > 5 else "")
            self.warnings.append(f"exclusion matches nothing in the set: {shown}")


def _index_ranges(starts: array) -> array:
    """AddressSet.range_index for sorted range starts: 65537 bisects, run in C."""
    return array("I", map(bisect_left, repeat(starts), range(0, (1 << 32) + 1, 1 << 16)))


def _check_equal_size_conflicts(ranges: list[Spec]) -> None:
    """Equally specific overlapping ranges with different MACs have no winner: refuse them.

    Among equal-sized intervals sorted by start, any overlap shows up between
    neighbours, so one pass per size suffices.
    """
    by_size: dict[int, list[Spec]] = {}
    for spec in ranges:
        by_size.setdefault(spec.size, []).append(spec)
    for group in by_size.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda s: s.first)
        for a, b in pairwise(group):
            if b.first <= a.last and a.mac != b.mac:
                raise AddressError(b.token, f"overlaps {quote(a.token)}, as specific, with a different MAC")


def _most_specific_wins(ranges: list[Spec]) -> list[tuple[int, int, bytes | None]]:
    """Overlapping ranges → disjoint (first, last, mac) pieces in order, the smallest range winning each address.

    Neighbouring pieces may share a MAC; _compile merges them, once, for every path.
    """
    ordered = sorted(ranges, key=lambda s: (s.first, s.last))
    if all(b.first > a.last for a, b in pairwise(ordered)):
        return [(s.first, s.last, s.mac) for s in ordered]  # the common case: nothing overlaps
    _check_equal_size_conflicts(ordered)

    # Sweep over every boundary, keeping the active ranges in a heap by size.
    bounds = sorted({s.first for s in ordered} | {s.last + 1 for s in ordered})
    active: list[tuple[int, int, int]] = []  # (size, index, last)
    pieces: list[tuple[int, int, bytes | None]] = []
    nxt = 0
    for point, following in pairwise(bounds):
        while nxt < len(ordered) and ordered[nxt].first == point:
            spec = ordered[nxt]
            heapq.heappush(active, (spec.size, nxt, spec.last))
            nxt += 1
        while active and active[0][2] < point:
            heapq.heappop(active)  # expired; those deeper in the heap go when they reach the top
        if active:
            pieces.append((point, following - 1, ordered[active[0][1]].mac))
    return pieces


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of spans as sorted, disjoint, non-adjacent (first, last) pairs."""
    return list(zip(*_union([first for first, _ in spans], [last for _, last in spans])))


def _subtract(pieces, holes: list[tuple[int, int]]) -> Iterator[tuple[int, int, bytes | None]]:
    """Pieces (sorted, disjoint) minus holes (sorted, disjoint)."""
    h = 0
    for piece_first, last, mac in pieces:
        while h < len(holes) and holes[h][1] < piece_first:
            h += 1
        j = h
        first = piece_first  # moves past each hole in turn
        while first <= last:
            if j >= len(holes) or holes[j][0] > last:
                yield first, last, mac
                break
            hole_first, hole_last = holes[j]
            if hole_first > first:
                yield first, hole_first - 1, mac
            first = hole_last + 1
            j += 1


def _span_covered(spans: list[tuple[int, int]], first: int, last: int) -> bool:
    """Is [first, last] inside one span? (Spans are merged, so one is enough.)"""
    i = bisect_right(spans, (first, _MAX_IP)) - 1
    return i >= 0 and spans[i][0] <= first and last <= spans[i][1]


def _overlaps_any(spans: list[tuple[int, int]], first: int, last: int) -> bool:
    i = bisect_right(spans, (last, _MAX_IP)) - 1
    return i >= 0 and spans[i][1] >= first
