"""Config files and address files: what they set, and errors that name the file, line and key."""

import contextlib
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arpresponder import config
from arpresponder.codec import parse_ipv4, parse_mac
from arpresponder.config import build_set, load_config, read_address_file
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
enabled = true
count = 3
every = 30
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
    assert ([e.name for e in cfg.interfaces], cfg.engine, cfg.dry_run, cfg.announce.enabled) == (
        ["r0"],
        "scapy",
        True,
        True,
    )
    assert (cfg.announce.count, cfg.announce.interval, cfg.announce.rate, cfg.announce.every) == (3, 0.5, 200.0, 30.0)
    s = build_set(cfg.tokens)
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
    assert (cfg.interfaces, cfg.engine, cfg.dry_run, cfg.announce.enabled, cfg.user) == ([], "auto", False, False, None)
    assert cfg.announce.every is None
    assert (cfg.announce.count, cfg.announce.interval, cfg.announce.rate) == (2, 2.0, 1000.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('interface = "r0"\ninterfce = "r1"\n', r"lab.toml:2: unknown key 'interfce'"),
        ('engine = "fast"\n', r"lab.toml:1: engine = 'fast'; choose one of: auto, packet, scapy"),
        ("interface = 3\n", r"lab.toml:1: interface = 3: expected an interface name, or an array of them"),
        ('dry_run = "yes"\n', r"lab.toml:1: dry_run = 'yes': expected true or false"),
        ('addresses = "198.51.100.7"\n', r"lab.toml:1: addresses = '198.51.100.7': expected an array"),
        ("[announce]\ncount = true\n", r"lab.toml:2: announce.count = True: expected a whole number of rounds"),
        ("[announce]\ncount = 0\n", r"lab.toml:2: announce.count = 0: expected a whole number of rounds from 1 to"),
        ("[announce]\nrate = -5\n", r"announce.rate = -5: expected a number of frames/s from 0.01 to 10000000"),
        ("[announce]\nburst = 5\n", r"lab.toml:2: unknown key 'announce.burst'"),
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
        build_set(cfg.tokens)


def test_bad_line_in_an_address_file_names_the_line(tmp_path):
    write(tmp_path, "198.51.100.7\n\n# comment\n198.51.100.0/33\n", "more.txt")
    cfg = load_config(write(tmp_path, 'address_files = ["more.txt"]\n'))
    with pytest.raises(ConfigError, match=r"more.txt:4: '198.51.100.0/33'.*prefix length"):
        build_set(cfg.tokens)


def test_a_missing_address_file_names_the_config_line_that_names_it(tmp_path):
    path = write(tmp_path, 'interface = "r0"\naddress_files = ["more.txt"]\n')
    with pytest.raises(ConfigError, match=r"lab.toml:2 address_files\[0\]: cannot read address file .*more.txt"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")


# --- every value in its range, every file read without a traceback ---


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[announce]\ncount = 10001\n", r"lab.toml:2: announce.count = 10001: expected a whole number of rounds"),
        ("[announce]\ncount = 1.5\n", r"announce.count = 1.5: expected a whole number"),
        ("[announce]\ninterval = inf\n", r"lab.toml:2: announce.interval = inf: expected a number of seconds from 0"),
        ("[announce]\ninterval = nan\n", r"announce.interval = nan: expected a number of seconds"),
        ("[announce]\ninterval = -1\n", r"announce.interval = -1: expected a number of seconds"),
        ("[announce]\ninterval = 86401\n", r"announce.interval = 86401: expected a number of seconds from 0 to 86400"),
        ("[announce]\nrate = 1e-300\n", r"announce.rate = 1e-300: expected a number of frames/s from 0.01"),
        ("[announce]\nrate = 1e8\n", r"announce.rate = 100000000.0: expected a number of frames/s"),
        ("announce.count = " + "9" * 5000 + "\n", r"lab.toml: holds an integer with too many digits"),
        ('interface = "r\\u00000"\n', r"lab.toml:1: interface = 'r\\x000': expected an interface name"),
        ('interface = "a/b"\n', r"interface = 'a/b': expected an interface name"),
        (f'interface = "{"x" * 16}"\n', r"expected an interface name \(1 to 15 bytes"),
        ('address_files = ["a\\u0000b"]\n', r"cannot read address file .*a\\x00b: a file name cannot hold a NUL"),
        ('address_files = [""]\n', r"cannot read address file .*: Is a directory"),
        ('engine = "' + "x" * 100 + '"\n', r"engine = 'x{40}'… \(100 characters\); choose one of"),
        ("a = " + "[" * 1000 + "]" * 1000 + "\n", r"lab.toml:1: arrays and tables nested more than 16 deep"),
        ("x = 1\n" + "a" + ".a" * 10000 + " = 1\n", r"lab.toml:2: more than 8 dotted parts in a key"),
        ('interface = "r0"\nengine = "auto\x00"\n', r"lab.toml: not valid TOML: Illegal character"),
    ],
)
def test_bad_values_and_shapes_name_the_place(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'interface = "r0"\n# caf\xe9\n', r"lab.toml:2: config is not UTF-8 text \(byte 22 is 0xe9\)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", r"lab.toml:1: config is not UTF-8 text \(byte 0 is 0x89\)"),
    ],
)
def test_a_config_that_is_not_text(tmp_path, data, message):
    (tmp_path / "lab.toml").write_bytes(data)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "lab.toml")


def test_a_file_too_big_to_be_a_config_is_not_read_whole(monkeypatch):
    """/dev/zero has no end: reading it whole would take all of memory."""
    monkeypatch.setattr(config, "MAX_CONFIG_BYTES", 1 << 20)
    with pytest.raises(ConfigError, match=r"config /dev/zero is larger than 1 MiB"):
        load_config(Path("/dev/zero"))
    monkeypatch.setattr(config, "MAX_ADDRESS_FILE_BYTES", 1 << 20)
    with pytest.raises(ConfigError, match=r"address file /dev/zero is larger than 1 MiB"):
        read_address_file(Path("/dev/zero"))


def test_address_files_that_are_not_text_name_the_line(tmp_path):
    (tmp_path / "more.txt").write_bytes(b"198.51.100.7\r\n198.51.100.8\r\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"more.txt:3: address file is not UTF-8 text \(byte 28 is 0xff\)"):
        read_address_file(tmp_path / "more.txt")
    (tmp_path / "more.txt").write_bytes(b"198.51.100.7\r\n198.51.100.8\r198.51.100.9\n")  # \r\n and \r end lines
    assert read_address_file(tmp_path / "more.txt").tokens == ["198.51.100.7", "198.51.100.8", "198.51.100.9"]


def test_a_long_list_loads_in_linear_time_and_still_names_the_line(tmp_path):
    """10,000 addresses as a TOML list took 16 s (each item's line was searched for at once); now the line is
    searched for only when one is bad."""
    n = 50_000
    items = [f"198.51.{i >> 8 & 255}.{i & 255}" for i in range(n)]
    items[n - 10] = "198.51.100.300"
    text = "addresses = [\n" + "".join(f'  "{item}",\n' for item in items) + "]\n"
    start = time.perf_counter()
    cfg = load_config(write(tmp_path, text))
    assert time.perf_counter() - start < 10  # about 0.5 s here; quadratic, it would take minutes
    with pytest.raises(ConfigError, match=rf"lab.toml:{n - 10 + 2} addresses\[{n - 10}\]: '198.51.100.300'"):
        build_set(cfg.tokens)


@pytest.mark.parametrize(
    "text",
    [
        "a" + ".a" * 10_000 + " = 1\n",  # took 427 MB for its 20 KB
        "".join(f"k{i}.a.b.c.d.e.f.g = 1\n" for i in range(36)),  # 252 tables: the most let through
        "".join(f"[t{i}]\n" for i in range(10_000)),  # a kilobyte of tomllib's for each 8 bytes
        "x = [" + "{}," * 100_000 + "]\n",  # the most tomllib spends for text let through: 75 bytes for 3
        "addresses = [\n" + "".join(f'  {{ ip = "198.51.100.{i % 250}" }},\n' for i in range(20_000)) + "]\n",
    ],
)
def test_memory_stays_a_small_multiple_of_the_file(tmp_path, text):
    """Issue 8, item 21: memory bounded by a small multiple of the config's size, whatever it holds."""
    path = write(tmp_path, text)
    tracemalloc.start()
    with contextlib.suppress(ConfigError):
        load_config(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 32 * len(text) + (1 << 20), (len(text), peak)  # 1 MiB: tomlguard.MAX_TABLES tables at most


# Whatever the bytes, reading a config or an address file ends in a Config (or a set) or in a ConfigError:
# never another exception. Text from TOML's own alphabet reaches past the lexer into the checks.
TOML_ISH = st.text(alphabet="[]{}\"'=.,#\n\\ \tabcdefinrtuxy0123456789-_+:\x00é", max_size=200)
KEYS_AND_VALUES = st.sampled_from([
    'interface = "r0"\n', 'engine = "scapy"\n', "dry_run = true\n", 'addresses = ["198.51.100.7"]\n',
    'addresses = [{ ip = "198.51.100.7", mac = "02:aa:bb:cc:dd:ee" }]\n', 'address_files = ["more.txt"]\n',
    "[announce]\n", "count = 3\n", "interval = 1.5\n", "rate = 10\n", "enabled = true\n", "announce.count = 2\n",
])  # fmt: skip


def config_or_config_error(path: Path) -> None:
    try:
        cfg = load_config(path)
        build_set(cfg.tokens)
    except ConfigError:
        pass


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=300), TOML_ISH.map(str.encode), st.lists(st.one_of(KEYS_AND_VALUES, TOML_ISH),
                                                                                max_size=8).map("".join).map(str.encode)))  # fmt: skip
def test_any_config_is_a_config_or_a_config_error(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "more.txt").write_text("198.51.100.8\n")
    (directory / "lab.toml").write_bytes(data)
    config_or_config_error(directory / "lab.toml")


ADDRESS_ISH = st.text(alphabet="0123456789./-!=:abcdef \t\n#\x00\r", max_size=200)


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=300), ADDRESS_ISH.map(str.encode)))
def test_any_address_file_is_a_set_or_a_config_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "more.txt"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        build_set([read_address_file(path)])
