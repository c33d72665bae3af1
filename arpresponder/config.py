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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .addrset import AddressError, AddressSet, Spec, parse_token
from .announce import AnnounceSettings
from .engines import ENGINES
from .errors import ConfigError


@dataclass
class Config:
    interface: str | None = None
    engine: str = "auto"
    dry_run: bool = False
    # Where each address token came from ("--ip", "lab.toml:7 addresses[2]", "more.txt:12"), and the token.
    tokens: list[tuple[str, str]] = field(default_factory=list)
    announce_at_start: bool = False
    announce: AnnounceSettings = field(default_factory=AnnounceSettings)

    def address_set(self) -> AddressSet:
        """Parse every token; the first bad one ends it with an error naming where it came from."""
        return AddressSet.from_specs(_located_specs(self.tokens))


def _located_specs(tokens: Iterable[tuple[str, str]]) -> Iterator[Spec]:
    for where, token in tokens:
        try:
            yield parse_token(token)
        except AddressError as e:
            raise ConfigError(f"{where}: {e}") from None


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

    for i, item in enumerate(data.get("addresses", [])):
        key = f"addresses[{i}]"
        if isinstance(item, dict):
            unknown = set(item) - {"ip", "mac"}
            if unknown or not isinstance(item.get("ip"), str) or not isinstance(item.get("mac", ""), str):
                raise ConfigError(f"{where(key, item)}: {key} = {item!r}: a table here holds ip = \"...\" and optionally mac = \"...\"")
            token = item["ip"] + (f"={item['mac']}" if "mac" in item else "")
            config.tokens.append((where(key, item["ip"]) + f" {key}", token))
        elif isinstance(item, str):
            config.tokens.append((where(key, item) + f" {key}", item))
        else:
            raise ConfigError(f"{where('addresses')}: {key} = {item!r}: expected an address string or {{ ip = ..., mac = ... }}")
    for i, name in enumerate(data.get("address_files", [])):
        if not isinstance(name, str):
            raise ConfigError(f"{where('address_files')}: address_files[{i}] = {name!r}: expected a file name")
        config.tokens.extend(read_address_file(path.parent / name))

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


def read_address_file(path: Path) -> list[tuple[str, str]]:
    """(where, token) for each line of an address file: one token a line, blank lines and '#' comments allowed."""
    try:
        with path.open() as f:
            return [
                (f"{path}:{n}", token)
                for n, line in enumerate(f, 1)
                if (token := line.partition("#")[0].strip())
            ]  # fmt: skip
    except OSError as e:
        raise ConfigError(f"cannot read address file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"address file {path} is not text") from None


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

