"""The config file (TOML) and address files, read into one Config.

One interface, or one set on several:

    interface = "r0"                   # or ["r0", "r1"]: the same set on each
    engine = "auto"                    # auto | packet | scapy
    dry_run = false
    user = "arpr"                      # run --user: drop root once the sockets are open
    addresses = [
        "198.51.100.128/26",
        "!198.51.100.130",
        "198.51.100.9=02:aa:bb:cc:dd:ee",
        { ip = "198.51.100.10", mac = "02:aa:bb:cc:dd:ef" },
    ]
    address_files = ["more.txt"]      # one token per line, '#' comments; relative to this file

    [announce]
    enabled = true                     # what `run --announce` does
    count = 2
    interval = 2.0
    rate = 1000
    every = 60                         # and again every 60 s

Several interfaces, each with its own set and settings: `[[interfaces]]`
tables (`name`, and any of `vlan`, `addresses`, `address_files`, `engine`,
`dry_run`, `[interfaces.announce]`). What a table leaves out it takes from
the top level; a table with neither `addresses` nor `address_files` answers
for the top-level set.

    [[interfaces]]
    name = "r0"
    addresses = ["198.51.100.0/25"]

    [[interfaces]]
    name = "r0"                        # the same NIC's VLAN 100, on its parent
    vlan = 100
    addresses = ["203.0.113.0/24"]
    announce = { enabled = true, every = 30 }

Every error names the file, the line where we can find it, and the key.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from . import limits, tomlguard
from .addrset import AddressError, AddressSet
from .announce import AnnounceSettings
from .engines import ENGINES
from .errors import ConfigError, printable, quote
from .owners import Claim, Policy


@dataclass
class Tokens:
    """Address tokens from one place, and where each one came from ("--ip", "lab.toml:7 addresses[2]",
    "more.txt:12"). `where` is asked only for a bad token: a million "file:line" strings cost a second."""

    tokens: list[str]
    where: Callable[[int], str]  # index into tokens → where that token came from


def build_set(sources: list[Tokens]) -> AddressSet:
    """Parse every token of the sources, in order; the first bad one ends it with an error naming where it came from."""
    try:
        return AddressSet.parse(list(chain.from_iterable(source.tokens for source in sources)))
    except AddressError as e:
        if e.index is None:
            raise  # not one bad token but how tokens combine; the message names them
        index = e.index
        for source in sources:
            if index < len(source.tokens):
                raise ConfigError(f"{source.where(index)}: {e}") from None
            index -= len(source.tokens)
        raise


@dataclass
class InterfaceEntry:
    """One interface the config answers on. None: the top level's value."""

    name: str
    where: str  # "lab.toml:12 interfaces[1]", for errors
    table: bool = False  # from an [[interfaces]] table (else from interface = ...)
    vlan: int = 0  # answer frames tagged with this VLAN ID on the parent `name`; 0: untagged
    tokens: list[Tokens] | None = None  # its own addresses; None: the top-level set
    engine: str | None = None
    dry_run: bool | None = None
    announce: dict[str, object] = field(default_factory=dict)  # [announce] keys set for this interface
    owners: dict[str, object] = field(default_factory=dict)  # on_conflict and claim keys set for this interface


@dataclass
class Config:
    path: Path | None = None
    interfaces: list[InterfaceEntry] = field(default_factory=list)  # in the order given
    engine: str = "auto"
    dry_run: bool = False
    user: str | None = None
    tokens: list[Tokens] = field(default_factory=list)  # the top-level set, in the order given
    announce: AnnounceSettings = field(default_factory=AnnounceSettings)
    owners: dict[str, object] = field(default_factory=dict)  # on_conflict and claim keys (OWNER_KEYS) at the top

    def has_tokens(self) -> bool:
        return any(source.tokens for source in self.tokens)


# key → (accepted Python types, what to call them in an error)
_TOP_KEYS = {
    "interface": ((str, list), "an interface name, or an array of them"),
    "interfaces": ((list,), "an array of tables ([[interfaces]])"),
    "engine": ((str,), "a string"),
    "dry_run": ((bool,), "true or false"),
    "user": ((str,), "a user name"),
    "addresses": ((list,), "an array"),
    "address_files": ((list,), "an array"),
    "announce": ((dict,), "a table"),
    "on_conflict": ((str,), "a string"),
    "conflict_age": ((int, float), "a number of seconds"),
    "conflict_table": ((int,), "a number of addresses"),
    "claim": ((str,), "a string"),
    "claim_wait": ((int, float), "a number of seconds"),
    "claim_probes": ((int,), "a number of probes"),
}
# What another host using our addresses makes us do (owners.py): key → the words it takes, or its range.
OWNER_KEYS = {
    "on_conflict": [str(p) for p in Policy],
    "conflict_age": limits.CONFLICT_AGE,
    "conflict_table": limits.CONFLICT_TABLE,
    "claim": [str(c) for c in Claim],
    "claim_wait": limits.CLAIM_WAIT,
    "claim_probes": limits.CLAIM_PROBES,
}
_INTERFACE_KEYS = {
    "name": ((str,), "an interface name"),
    "vlan": ((int,), "a VLAN ID"),
    "engine": ((str,), "a string"),
    "dry_run": ((bool,), "true or false"),
    "addresses": ((list,), "an array"),
    "address_files": ((list,), "an array"),
    "announce": ((dict,), "a table"),
    **{key: _TOP_KEYS[key] for key in OWNER_KEYS},
}
_ANNOUNCE_SWITCH = ((bool,), "true or false")
_ANNOUNCE_LIMITS = {
    "count": limits.ANNOUNCE_COUNT,
    "interval": limits.ANNOUNCE_INTERVAL,
    "rate": limits.ANNOUNCE_RATE,
    "every": limits.ANNOUNCE_EVERY,
}

# Bigger files are refused before they are read whole: /dev/zero given as a file must not take all memory.
# A config holds a few lines, or a list of addresses at ~20 bytes each; an address file, one token a line.
MAX_CONFIG_BYTES = 64 << 20  # about 3M addresses as a TOML list
MAX_ADDRESS_FILE_BYTES = 1 << 30  # about 50M tokens, more than a set can hold in memory here


def load_config(path: Path) -> Config:
    """The config file at path → Config; ConfigError naming the file (and line and key, where known).

    Reads UTF-8 TOML of at most MAX_CONFIG_BYTES, refuses nesting and dotted keys past tomlguard's bounds
    before tomllib sees them, then checks every key: its type, and numbers against limits.py. Address files it
    names are read too (read_address_file); their tokens are parsed later (build_set).
    Time and memory are linear in the size of the file.
    """
    text = _read_text(path, "config", MAX_CONFIG_BYTES)
    shape = tomlguard.shape_problem(text)
    if shape:
        offset, problem = shape
        raise ConfigError(f"{_show(path)}:{text.count(chr(10), 0, offset) + 1}: {problem}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{_show(path)}: not valid TOML: {e}") from None
    except ValueError:  # int() refusing a number of more than sys.get_int_max_str_digits() digits
        raise ConfigError(f"{_show(path)}: holds an integer with too many digits (Python reads 4300 at most)") from None
    where = _Locator(path, text)

    _check_keys(where, "", data, _TOP_KEYS)
    config = Config(path=path)
    config.engine = _engine(where, "engine", data.get("engine", "auto"))
    config.dry_run = data.get("dry_run", False)
    if "user" in data:
        problem = limits.user_problem(data["user"])
        if problem:
            raise ConfigError(f"{where('user')}: user = {quote(data['user'])}: {problem}")
        config.user = data["user"]
    config.tokens = _address_sources(where, path, "", data)
    config.announce = _announce(where, "announce", data.get("announce", {}), AnnounceSettings())
    config.owners = _owner_keys(where, "", data)
    if "interface" in data and "interfaces" in data:
        raise ConfigError(
            f"{where('interfaces')}: give interface = ... or [[interfaces]] tables, not both: "
            "the tables can name every interface"
        )
    if "interface" in data:
        names = data["interface"] if isinstance(data["interface"], list) else [data["interface"]]
        for i, name in enumerate(names):
            key = "interface" if isinstance(data["interface"], str) else f"interface[{i}]"
            config.interfaces.append(InterfaceEntry(_interface_name(where, key, name), where("interface")))
    for i, table in enumerate(data.get("interfaces", [])):
        config.interfaces.append(_interface_entry(where, path, i, table))
    return config


def _interface_entry(where: _Locator, path: Path, i: int, table: object) -> InterfaceEntry:
    """One [[interfaces]] table → InterfaceEntry."""
    key = f"interfaces[{i}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where('interfaces')}: {key} = {quote(table)}: expected a table ([[interfaces]])")
    _check_keys(where, f"{key}.", table, _INTERFACE_KEYS)
    if "name" not in table:
        raise ConfigError(f'{where("interfaces")}: {key} has no name = "...": which interface is it?')
    name = _interface_name(where, f"{key}.name", table["name"])
    entry = InterfaceEntry(name, f"{where('name', name)} {key}", table=True)
    if "vlan" in table:
        problem = limits.VLAN_ID.problem(table["vlan"])
        if problem:
            raise ConfigError(f"{where('vlan')}: {key}.vlan = {quote(table['vlan'])}: {problem}")
        entry.vlan = table["vlan"]
    if "engine" in table:
        entry.engine = _engine(where, f"{key}.engine", table["engine"])
    entry.dry_run = table.get("dry_run")
    if "addresses" in table or "address_files" in table:
        entry.tokens = _address_sources(where, path, f"{key}.", table)
    announce = table.get("announce", {})
    _announce(where, f"{key}.announce", announce, AnnounceSettings())  # checked now; merged with the top level later
    entry.announce = dict(announce)
    entry.owners = _owner_keys(where, f"{key}.", table)
    return entry


def _owner_keys(where: _Locator, prefix: str, table: dict) -> dict[str, object]:
    """The on_conflict and claim keys of a table (OWNER_KEYS), checked: words among theirs, numbers in range."""
    out = {}
    for key, rule in OWNER_KEYS.items():
        if key not in table:
            continue
        value = table[key]
        if isinstance(rule, list):
            if value not in rule:
                raise ConfigError(f"{where(key)}: {prefix}{key} = {quote(value)}; choose one of: {', '.join(rule)}")
        else:
            problem = rule.problem(value)
            if problem:
                raise ConfigError(f"{where(key)}: {prefix}{key} = {quote(value)}: {problem}")
        out[key] = value
    return out


def _check_keys(where: _Locator, prefix: str, table: dict, known: dict) -> None:
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where(key)}: unknown key {quote(prefix + key)}; known keys: {', '.join(known)}")
        _check_type(where, prefix + key, value, known[key])


def _engine(where: _Locator, key: str, value: str) -> str:
    if value not in ENGINES:
        raise ConfigError(
            f"{where(key.rpartition('.')[2])}: {key} = {quote(value)}; choose one of: {', '.join(ENGINES)}"
        )
    return value


def _interface_name(where: _Locator, key: str, name: object) -> str:
    problem = "expected an interface name" if not isinstance(name, str) else limits.interface_problem(name)
    if problem:
        raise ConfigError(f"{where(key.rpartition('.')[2].split('[')[0])}: {key} = {quote(name)}: {problem}")
    return name


def _address_sources(where: _Locator, path: Path, prefix: str, table: dict) -> list[Tokens]:
    """The `addresses` and `address_files` of a table (the top level, or an [[interfaces]] one) as Tokens."""
    items = table.get("addresses", [])
    tokens = items if set(map(type, items)) <= {str} else [_token(where, i, item) for i, item in enumerate(items)]
    sources = [Tokens(tokens, lambda i: f"{where('addresses', _ip_text(items[i]))} {prefix}addresses[{i}]")]
    for i, name in enumerate(table.get("address_files", [])):
        if not isinstance(name, str):
            raise ConfigError(
                f"{where('address_files')}: {prefix}address_files[{i}] = {quote(name)}: expected a file name"
            )
        try:
            sources.append(read_address_file(path.parent / name))
        except ConfigError as e:
            raise ConfigError(f"{where('address_files', name)} {prefix}address_files[{i}]: {e}") from None
    return sources


def _announce(where: _Locator, key: str, table: dict, base: AnnounceSettings) -> AnnounceSettings:
    """An [announce] table (checked) over base."""
    for name, value in table.items():
        if name == "enabled":
            _check_type(where, f"{key}.enabled", value, _ANNOUNCE_SWITCH)
        elif name in _ANNOUNCE_LIMITS:
            problem = _ANNOUNCE_LIMITS[name].problem(value)
            if problem:
                raise ConfigError(f"{where(name)}: {key}.{name} = {quote(value)}: {problem}")
        else:
            known = ", ".join(["enabled", *_ANNOUNCE_LIMITS])
            raise ConfigError(f"{where(name)}: unknown key {quote(f'{key}.{name}')}; known keys: {known}")
    return announce_over(base, table)


def announce_over(base: AnnounceSettings, values: dict[str, object]) -> AnnounceSettings:
    """base with the (checked) [announce] values given."""
    return AnnounceSettings(
        enabled=bool(values.get("enabled", base.enabled)),
        count=int(values.get("count", base.count)),
        interval=float(values.get("interval", base.interval)),
        rate=float(values.get("rate", base.rate)),
        every=float(values["every"]) if "every" in values else base.every,
    )


def _token(where: _Locator, i: int, item: object) -> str:
    """addresses[i] → its token: a string as it is, a table { ip = "…", mac = "…" } as "ip=mac"."""
    key = f"addresses[{i}]"
    if isinstance(item, dict):
        if set(item) - {"ip", "mac"} or not isinstance(item.get("ip"), str) or not isinstance(item.get("mac", ""), str):
            raise ConfigError(
                f'{where(key)}: {key} = {quote(item)}: a table here holds ip = "..." and optionally mac = "..."'
            )
        return item["ip"] + (f"={item['mac']}" if "mac" in item else "")
    if isinstance(item, str):
        return item
    raise ConfigError(
        f"{where('addresses')}: {key} = {quote(item)}: expected an address string or {{ ip = ..., mac = ... }}"
    )


def _ip_text(item: object) -> str | None:
    """The text of an addresses item to look for in the file: a string, or a table's ip."""
    return item if isinstance(item, str) else item.get("ip") if isinstance(item, dict) else None


def read_address_file(path: Path) -> Tokens:
    """The tokens of an address file: one token a line, blank lines and '#' comments allowed.

    The file must be UTF-8 text of at most MAX_ADDRESS_FILE_BYTES; ConfigError naming it otherwise. Where each
    token came from (file:line) is worked out only for the bad one.
    """
    text = _read_text(path, "address file", MAX_ADDRESS_FILE_BYTES)
    lines = text.split("\n")
    if "#" in text:
        lines = [line.partition("#")[0] for line in lines]
    stripped = list(map(str.strip, lines))  # one per line, so line numbers can be found again

    def where(index: int) -> str:
        line_numbers = [n for n, token in enumerate(stripped, 1) if token]
        return f"{_show(path)}:{line_numbers[index]}"

    return Tokens(list(filter(None, stripped)), where)


def _read_text(path: Path, what: str, max_bytes: int) -> str:
    """The UTF-8 text of the file at path, newlines as \\n; ConfigError naming the file (and line) otherwise."""
    try:
        with path.open("rb") as f:
            data = _read_bounded(f, max_bytes)
    except OSError as e:
        raise ConfigError(f"cannot read {what} {_show(path)}: {e.strerror or e}") from None
    except ValueError:  # a NUL in a name from a config file
        raise ConfigError(f"cannot read {what} {_show(path)}: a file name cannot hold a NUL") from None
    if data is None:
        raise ConfigError(f"{what} {_show(path)} is larger than {max_bytes >> 20} MiB: is it the right file?")
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{_show(path)}:{line}: {what} is not UTF-8 text (byte {e.start} is {data[e.start]:#04x})"
        ) from None
    # As text mode reads it: \r\n and a lone \r end a line.
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _read_bounded(f: BinaryIO, max_bytes: int) -> bytes | None:
    """The file's bytes, or None if it holds more than max_bytes. A regular file's size is known: it is read
    whole or not at all. Any other (a pipe, /dev/zero) is read a MiB at a time: f.read(max_bytes + 1) would
    allocate all of it before reading a byte."""
    info = os.fstat(f.fileno())
    if stat.S_ISREG(info.st_mode):
        return f.read() if info.st_size <= max_bytes else None
    chunks, total = [], 0
    while total <= max_bytes and (chunk := f.read(1 << 20)):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks) if total <= max_bytes else None


def _show(path: Path) -> str:
    """A file name as an error shows it: non-printable characters (bytes that are not UTF-8, say) escaped."""
    return printable(str(path))


def _check_type(where: _Locator, key: str, value: object, expected: tuple[tuple[type, ...], str]) -> None:
    types, description = expected
    # bool is an int in Python, but a TOML `true` is not a count.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ConfigError(f"{where(key.rpartition('.')[2])}: {key} = {quote(value)}: expected {description}")


class _Locator:
    """Best-effort `file:line` of a key (or of a string value) in the TOML text, for error messages.

    Searched only when an error is raised, in one pass over the text: a list of a million addresses is not
    searched once per item."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.text = text

    def __call__(self, key: str, value: str | None = None) -> str:
        at = -1
        if value is not None:
            found = [i for i in (self.text.find(f'"{value}"'), self.text.find(f"'{value}'")) if i >= 0]
            at = min(found, default=-1)
        if at < 0:
            name = re.escape(key.split("[")[0])
            match = re.search(rf"^[ \t]*(?:{name}[ \t]*=|\[\[?[ \t]*{name}[ \t]*\]\]?)", self.text, re.MULTILINE)
            at = match.start() if match else -1
        if at < 0:
            return _show(self.path)
        return f"{_show(self.path)}:{self.text.count(chr(10), 0, at) + 1}"
