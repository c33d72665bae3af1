"""The `arpresponder` command: run, announce, check, lab, demo."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from . import limits, options
from .announce import AnnounceSettings
from .codec import format_mac
from .engines import ENGINES
from .errors import ConfigError, UserError, printable
from .observe.logs import LogFormat, flush_logging, setup_logging
from .owners import Claim, Policy
from .settings import PCAP_MAX, CommandLine, ViewSettings

log = logging.getLogger("arpresponder")

app = typer.Typer(
    help=(
        "Answer ARP requests for a set of IPv4 addresses with this host's MAC, "
        "as the kernel does for addresses assigned to an interface, without assigning them.\n\n"
        "Warning: on a real LAN, answering for an address another host owns takes its traffic. "
        "Use documentation or lab addresses, or addresses you own."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
lab_app = typer.Typer(help="Build or remove a throwaway two-namespace veth lab (needs root).", no_args_is_help=True)
app.add_typer(lab_app, name="lab")


EngineName = StrEnum("EngineName", [(name, name) for name in ENGINES])  # --engine's values (options.one_of)


# Options shared by the commands that take an address set. Every option that takes a number, a path or an
# interface name has a `parser=` from options.py: it checks the value as typer reads it, and a bad one ends
# in one error line naming the option (options.error_line, main()).
InterfaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--interface",
        "-i",
        metavar="IFACE",
        parser=options.interface,
        help="Ethernet interface to answer on; repeat for several (the same set on each). With [[interfaces]] in "
        "the config: which of them.",
    ),
]
IpOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ip",
        metavar="ADDR",
        help="Addresses to answer for: 198.51.100.7, 198.51.100.0/26, 198.51.100.10-198.51.100.20, "
        "!198.51.100.5 to exclude, 198.51.100.9=02:aa:bb:cc:dd:ee to answer with another MAC. Repeat as needed.",
    ),
]
IpFileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--ip-file", metavar="FILE", parser=options.path, help="File of address tokens, one per line ('#' comments)."
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="FILE", parser=options.path, help="TOML config file (see README)."),
]
EngineOpt = Annotated[
    EngineName | None,
    typer.Option(
        "--engine",
        "-e",
        metavar="ENGINE",
        parser=options.one_of(EngineName),
        help="packet (Linux AF_PACKET), scapy (portable), or auto: packet on Linux.",
    ),
]
InstanceOpt = Annotated[
    str | None,
    typer.Option(
        "--interface", "-i", metavar="IFACE", parser=options.interface, help="Ask the instance answering on IFACE."
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log every decision (DEBUG).")]

# How `run --announce` and `announce` pace gratuitous ARP; the defaults shown are AnnounceSettings'.
_PACE = AnnounceSettings()
RoundsOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        parser=options.within(limits.ANNOUNCE_COUNT),
        help=f"Announcement rounds (RFC 5227 announces twice), {limits.ANNOUNCE_COUNT.bounds()}. "
        f"[default: {_PACE.count}]",
    ),
]
RoundGapOpt = Annotated[
    float | None,
    typer.Option(
        metavar="SECONDS",
        parser=options.within(limits.ANNOUNCE_INTERVAL),
        help=f"Seconds between rounds, {limits.ANNOUNCE_INTERVAL.bounds()}. [default: {_PACE.interval:g}]",
    ),
]
FrameRateOpt = Annotated[
    float | None,
    typer.Option(
        metavar="FPS",
        parser=options.within(limits.ANNOUNCE_RATE),
        help=f"At most this many frames/s, {limits.ANNOUNCE_RATE.bounds()}. [default: {_PACE.rate:g}]",
    ),
]
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        metavar="FORMAT",
        parser=options.one_of(LogFormat),
        help="text for people, json for machines (one object a line).",
    ),
]
ControlSocketOpt = Annotated[
    Path | None,
    typer.Option(
        "--control-socket", metavar="PATH", parser=options.path,
        help="Control socket for `arpresponder stats`. [default: /run/arpresponder/IFACE.sock; "
        "/run/arpresponder/NETNS/IFACE.sock inside `ip netns exec NETNS`]",
    ),
]  # fmt: skip


def _command_line(**given) -> CommandLine:
    """What a command was given, as the settings take it (settings.py decides what wins over what)."""
    engine = given.pop("engine", None)
    return CommandLine(
        interfaces=tuple(given.pop("interface", None) or ()),
        ip=tuple(given.pop("ip", None) or ()),
        ip_files=tuple(given.pop("ip_file", None) or ()),
        engine=engine.value if engine else None,
        **given,
    )


@app.command()
def run(
    interface: InterfaceOpt = None,
    ip: IpOpt = None,
    ip_file: IpFileOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = None,
    announce: Annotated[
        bool | None,
        typer.Option(
            "--announce/--no-announce",
            help="Send gratuitous ARP for the set at start, when a link comes up or changes MAC, and for what a "
            "reload adds.",
        ),
    ] = None,
    announce_count: RoundsOpt = None,
    announce_interval: RoundGapOpt = None,
    announce_rate: FrameRateOpt = None,
    announce_every: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            parser=options.within(limits.ANNOUNCE_EVERY),
            help=f"And announce the whole set again every SECONDS, {limits.ANNOUNCE_EVERY.bounds()} "
            "(keepalived's garp_master_refresh). [default: never]",
        ),
    ] = None,
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run/--no-dry-run", help="Decide and count, send nothing.")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            parser=options.within(limits.DURATION),
            help=f"Stop after this many seconds, {limits.DURATION.bounds()} (a year).",
        ),
    ] = None,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
    live: Annotated[
        bool, typer.Option("--live", help="Full-screen live panel: counters, rates, drops, top IPs, events.")
    ] = False,
    stats_interval: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            parser=options.within(limits.STATS_INTERVAL),
            help=f"Log a stats line every SECONDS, {limits.STATS_INTERVAL.bounds()}. [default: never]",
        ),
    ] = None,
    stats_json: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH", parser=options.path, help="Write a JSON snapshot to PATH every second and at exit."
        ),
    ] = None,
    control_socket: ControlSocketOpt = None,
    metrics: Annotated[
        str | None, typer.Option(metavar="HOST:PORT", help="Serve Prometheus metrics at http://HOST:PORT/metrics.")
    ] = None,
    pcap: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", parser=options.path, help="Write the requests handled and the replies to a pcap file."
        ),
    ] = None,
    pcap_max: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            parser=options.within(limits.PCAP_MAX),
            help=f"Stop capturing after N frames, {limits.PCAP_MAX.bounds()}. [default: {PCAP_MAX}]",
        ),
    ] = None,
    share_interface: Annotated[
        bool,
        typer.Option(
            "--share-interface",
            help="Run even if another arpresponder answers on this interface (both will answer every request).",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            parser=options.within(limits.WORKERS),
            help=f"Processes answering, sharing each interface (PACKET_FANOUT; packet engine), {limits.WORKERS.bounds()}."
            " [default: 1]",
        ),
    ] = None,
    worker: Annotated[str | None, typer.Option(hidden=True, parser=options.worker)] = None,
    user: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            parser=options.user,
            help="Once the sockets are open, run as this user with CAP_NET_RAW only (needs root to start).",
        ),
    ] = None,
    on_conflict: Annotated[
        Policy | None,
        typer.Option(
            metavar="POLICY",
            parser=options.one_of(Policy),
            help="When another host uses an address of the set: warn (keep answering), yield (stop while it is "
            "seen), defend (RFC 5227: announce once, yield if it insists). [default: warn]",
        ),
    ] = None,
    claim: Annotated[
        Claim | None,
        typer.Option(
            metavar="WHICH",
            parser=options.one_of(Claim),
            help="all: answer for every address of the set; unowned: only those nobody answers probes for "
            "(darknets, honeypots). [default: all]",
        ),
    ] = None,
    claim_wait: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            parser=options.within(limits.CLAIM_WAIT),
            help=f"With --claim unowned: how long probes may go unanswered before claiming, "
            f"{limits.CLAIM_WAIT.bounds()}. [default: 1]",
        ),
    ] = None,
    standby: Annotated[
        bool,
        typer.Option(
            "--standby",
            help="Start standing by (keepalived's backup): sets loaded, sockets open, nothing answered until "
            "`arpresponder activate`.",
        ),
    ] = False,
    keepalived_fifo: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            parser=options.path,
            help="Follow keepalived's vrrp_notify_fifo: answer while it says MASTER, stand by otherwise (and if it "
            "goes away). Starts standing by.",
        ),
    ] = None,
    keepalived_instance: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="With --keepalived-fifo: follow this VRRP instance only. [default: any]"),
    ] = None,
) -> None:
    """Answer ARP requests for the address set until Ctrl-C or SIGTERM, then print a summary.

    While it runs, `arpresponder stats` (another shell, as root) reads its
    counters through the control socket.

    Examples:

        arpresponder run -i r0 --ip 198.51.100.128/26 --ip 198.51.100.7 --ip '!198.51.100.130'

        arpresponder run --config lab.toml --announce -v

        arpresponder run -i r0 --ip 198.51.100.0/24 --live --metrics 127.0.0.1:9417 --stats-json /run/arpr.json
    """
    from . import service

    if pcap_max is not None and pcap is None:
        raise ConfigError("--pcap-max limits --pcap: give --pcap FILE too")
    if keepalived_instance is not None and keepalived_fifo is None:
        raise ConfigError("--keepalived-instance picks an instance in --keepalived-fifo: give --keepalived-fifo too")
    views = ViewSettings(
        verbose=verbose,
        log_format=log_format,
        live=live,
        stats_interval=stats_interval,
        stats_json=stats_json,
        control_socket=control_socket,
        metrics=metrics,
        pcap=pcap,
        pcap_max=PCAP_MAX if pcap_max is None else pcap_max,
    )
    service.run(
        _command_line(
            config=config,
            interface=interface,
            ip=ip,
            ip_file=ip_file,
            engine=engine,
            dry_run=dry_run,
            announce=announce,
            announce_count=announce_count,
            announce_interval=announce_interval,
            announce_rate=announce_rate,
            announce_every=announce_every,
            user=user,
            share_interface=share_interface,
            standby=standby,
            keepalived_fifo=keepalived_fifo,
            keepalived_instance=keepalived_instance,
            on_conflict=on_conflict.value if on_conflict else None,
            claim=claim.value if claim else None,
            claim_wait=claim_wait,
            duration=duration,
            workers=workers or 1,
            worker=worker,
            views=views,
        )
    )


@app.command("announce")
def announce_command(
    interface: InterfaceOpt = None,
    ip: IpOpt = None,
    ip_file: IpFileOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = None,
    count: RoundsOpt = None,
    interval: RoundGapOpt = None,
    rate: FrameRateOpt = None,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Send gratuitous ARP for every address in the set, so neighbours replace stale cache entries.

    Each address gets both forms, a request and a reply, broadcast (as arping -U and -A send them).

    Example:

        arpresponder announce -i r0 --ip 198.51.100.128/26 --count 3 --interval 1
    """
    from .announce import announce
    from .engines import open_engine
    from .iface import interface_facts
    from .settings import load

    setup_logging(verbose, log_format)
    given = _command_line(config=config, interface=interface, ip=ip, ip_file=ip_file, engine=engine,
                          announce_count=count, announce_interval=interval, announce_rate=rate)  # fmt: skip
    settings = load(given)
    for warning in settings.warnings:
        log.warning("%s", warning)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    for interface_settings in settings.interfaces:
        if interface_settings.vlan:
            raise ConfigError(
                f"{interface_settings.label}: announce sends untagged frames only; run --announce does VLANs"
            )
        facts = interface_facts(interface_settings.name)
        eng = open_engine(interface_settings.engine, facts.name, receive=False)
        try:
            sent = announce(eng.send, interface_settings.addresses, facts.mac, interface_settings.announce, stop)
        except OSError as e:
            raise UserError(f"sending on {facts.name} failed: {e.strerror or e}") from None
        finally:
            eng.close()
        n = len(interface_settings.addresses)
        typer.echo(f"sent {sent} gratuitous ARP frames for {n} address{'es' if n != 1 else ''} on {facts.name}")


@app.command()
def check(
    config_file: Annotated[
        Path | None, typer.Argument(metavar="[CONFIG]", parser=options.path, help="TOML config file to check.")
    ] = None,
    ip: IpOpt = None,
    ip_file: IpFileOpt = None,
    show_all: Annotated[bool, typer.Option("--all", help="List every entry, not only the first 50.")] = False,
) -> None:
    """Validate a config (and any --ip/--ip-file) and print the address set it resolves to. Needs no privilege.

    Example:

        arpresponder check lab.toml
    """
    from .iface import InterfaceError, interface_facts
    from .settings import load

    setup_logging(False)
    settings = load(_command_line(config=config_file, ip=ip, ip_file=ip_file), need_interface=False)
    for warning in settings.warnings:
        log.warning("%s", warning)
    typer.echo(f"{printable(str(config_file)) if config_file else 'command line'}: valid")
    if settings.user:
        import pwd

        try:
            pwd.getpwnam(settings.user)
            typer.echo(f"user: {settings.user} (after the sockets are open)")
        except KeyError:  # a note, as for an interface not here: the config may be meant for another host
            typer.echo(
                f"user: {settings.user} (not here now: run would refuse to start; useradd --system {settings.user})"
            )
    shown_sets: set[int] = set()
    for s in settings.interfaces:
        if not s.name:
            typer.echo("interface: not set (give --interface to run)")
        else:
            try:
                here = f"{format_mac(interface_facts(s.name).mac)} here"
            except InterfaceError as e:
                here = f"not here now: {e}"
            typer.echo(f"interface: {s.label} ({here})")
        a = s.announce
        every = f", and every {a.every:g} s" if a.every else ""
        typer.echo(f"  engine: {s.engine}{', dry run' if s.dry_run else ''}")
        claim = f"unowned (probed {s.claim_probes}× within {s.claim_wait:g} s)" if s.claim == "unowned" else s.claim
        typer.echo(f"  on_conflict: {s.on_conflict} (a sighting counts {s.conflict_age:g} s, {s.conflict_table} "
                   f"addresses kept); claim: {claim}")  # fmt: skip
        typer.echo(
            f"  announce: {'yes' if a.enabled else 'no'} ({a.count} round{'s' if a.count != 1 else ''}, "
            f"{a.interval:g} s apart, at most {a.rate:g} frames/s{every})"
        )
        if id(s.addresses) in shown_sets:
            typer.echo("  answers for the same set as above")
            continue
        shown_sets.add(id(s.addresses))
        lines = s.addresses.describe()
        total = len(s.addresses)
        typer.echo(
            f"  answers for {total} address{'es' if total != 1 else ''} in {len(lines)} "
            f"entr{'ies' if len(lines) != 1 else 'y'}:"
        )
        listed = lines if show_all else lines[:50]
        for line in listed:
            typer.echo(f"    {line}")
        if len(listed) < len(lines):
            typer.echo(f"    ... and {len(lines) - len(listed)} more (--all lists them)")


@app.command("stats")
def stats_command(
    interface: InstanceOpt = None,
    control_socket: ControlSocketOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the snapshot as JSON (with --watch: one line each time).")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep printing (the live panel, or JSON lines) until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            parser=options.within(limits.STATS_INTERVAL),
            help=f"Seconds between updates with --watch, {limits.STATS_INTERVAL.bounds()}. [default: 1]",
        ),
    ] = None,
) -> None:
    """Print the counters of a running `arpresponder run`, read through its control socket (as root).

    Without --interface or --control-socket it asks the only instance
    running in this network namespace. Exits 1 if none answers: usable as a
    health check.

    Examples:

        arpresponder stats

        ip netns exec arpr-lab-r arpresponder stats -i r0 --json

        arpresponder stats --watch
    """
    from .observe import control

    if interval is not None and not watch:
        raise ConfigError("--interval sets the pace of --watch: give --watch too")
    interval = 1.0 if interval is None else interval
    path = _instance(interface, control_socket, "stats")
    if not watch:
        _print_snapshot(control.query(path), as_json)
        return
    try:
        if as_json:
            while True:
                _print_snapshot(control.query(path), as_json=True)
                time.sleep(interval)
        else:
            _watch_panel(path, interval)
    except KeyboardInterrupt:
        pass


def _instance(interface: str | None, control_socket: Path | None, command: str) -> Path:
    """The control socket of the running instance a command is for (stats, reload, activate, standby)."""
    from .observe import control

    if interface and control_socket:
        raise ConfigError("give --interface or --control-socket, not both: the socket names the instance")
    return control_socket or control.find_socket(interface, command)


@app.command()
def reload(interface: InstanceOpt = None, control_socket: ControlSocketOpt = None) -> None:
    """Make a running `arpresponder run` read its config and address files again, and answer for the new sets.

    The new sets replace the old ones between two batches; addresses added
    are announced if announcing is on. If the new config has an error,
    nothing changes (the old sets keep answering), and this prints the error
    and exits 1. `kill -HUP PID` does the same, with the error in the
    instance's log only.

    Example:

        arpresponder reload -i r0
    """
    from .observe import control

    path = _instance(interface, control_socket, "reload")
    answer = control.query(path, "reload", timeout=control.SLOW_TIMEOUT + 5, errors=False)
    if "error" in answer:
        raise UserError(f"reload failed, nothing changed (the sets loaded before keep answering): {answer['error']}")
    for label, link in answer.get("reloaded", {}).items():
        n = link["addresses"]
        what = "answering for" if link["state"] == "answering" else f"{link['state']}; to answer for"
        typer.echo(f"{label}: {what} {n} address{'es' if n != 1 else ''}")


@app.command()
def activate(interface: InstanceOpt = None, control_socket: ControlSocketOpt = None) -> None:
    """Make a running instance answer (it was standing by): keepalived's notify_master calls this.

    It answers from the next batch on and announces every set at once,
    paced, so that neighbours move their caches to this host. Exits 1 with
    one error line if no instance answers.

    Example:

        arpresponder activate -i r0
    """
    _set_state(interface, control_socket, "activate")


@app.command()
def standby(interface: InstanceOpt = None, control_socket: ControlSocketOpt = None) -> None:
    """Make a running instance stand by: it keeps its sets and sockets and counts requests, but answers none.

    keepalived's notify_backup and notify_fault call this (see
    examples/keepalived/). `run --standby` starts that way.

    Example:

        arpresponder standby -i r0
    """
    _set_state(interface, control_socket, "standby")


def _set_state(interface: str | None, control_socket: Path | None, command: str) -> None:
    from .observe import control

    answer = control.query(_instance(interface, control_socket, command), command)
    typer.echo(f"{answer['state']}{'' if answer['changed'] else ' (it was already)'}")


def _print_snapshot(snap: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(snap))
        sys.stdout.flush()
    else:
        from rich.console import Console

        from .observe.live import render

        Console().print(render(snap))


def _watch_panel(path: Path, interval: float) -> None:
    from .observe import control
    from .observe.live import full_screen, render

    snap = control.query(path)  # an error before the screen is taken over
    with full_screen() as live:
        while True:
            live.update(render(snap), refresh=True)
            time.sleep(interval)
            snap = control.query(path)


@lab_app.command("up")
def lab_up(
    name: Annotated[
        str, typer.Option(metavar="NAME", parser=options.lab_name, help="Lab name: prefix of both namespaces.")
    ] = "arpr-lab",
) -> None:
    """Create two namespaces joined by a veth pair, with documentation addresses, and print how to use them."""
    from .lab import netns as lab

    the_lab = lab.Lab(name).up()
    r, p = the_lab.responder_ns, the_lab.peer_ns
    default = " ".join(f"--ip '{t}'" if t.startswith("!") else f"--ip {t}" for t in lab.DEFAULT_SET)
    typer.echo(
        f"lab {name!r} is up:\n"
        f"  {r}: {lab.RESPONDER_IF} {lab.RESPONDER_MAC} {lab.RESPONDER_IP}/{lab.LAB_PREFIXLEN}  (run arpresponder here)\n"
        f"  {p}: {lab.PEER_IF} {lab.PEER_MAC} {lab.PEER_IP}/{lab.LAB_PREFIXLEN}, {lab.SERVED_NET} on-link  (ask from here)\n"
        f"try:\n"
        f"  ip netns exec {r} arpresponder run -i {lab.RESPONDER_IF} {default}\n"
        f"  ip netns exec {p} arping -c 3 -I {lab.PEER_IF} 198.51.100.150\n"
        f"  ip netns exec {p} arp-scan -I {lab.PEER_IF} {lab.SERVED_NET}\n"
        f"  ip netns exec {p} ping -c 1 198.51.100.7; ip -n {p} neigh   # nothing answers the ping: the ARP before it counts\n"
        f"  ip netns exec {r} arpresponder stats   # from another shell, while it runs\n"
        f"remove it with: arpresponder lab down{'' if name == lab.DEFAULT_NAME else f' --name {name}'}"
    )


@lab_app.command("down")
def lab_down(
    name: Annotated[
        str, typer.Option(metavar="NAME", parser=options.lab_name, help="Lab name given to `lab up`.")
    ] = "arpr-lab",
) -> None:
    """Remove the lab's namespaces (and with them the veth pair and anything running there)."""
    from .lab import netns as lab

    the_lab = lab.Lab(name)
    if os.geteuid() != 0:
        raise UserError("removing the lab needs root")
    if not the_lab.exists():
        typer.echo(f"no lab named {name!r} is up")
        return
    the_lab.down()
    typer.echo(f"lab {name!r} removed")


@app.command()
def demo(engine: EngineOpt = None) -> None:
    """Build a throwaway lab, answer for a default set there, resolve addresses from the peer, show it, clean up.

    The peer's kernel (ping, then `ip neigh`) and iputils arping ask for
    addresses in and out of the set; the demo prints what each saw and exits
    non-zero if anything differs from what the set says. Needs root.
    """
    from .lab.demo import run_demo

    setup_logging(False)
    if not run_demo((engine or EngineName.auto).value, typer.echo):
        raise typer.Exit(1)


def main() -> None:
    """The console script. Every user error, ours (UserError) or the command line's (typer's usage errors),
    ends in one line, `arpresponder: error: …`, non-printable characters escaped, and its exit code: 2 for bad
    input, 1 for an unusable environment. Bare `arpresponder` (or `lab`) prints the help, exit 2."""
    try:
        # standalone_mode=False: typer raises its errors instead of printing its three-line usage text; it
        # returns the code of a typer.Exit (--help, the demo's failure, Ctrl-C as 130), None when a command ends.
        code = app(standalone_mode=False)
    except UserError as e:
        _fail(printable(str(e)), e.exit_code)
    except options.ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # no command given: the help is the answer, as before
            e.show()
            sys.exit(e.exit_code)
        _fail(options.error_line(e), e.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    sys.exit(code or 0)


def _fail(message: str, code: int) -> None:
    flush_logging()  # the warnings logged before it come first
    typer.echo(f"arpresponder: error: {message}", err=True)
    sys.exit(code)
