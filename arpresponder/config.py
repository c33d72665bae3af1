"""The config file (TOML) and address files, read into one Config.

    interface = "r0"
    engine = "auto"                    # auto | packet | scapy
    dry_run = false
    addresses = [
        "198.51.100.128/26",
        "!198.51.100.130",
        "198.51.100.9=02:aa:bb:cc:dd:ee",
        { ip = "198.51.100.10", mac = "02:aa:bb:cc:dd:ef" },
    ]
    address_files = ["more.txt"]      # one token per line, '#' comments; relative to this file

    [announce]
    at_start = true                    # what `run --announce` does
    count = 2
    interval = 2.0
    rate = 1000

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


@dataclass
class Tokens:
    """Address tokens from one place, and where each one came from ("--ip", "lab.toml:7 addresses[2]",
    "more.txt:12"). `where` is asked only for a bad token: a million "file:line" strings cost a second."""

    tokens: list[str]
    where: Callable[[int], str]  # index into tokens → where that token came from


@dataclass
class Config:
    interface: str | None = None
    engine: str = "auto"
    dry_run: bool = False
    tokens: list[Tokens] = field(default_factory=list)  # in the order given
    announce_at_start: bool = False
    announce: AnnounceSettings = field(default_factory=AnnounceSettings)

    def has_tokens(self) -> bool:
        return any(source.tokens for source in self.tokens)

    def address_set(self) -> AddressSet:
        """Parse every token; the first bad one ends it with an error naming where it came from."""
        try:
            return AddressSet.parse(list(chain.from_iterable(source.tokens for source in self.tokens)))
        except AddressError as e:
            if e.index is None:
                raise  # not one bad token but how tokens combine; the message names them
            index = e.index
            for source in self.tokens:
                if index < len(source.tokens):
                    raise ConfigError(f"{source.where(index)}: {e}") from None
                index -= len(source.tokens)
            raise


# key → (accepted Python types, what to call them in an error)
_TOP_KEYS = {
    "interface": ((str,), "a string"),
    "engine": ((str,), "a string"),
    "dry_run": ((bool,), "true or false"),
    "addresses": ((list,), "an array"),
    "address_files": ((list,), "an array"),
    "announce": ((dict,), "a table"),
}
_ANNOUNCE_AT_START = ((bool,), "true or false")
_ANNOUNCE_LIMITS = {"count": limits.ANNOUNCE_COUNT, "interval": limits.ANNOUNCE_INTERVAL, "rate": limits.ANNOUNCE_RATE}

# Bigger files are refused before they are read whole: /dev/zero given as a file must not take all memory.
# A config holds a few lines, or a list of addresses at ~20 bytes each; an address file, one token a line.
MAX_CONFIG_BYTES = 64 << 20  # about 3M addresses as a TOML list
MAX_ADDRESS_FILE_BYTES = 1 << 30  # about 50M tokens, more than a set can hold in memory here


def load_config(path: Path) -> Config:
    """The config file at path → Config; ConfigError naming the file (and line and key, where known).

    Reads UTF-8 TOML of at most MAX_CONFIG_BYTES, refuses nesting and dotted keys past tomlguard's bounds
    before tomllib sees them, then checks every key: its type, and numbers against limits.py. Address files it
    names are read too (read_address_file); their tokens are parsed later, by Config.address_set().
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

    for key, value in data.items():
        if key not in _TOP_KEYS:
            raise ConfigError(f"{where(key)}: unknown key {quote(key)}; known keys: {', '.join(_TOP_KEYS)}")
        _check_type(where, key, value, _TOP_KEYS[key])
    config = Config()
    if "interface" in data:
        problem = limits.interface_problem(data["interface"])
        if problem:
            raise ConfigError(f"{where('interface')}: interface = {quote(data['interface'])}: {problem}")
        config.interface = data["interface"]
    if "engine" in data:
        if data["engine"] not in ENGINES:
            raise ConfigError(
                f"{where('engine')}: engine = {quote(data['engine'])}; choose one of: {', '.join(ENGINES)}"
            )
        config.engine = data["engine"]
    config.dry_run = data.get("dry_run", False)

    items = data.get("addresses", [])
    tokens = items if set(map(type, items)) <= {str} else [_token(where, i, item) for i, item in enumerate(items)]
    config.tokens.append(Tokens(tokens, lambda i: f"{where('addresses', _ip_text(items[i]))} addresses[{i}]"))
    for i, name in enumerate(data.get("address_files", [])):
        if not isinstance(name, str):
            raise ConfigError(f"{where('address_files')}: address_files[{i}] = {quote(name)}: expected a file name")
        try:
            config.tokens.append(read_address_file(path.parent / name))
        except ConfigError as e:
            raise ConfigError(f"{where('address_files', name)} address_files[{i}]: {e}") from None

    announce = data.get("announce", {})
    for key, value in announce.items():
        if key == "at_start":
            _check_type(where, "announce.at_start", value, _ANNOUNCE_AT_START)
        elif key in _ANNOUNCE_LIMITS:
            problem = _ANNOUNCE_LIMITS[key].problem(value)
            if problem:
                raise ConfigError(f"{where(key)}: announce.{key} = {quote(value)}: {problem}")
        else:
            known = ", ".join(["at_start", *_ANNOUNCE_LIMITS])
            raise ConfigError(f"{where(key)}: unknown key {quote('announce.' + key)}; known keys: {known}")
    config.announce_at_start = announce.get("at_start", False)
    defaults = AnnounceSettings()
    config.announce = AnnounceSettings(
        count=announce.get("count", defaults.count),
        interval=float(announce.get("interval", defaults.interval)),
        rate=float(announce.get("rate", defaults.rate)),
    )
    return config


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
            match = re.search(rf"^[ \t]*(?:{name}[ \t]*=|\[[ \t]*{name}[ \t]*\])", self.text, re.MULTILINE)
            at = match.start() if match else -1
        if at < 0:
            return _show(self.path)
        return f"{_show(self.path)}:{self.text.count(chr(10), 0, at) + 1}"
