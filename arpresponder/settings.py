"""What `run` is to do, from the config file and the command line: one Settings object and one precedence rule.

`load(command_line)` reads the config file (if any) and every address file,
builds each interface's address set, and applies the command line over the
config over the defaults, in one place (`_resolve`):

- `-i NAME` (repeatable): with `[[interfaces]]` tables in the config, picks
  those tables; otherwise the names replace `interface = ...`, all sharing
  the top-level set;
- `--ip` and `--ip-file` add to every interface's set;
- `--engine`, `--dry-run`, `--announce`/`--announce-*`, `--user` replace the
  config's value, for every interface;
- the views, `--duration` and `--share-interface` exist on the command
  line only.

A reload (SIGHUP, `arpresponder reload`) calls `load` again with the same
command line: the files are read again, the rule applied again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .addrset import AddressSet
from .announce import AnnounceSettings
from .config import Config, InterfaceEntry, Tokens, announce_over, build_set, load_config, read_address_file
from .errors import ConfigError
from .observe.logs import LogFormat
from .owners import Claim, Policy

PCAP_MAX = 10_000  # frames --pcap writes unless --pcap-max says otherwise


@dataclass(frozen=True)
class ViewSettings:
    """How `run` shows what it does (command line only; see observe/)."""

    verbose: bool = False
    log_format: LogFormat = LogFormat.text
    live: bool = False
    stats_interval: float | None = None
    stats_json: Path | None = None
    control_socket: Path | None = None
    metrics: str | None = None
    pcap: Path | None = None
    pcap_max: int = PCAP_MAX


@dataclass(frozen=True)
class CommandLine:
    """What `run` was given. None: not given (the config's value, or the default, applies)."""

    config: Path | None = None
    interfaces: tuple[str, ...] = ()
    ip: tuple[str, ...] = ()
    ip_files: tuple[Path, ...] = ()
    engine: str | None = None
    dry_run: bool | None = None
    announce: bool | None = None
    announce_count: int | None = None
    announce_interval: float | None = None
    announce_rate: float | None = None
    announce_every: float | None = None
    user: str | None = None
    share_interface: bool = False
    standby: bool = False  # start standing by (keepalived's backup): `arpresponder activate` answers
    keepalived_fifo: Path | None = (
        None  # follow keepalived's vrrp_notify_fifo (keepalived.py); implies standby at start
    )
    keepalived_instance: str | None = None  # only this VRRP instance's lines
    on_conflict: str | None = None
    claim: str | None = None
    claim_wait: float | None = None
    duration: float | None = None
    workers: int = 1  # processes answering, sharing each interface through PACKET_FANOUT (workers.py)
    worker: tuple[int, int, int] | None = None  # in a worker process: (fanout seed, its number, its counts' pipe)
    views: ViewSettings = field(default_factory=ViewSettings)


@dataclass(frozen=True)
class InterfaceSettings:
    """One interface to answer on: what for, and how."""

    name: str
    addresses: AddressSet
    vlan: int = 0  # answer frames tagged with this VLAN ID on the parent `name`; 0: untagged frames
    engine: str = "auto"
    dry_run: bool = False
    announce: AnnounceSettings = field(default_factory=AnnounceSettings)
    on_conflict: Policy = Policy.WARN  # when another host uses an address of the set (owners.py)
    conflict_age: float = 300.0  # seconds a sighting of another host counts
    conflict_table: int = 4096  # addresses the owner table holds at most
    claim: Claim = Claim.ALL  # all, or only addresses nobody uses (probed first)
    claim_wait: float = 1.0  # seconds the probes have to be answered before claiming
    claim_probes: int = 2

    @property
    def label(self) -> str:
        """How logs and views name it: `r0`, or `r0 vlan 100` for a VLAN answered on its parent."""
        return f"{self.name} vlan {self.vlan}" if self.vlan else self.name


@dataclass(frozen=True)
class Settings:
    """Everything `run` works from: one InterfaceSettings per link answered (an interface, or a VLAN of it), the
    user to become, and the command line they were loaded from (load() applies the precedence rule)."""

    interfaces: tuple[InterfaceSettings, ...]
    command_line: CommandLine  # to load them again, the same way, on reload
    user: str | None = None
    user_where: str = "--user"  # where the user came from, for errors: --user, or the config file
    warnings: tuple[str, ...] = ()  # what the sets say had no effect (excluded entirely, …): logged by the caller

    @property
    def views(self) -> ViewSettings:
        return self.command_line.views


def load(cli: CommandLine, need_interface: bool = True) -> Settings:
    """Read the config and address files and apply the command line; ConfigError (one line) for any problem.

    Interfaces that share a set share one AddressSet object: a million
    addresses on two links are held once. need_interface=False (`check`):
    with no interface given, one InterfaceSettings named "" holds the set.
    """
    config = load_config(cli.config) if cli.config else Config()
    extra = []
    if cli.ip:
        extra.append(Tokens(list(cli.ip), lambda index: "--ip"))
    extra += [read_address_file(path) for path in cli.ip_files]
    return _resolve(config, cli, extra, need_interface)


def _resolve(config: Config, cli: CommandLine, extra: list[Tokens], need_interface: bool = True) -> Settings:
    """The precedence rule (see the module docstring)."""
    entries = _chosen_entries(config, cli, need_interface)
    given = (
        ("enabled", cli.announce),
        ("count", cli.announce_count),
        ("interval", cli.announce_interval),
        ("rate", cli.announce_rate),
        ("every", cli.announce_every),
    )
    cli_announce = {key: value for key, value in given if value is not None}
    sets: dict[int, AddressSet] = {}  # id(list of sources) → its set: entries sharing sources share the set
    warnings: list[str] = []
    interfaces = []
    for entry in entries:
        sources = entry.tokens if entry.tokens is not None else config.tokens
        if id(sources) not in sets:
            sets[id(sources)] = _address_set(sources + extra, entry)
            warnings += sets[id(sources)].warnings
        interfaces.append(
            InterfaceSettings(
                name=entry.name,
                addresses=sets[id(sources)],
                vlan=entry.vlan,
                engine=cli.engine or entry.engine or config.engine,
                dry_run=_first(cli.dry_run, entry.dry_run, config.dry_run),
                announce=announce_over(announce_over(config.announce, entry.announce), cli_announce),
                **_owner_settings(config.owners, entry.owners, cli, entry.name or "the interface"),
            )
        )
    _check_unique(interfaces, entries)
    user_where = "--user" if cli.user else f"user = ... in {config.path}"
    return Settings(tuple(interfaces), cli, user=cli.user or config.user, user_where=user_where,
                    warnings=tuple(warnings))  # fmt: skip


def _chosen_entries(config: Config, cli: CommandLine, need_interface: bool = True) -> list[InterfaceEntry]:
    """The interfaces to answer on: the config's, chosen or replaced by -i."""
    _given_once(cli.interfaces)
    if not cli.interfaces:
        if config.interfaces:
            return config.interfaces
        if need_interface:
            raise ConfigError('no interface: give --interface, or interface = "..." in the config file')
        return [InterfaceEntry("", "(no interface)")]
    named_tables = [entry for entry in config.interfaces if entry.table]
    if named_tables:
        known = {entry.name for entry in named_tables}
        unknown = [name for name in cli.interfaces if name not in known]
        if unknown:
            raise ConfigError(
                f"--interface {unknown[0]}: not among the config's [[interfaces]] ({', '.join(sorted(known))}); "
                "with [[interfaces]] tables, --interface picks some of them"
            )
        return [entry for entry in named_tables if entry.name in cli.interfaces]
    return [InterfaceEntry(name, "--interface") for name in cli.interfaces]


def _given_once(names: tuple[str, ...]) -> None:
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"--interface {twice[0]} is given twice: give each interface once")


def _address_set(sources: list[Tokens], entry: InterfaceEntry) -> AddressSet:
    on = f" on {entry.name}" if entry.name else ""
    if not any(source.tokens for source in sources):
        raise ConfigError(f"no addresses to answer for{on}: give --ip, --ip-file, or addresses in the config file")
    addresses = build_set(sources)
    if not addresses:
        raise ConfigError(f"the address set is empty{on}: every address given is excluded")
    return addresses


def _check_unique(interfaces: list[InterfaceSettings], entries: list[InterfaceEntry]) -> None:
    seen = set()
    for settings, entry in zip(interfaces, entries):
        key = (settings.name, settings.vlan)
        if key in seen:
            raise ConfigError(f"{entry.where}: {settings.label} is named twice: give each interface (and VLAN) once")
        seen.add(key)


def _owner_settings(top: dict, table: dict, cli: CommandLine, label: str) -> dict:
    """on_conflict and claim settings: the command line over the table over the top level over the defaults.
    ConfigError for a claim wait or probe count given to an interface that claims every address (they would do
    nothing: nothing configured is ignored in silence)."""
    given = {"on_conflict": cli.on_conflict, "claim": cli.claim, "claim_wait": cli.claim_wait}
    out = {**top, **table, **{key: value for key, value in given.items() if value is not None}}
    if "on_conflict" in out:
        out["on_conflict"] = Policy(out["on_conflict"])
    if "claim" in out:
        out["claim"] = Claim(out["claim"])
    if out.get("claim", Claim.ALL) is not Claim.UNOWNED:
        if cli.claim_wait is not None:
            raise ConfigError(f"--claim-wait is for --claim unowned, and {label} answers for every address")
        unused = [key for key in ("claim_wait", "claim_probes") if key in out]
        if unused:
            raise ConfigError(
                f'{" and ".join(unused)} {"are" if len(unused) > 1 else "is"} for claim = "unowned", and {label} '
                'answers for every address (claim = "all")'
            )
    return out


def _first(*values):
    """The first value that is not None."""
    return next(value for value in values if value is not None)
