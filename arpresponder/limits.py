"""The range of every number an operator gives, on the command line or in the config file, in one table;
and what an interface name may be.

Every value must be finite, and lie in a range that means something: an infinite `--duration` would run
forever, and the waits behind these values (threading.Event.wait, time.sleep) raise OverflowError past
threading.TIMEOUT_MAX (about 292 years) — so a second count stops at a day between two events, a year for a
run. The CLI checks an option as it parses it (options.within hands `Limit.parse` to typer), the config
reader checks its key with `Limit.problem`; both name the option or key, and give the range in words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import quote

DAY = 86_400  # seconds
YEAR = 365 * DAY


@dataclass(frozen=True)
class Limit:
    """Numbers from `low` to `high` inclusive, in `unit`; whole numbers only if `integer`."""

    low: float
    high: float
    unit: str  # what the number counts, plural: "seconds", "frames/s", "rounds"
    integer: bool = False

    def bounds(self) -> str:
        """'0.1 to 86400': the range, as --help gives it."""
        return f"{_number(self.low)} to {_number(self.high)}"

    def describe(self) -> str:
        """The range in words, for errors: 'a number of seconds from 0 to 86400'."""
        return f"{'a whole number' if self.integer else 'a number'} of {self.unit} from {self.bounds()}"

    def problem(self, value: object) -> str | None:
        """None if value (a number from a config file) lies in the range; else what was expected, in words."""
        numeric = (int,) if self.integer else (int, float)
        # bool is an int in Python, but a TOML `true` is not a count.
        if not isinstance(value, numeric) or isinstance(value, bool) or not self.low <= value <= self.high:
            return f"expected {self.describe()}"  # NaN fails the comparison too
        return None

    def parse(self, text: str) -> int | float:
        """Command-line text → the number; ValueError saying what was expected (and quoting text) otherwise."""
        try:
            value = int(text) if self.integer else float(text)
        except ValueError:  # not a number, or an int of more than 4300 digits
            value = None
        if value is None or self.problem(value):  # float() takes "inf" and "nan": problem() refuses them
            raise ValueError(f"expected {self.describe()}, not {quote(text)}")
        return value


def _number(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


# run --duration: how long to answer (0: stop at once, after the start-up checks).
DURATION = Limit(0, YEAR, "seconds")
# [announce] and run --announce-*, announce --count/--interval/--rate. RFC 5227 announces twice, 2 s apart; a
# rate below 0.01 frames/s would wait more than 100 s between two frames of one round.
ANNOUNCE_COUNT = Limit(1, 10_000, "rounds", integer=True)
WORKERS = Limit(1, 64, "processes", integer=True)  # past the cores of big boxes; each maps an 8 MiB ring per link
ANNOUNCE_INTERVAL = Limit(0, DAY, "seconds")
ANNOUNCE_RATE = Limit(0.01, 10_000_000, "frames/s")
# [announce] every and run --announce-every: announcing the set again more than once a second is a flood, not a
# refresh (keepalived's garp_master_refresh and kube-vip use tens of seconds).
ANNOUNCE_EVERY = Limit(1, DAY, "seconds")
# on_conflict's ageing (conflict_age): how long another host's sighting counts; its table's size (conflict_table).
CONFLICT_AGE = Limit(1, DAY, "seconds")
CONFLICT_TABLE = Limit(16, 1_000_000, "addresses", integer=True)
# claim = "unowned": how long to wait for an answer to the probes before claiming (more than 0: probes need a
# chance to be answered), and how many probes to send in that time (RFC 5227 sends 3; farpd 2).
CLAIM_WAIT = Limit(0.01, 60, "seconds")
CLAIM_PROBES = Limit(1, 10, "probes", integer=True)
# [[interfaces]] vlan: IEEE 802.1Q VLAN IDs (0 means untagged and 4095 is reserved).
VLAN_ID = Limit(1, 4094, "VLAN IDs", integer=True)
# run --stats-interval and stats --interval: more often than ten times a second is a busy loop, not a view.
STATS_INTERVAL = Limit(0.1, DAY, "seconds")
# run --pcap-max: 100M frames is about 10 GB of pcap.
PCAP_MAX = Limit(1, 100_000_000, "frames", integer=True)


# Linux's dev_valid_name(): 1 to 15 bytes (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or
# whitespace. Control characters, which the kernel allows, are refused too: nobody could type or read them.
_IFNAMSIZ = 16
_NOT_IN_NAMES = re.compile(r"[/:\s\x00-\x1f\x7f]")


def interface_problem(name: str) -> str | None:
    """None if `name` can be a Linux interface name; else what one is, in words. For --interface and the
    config's `interface`."""
    try:
        size = len(name.encode())
    except UnicodeEncodeError:  # a surrogate: a byte of the command line that was not UTF-8
        size = _IFNAMSIZ
    if not 0 < size < _IFNAMSIZ or name in (".", "..") or _NOT_IN_NAMES.search(name):
        return "expected an interface name (1 to 15 bytes; no '/', ':', spaces or control characters)"
    return None


# POSIX portable user names (and what useradd accepts): letters, digits, '.', '_', '-', not starting with '-'.
_USER_NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}\$?")


def user_problem(name: str) -> str | None:
    """None if `name` can be a user name (run --user, the config's `user`); else what one is, in words."""
    if not _USER_NAME.fullmatch(name):
        return "expected a user name (up to 32 letters, digits, '.', '_' or '-')"
    return None
