"""Config files and address files: what they set, and errors that name the file, line and key."""

from pathlib import Path

import pytest

from arpresponder.codec import parse_ipv4, parse_mac
from arpresponder.config import load_config
from arpresponder.errors import ConfigError

FULL = """\
interface = "r0"
engine = "scapy"
dry_run = true
addresses = [
    "198.51.100.128/26",
    "!198.51.100.130",
    "198.51.100.9=02:aa:bb:cc:dd:ee",
    { ip = "198.51.100.10", mac = "02:aa:bb:cc:dd:ef" },
    { ip = "198.51.100.11" },
]
address_files = ["more.txt"]

[announce]
at_start = true
count = 3
interval = 0.5
rate = 200
"""


def write(tmp_path: Path, text: str, name: str = "lab.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_key_is_read(tmp_path):
    write(tmp_path, "# more\n198.51.100.20-198.51.100.21  # two\n\n203.0.113.5\n", "more.txt")
    cfg = load_config(write(tmp_path, FULL))
    assert (cfg.interface, cfg.engine, cfg.dry_run, cfg.announce_at_start) == ("r0", "scapy", True, True)
    assert (cfg.announce.count, cfg.announce.interval, cfg.announce.rate) == (3, 0.5, 200.0)
    s = cfg.address_set()
    ours = parse_mac("02:00:00:00:00:01")
    assert s.resolve(parse_ipv4("198.51.100.129"), ours) == ours
    assert s.resolve(parse_ipv4("198.51.100.130"), ours) is None
    assert s.resolve(parse_ipv4("198.51.100.9"), ours) == parse_mac("02:aa:bb:cc:dd:ee")
    assert s.resolve(parse_ipv4("198.51.100.10"), ours) == parse_mac("02:aa:bb:cc:dd:ef")
    assert s.resolve(parse_ipv4("198.51.100.11"), ours) == ours
    assert s.resolve(parse_ipv4("198.51.100.21"), ours) == ours
    assert s.resolve(parse_ipv4("203.0.113.5"), ours) == ours
    assert len(s) == 63 + 3 + 2 + 1


def test_defaults(tmp_path):
    cfg = load_config(write(tmp_path, 'addresses = ["198.51.100.7"]\n'))
    assert (cfg.interface, cfg.engine, cfg.dry_run, cfg.announce_at_start) == (None, "auto", False, False)
    assert (cfg.announce.count, cfg.announce.interval, cfg.announce.rate) == (2, 2.0, 1000.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('interface = "r0"\ninterfce = "r1"\n', r"lab.toml:2: unknown key 'interfce'"),
        ('engine = "fast"\n', r"lab.toml:1: engine = 'fast'; choose one of: auto, packet, scapy"),
        ("interface = 3\n", r"lab.toml:1: interface = 3: expected a string"),
        ('dry_run = "yes"\n', r"lab.toml:1: dry_run = 'yes': expected true or false"),
        ('addresses = "198.51.100.7"\n', r"lab.toml:1: addresses = '198.51.100.7': expected an array"),
        ("[announce]\ncount = true\n", r"lab.toml:2: announce.count = True: expected an integer"),
        ("[announce]\ncount = 0\n", r"announce.count must be at least 1"),
        ("[announce]\nrate = -5\n", r"announce.rate must be more than 0"),
        ("[announce]\nburst = 5\n", r"lab.toml:2: unknown key announce.burst"),
        ("addresses = [\n  1,\n]\n", r"addresses\[0\] = 1: expected an address string"),
        ('addresses = [{ ip = "198.51.100.7", mc = "02:aa:bb:cc:dd:ee" }]\n', r"addresses\[0\].*holds ip ="),
        ('interface = "r0\n', r"lab.toml: not valid TOML"),
        ('address_files = ["missing.txt"]\n', r"cannot read address file .*missing.txt"),
    ],
)
def test_bad_config_names_the_place(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_bad_address_names_file_line_and_key(tmp_path):
    cfg = load_config(write(tmp_path, 'interface = "r0"\naddresses = [\n  "198.51.100.7",\n  "198.51.100.300",\n]\n'))
    with pytest.raises(ConfigError, match=r"lab.toml:4 addresses\[1\]: '198.51.100.300'.*not an IPv4 address"):
        cfg.address_set()


def test_bad_line_in_an_address_file_names_the_line(tmp_path):
    write(tmp_path, "198.51.100.7\n\n# comment\n198.51.100.0/33\n", "more.txt")
    cfg = load_config(write(tmp_path, 'address_files = ["more.txt"]\n'))
    with pytest.raises(ConfigError, match=r"more.txt:4: '198.51.100.0/33'.*prefix length"):
        cfg.address_set()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")
