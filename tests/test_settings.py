"""The one precedence rule: the command line over the config over the defaults, for one interface or several."""

from pathlib import Path

import pytest

from arpresponder.codec import parse_ipv4
from arpresponder.errors import ConfigError
from arpresponder.settings import CommandLine, load

MULTI = """\
engine = "packet"
addresses = ["198.51.100.0/28"]

[announce]
enabled = true
count = 3

[[interfaces]]
name = "r0"

[[interfaces]]
name = "r0"
vlan = 100
addresses = ["203.0.113.0/29"]
announce = { every = 30, count = 1 }

[[interfaces]]
name = "r1"
engine = "scapy"
dry_run = true
"""


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def by_label(settings):
    return {s.label: s for s in settings.interfaces}


def test_one_set_on_several_links_is_held_once():
    settings = load(CommandLine(interfaces=("r0", "r1"), ip=("198.51.100.0/24",)))
    r0, r1 = settings.interfaces
    assert (r0.name, r1.name) == ("r0", "r1")
    assert r0.addresses is r1.addresses and len(r0.addresses) == 256


def test_interfaces_tables_take_what_they_leave_out_from_the_top(tmp_path):
    links = by_label(load(CommandLine(config=config(tmp_path, MULTI))))
    assert list(links) == ["r0", "r0 vlan 100", "r1"]
    assert links["r0"].addresses is links["r1"].addresses and len(links["r0"].addresses) == 16
    assert len(links["r0 vlan 100"].addresses) == 8 and links["r0 vlan 100"].vlan == 100
    assert [links[k].engine for k in links] == ["packet", "packet", "scapy"]
    assert [links[k].dry_run for k in links] == [False, False, True]
    assert [(links[k].announce.enabled, links[k].announce.count, links[k].announce.every) for k in links] == [
        (True, 3, None),
        (True, 1, 30.0),
        (True, 3, None),
    ]


def test_the_command_line_wins_for_every_interface(tmp_path):
    cli = CommandLine(config=config(tmp_path, MULTI), ip=("198.51.100.200",), engine="scapy", dry_run=False,
                      announce=False, announce_every=60.0)  # fmt: skip
    links = by_label(load(cli))
    for link in links.values():
        assert parse_ipv4("198.51.100.200") in link.addresses  # --ip adds to every set
        assert (link.engine, link.dry_run, link.announce.enabled, link.announce.every) == ("scapy", False, False, 60.0)
    assert links["r0 vlan 100"].announce.count == 1  # what the command line did not give stays the config's


def test_dash_i_picks_among_the_tables_and_refuses_one_that_is_not_there(tmp_path):
    path = config(tmp_path, MULTI)
    assert [s.label for s in load(CommandLine(config=path, interfaces=("r0",))).interfaces] == ["r0", "r0 vlan 100"]
    with pytest.raises(ConfigError, match=r"--interface r9: not among the config's \[\[interfaces\]\] \(r0, r1\)"):
        load(CommandLine(config=path, interfaces=("r9",)))


def test_dash_i_replaces_the_single_forms_interface(tmp_path):
    path = config(tmp_path, 'interface = ["r0", "r1"]\naddresses = ["198.51.100.7"]\n')
    assert [s.name for s in load(CommandLine(config=path)).interfaces] == ["r0", "r1"]
    assert [s.name for s in load(CommandLine(config=path, interfaces=("r5",))).interfaces] == ["r5"]


def test_user_from_the_config_unless_the_command_line_says(tmp_path):
    path = config(tmp_path, 'user = "arpr"\ninterface = "r0"\naddresses = ["198.51.100.7"]\n')
    assert load(CommandLine(config=path)).user == "arpr"
    assert load(CommandLine(config=path, user="nobody")).user == "nobody"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'addresses = ["198.51.100.7"]\n[[interfaces]]\nname = "r0"\n[[interfaces]]\nname = "r0"\n',
            r"r0 is named twice: give each interface \(and VLAN\) once",
        ),
        (
            'interface = "r0"\naddresses = ["198.51.100.7"]\n[[interfaces]]\nname = "r1"\n',
            r"lab.toml:3: give interface = \.\.\. or \[\[interfaces\]\] tables, not both",
        ),
        ('[[interfaces]]\nvlan = 5\naddresses = ["198.51.100.7"]\n', r"interfaces\[0\] has no name"),
        (
            '[[interfaces]]\nname = "r0"\nvlan = 4095\naddresses = ["198.51.100.7"]\n',
            r"lab.toml:3: interfaces\[0\]\.vlan = 4095: expected a whole number of VLAN IDs from 1 to 4094",
        ),
        ('[[interfaces]]\nname = "r0"\n', r"no addresses to answer for on r0"),
        ('[[interfaces]]\nname = "r0"\nspeed = 1\n', r"lab.toml:3: unknown key 'interfaces\[0\]\.speed'"),
        ('user = "no body"\ninterface = "r0"\n', r"lab.toml:1: user = 'no body': expected a user name"),
        ('interface = "r0"\naddresses = ["198.51.100.7"]\n[announce]\nevery = 0.5\n', r"announce.every = 0.5"),
    ],
)
def test_bad_settings_are_one_error_naming_the_place(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load(CommandLine(config=config(tmp_path, text)))


def test_no_interface_at_all():
    with pytest.raises(ConfigError, match=r"no interface: give --interface"):
        load(CommandLine(ip=("198.51.100.7",)))
