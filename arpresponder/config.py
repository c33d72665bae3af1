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

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from .addrset import AddressError, AddressSet
from .announce import AnnounceSettings
from .engines import ENGINES
from .errors import ConfigError


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
_ANNOUNCE_KEYS = {
    "at_start": ((bool,), "true or false"),
    "count": ((int,), "an integer"),
    "interval": ((int, float), "a number of seconds"),
    "rate": ((int, float), "a number of frames per second"),
}


def load_config(path: Path) -> Config:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    where = _Locator(path, text)

    for key, value in data.items():
        if key not in _TOP_KEYS:
            raise ConfigError(f"{where(key)}: unknown key {key!r}; known keys: {', '.join(_TOP_KEYS)}")
        _check_type(where(key), key, value, _TOP_KEYS[key])
    config = Config()
    if "interface" in data:
        config.interface = data["interface"]
    if "engine" in data:
        if data["engine"] not in ENGINES:
            raise ConfigError(f"{where('engine')}: engine = {data['engine']!r}; choose one of: {', '.join(ENGINES)}")
        config.engine = data["engine"]
    config.dry_run = data.get("dry_run", False)

    tokens, wheres = [], []
    for i, item in enumerate(data.get("addresses", [])):
        key = f"addresses[{i}]"
        if isinstance(item, dict):
            unknown = set(item) - {"ip", "mac"}
            if unknown or not isinstance(item.get("ip"), str) or not isinstance(item.get("mac", ""), str):
                raise ConfigError(
                    f'{where(key, item)}: {key} = {item!r}: a table here holds ip = "..." and optionally mac = "..."'
                )
            tokens.append(item["ip"] + (f"={item['mac']}" if "mac" in item else ""))
            wheres.append(where(key, item["ip"]) + f" {key}")
        elif isinstance(item, str):
            tokens.append(item)
            wheres.append(where(key, item) + f" {key}")
        else:
            raise ConfigError(
                f"{where('addresses')}: {key} = {item!r}: expected an address string or {{ ip = ..., mac = ... }}"
            )
    config.tokens.append(Tokens(tokens, wheres.__getitem__))
    for i, name in enumerate(data.get("address_files", [])):
        if not isinstance(name, str):
            raise ConfigError(f"{where('address_files')}: address_files[{i}] = {name!r}: expected a file name")
        config.tokens.append(read_address_file(path.parent / name))

    announce = data.get("announce", {})
    for key, value in announce.items():
        if key not in _ANNOUNCE_KEYS:
            raise ConfigError(f"{where(key)}: unknown key announce.{key}; known keys: {', '.join(_ANNOUNCE_KEYS)}")
        _check_type(where(key), f"announce.{key}", value, _ANNOUNCE_KEYS[key])
    config.announce_at_start = announce.get("at_start", False)
    defaults = AnnounceSettings()
    config.announce = AnnounceSettings(
        count=announce.get("count", defaults.count),
        interval=float(announce.get("interval", defaults.interval)),
        rate=float(announce.get("rate", defaults.rate)),
    )
    problems = config.announce.problems()
    if problems:
        raise ConfigError(f"{where('announce')}: announce.{problems[0]}")
    return config


def read_address_file(path: Path) -> Tokens:
    """The tokens of an address file: one token a line, blank lines and '#' comments allowed."""
    try:
        text = path.read_text()  # text mode makes \r\n and \r into \n, as iterating the file did
    except OSError as e:
        raise ConfigError(f"cannot read address file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"address file {path} is not text") from None
    lines = text.split("\n")
    if "#" in text:
        lines = [line.partition("#")[0] for line in lines]
    stripped = list(map(str.strip, lines))  # one per line, so line numbers can be found again

    def where(index: int) -> str:
        line_numbers = [n for n, token in enumerate(stripped, 1) if token]
        return f"{path}:{line_numbers[index]}"

    return Tokens(list(filter(None, stripped)), where)


def _check_type(where: str, key: str, value: object, expected: tuple[tuple[type, ...], str]) -> None:
    types, description = expected
    # bool is an int in Python, but a TOML `true` is not a count.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ConfigError(f"{where}: {key} = {value!r}: expected {description}")


class _Locator:
    """Best-effort `file:line` for a key (and value) in TOML text, for error messages."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def __call__(self, key: str, value: object = None) -> str:
        name = key.split("[")[0]
        if isinstance(value, str):
            needle = re.compile(re.escape(f'"{value}"') + "|" + re.escape(f"'{value}'"))
        else:
            needle = re.compile(rf"^\s*{re.escape(name)}\s*=")
        for n, line in enumerate(self.lines, 1):
            if needle.search(line):
                return f"{self.path}:{n}"
        return str(self.path)
