"""The `arpresponder` command: run, announce, check, lab, demo."""

from __future__ import annotations

import contextlib
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
from .addrset import AddressSet
from .announce import AnnounceSettings, announce
from .codec import format_mac
from .config import Config, Tokens, load_config, read_address_file
from .engines import ENGINES
from .errors import ConfigError, UserError, printable
from .observe.logs import LogFormat, flush_logging, keep_events, setup_logging

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


PCAP_MAX = 10_000  # frames --pcap writes unless --pcap-max says otherwise

EngineName = StrEnum("EngineName", [(name, name) for name in ENGINES])  # --engine's values (options.one_of)


# Options shared by the commands that take an address set. Every option that takes a number, a path or an
# interface name has a `parser=` from options.py: it checks the value as typer reads it, and a bad one ends
# in one error line naming the option (options.error_line, main()).
InterfaceOpt = Annotated[
    str | None,
    typer.Option(
        "--interface", "-i", metavar="IFACE", parser=options.interface, help="Ethernet interface to answer on."
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


def _load(config: Path | None, interface: str | None, ip: list[str] | None, ip_file: list[Path] | None,
          engine: EngineName | None) -> Config:  # fmt: skip
    """The config file, if any, with the command line on top: --ip adds addresses, the rest overrides."""
    cfg = load_config(config) if config else Config()
    if interface:
        if cfg.interface and cfg.interface != interface:
            log.info("--interface %s overrides interface = %r from %s", interface, cfg.interface, config)
        cfg.interface = interface
    if engine:
        if config and cfg.engine != "auto" and cfg.engine != engine.value:
            log.info("--engine %s overrides engine = %r from %s", engine.value, cfg.engine, config)
        cfg.engine = engine.value
    if ip:
        cfg.tokens.append(Tokens(list(ip), lambda index: "--ip"))
    for path in ip_file or []:
        cfg.tokens.append(read_address_file(path))
    return cfg


def _require_addresses(cfg: Config) -> AddressSet:
    if not cfg.has_tokens():
        raise ConfigError("no addresses to answer for: give --ip, --ip-file, or addresses in the config file")
    addresses = cfg.address_set()
    if not addresses:
        raise ConfigError("the address set is empty: every address given is excluded")
    for warning in addresses.warnings:
        log.warning("%s", warning)
    return addresses


def _require_interface(cfg: Config):
    from .iface import interface_facts

    if not cfg.interface:
        raise ConfigError('no interface: give --interface, or interface = "..." in the config file')
    return interface_facts(cfg.interface)


def _stop_on_signals() -> threading.Event:
    """Ctrl-C and SIGTERM set the returned event; the loops notice within a poll interval."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _announce_settings(cfg: Config, count: int | None, interval: float | None, rate: float | None) -> AnnounceSettings:
    """The config's pace with the options on top; both were checked against limits.py as they were read."""
    return AnnounceSettings(
        count=cfg.announce.count if count is None else count,
        interval=cfg.announce.interval if interval is None else interval,
        rate=cfg.announce.rate if rate is None else rate,
    )


@app.command()
def run(
    interface: InterfaceOpt = None,
    ip: IpOpt = None,
    ip_file: IpFileOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = None,
    announce_at_start: Annotated[
        bool | None, typer.Option("--announce/--no-announce", help="Send gratuitous ARP for every address at start.")
    ] = None,
    announce_count: RoundsOpt = None,
    announce_interval: RoundGapOpt = None,
    announce_rate: FrameRateOpt = None,
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
) -> None:
    """Answer ARP requests for the address set until Ctrl-C or SIGTERM, then print a summary.

    While it runs, `arpresponder stats` (another shell, as root) reads its
    counters through the control socket.

    Examples:

        arpresponder run -i r0 --ip 198.51.100.128/26 --ip 198.51.100.7 --ip '!198.51.100.130'

        arpresponder run --config lab.toml --announce -v

        arpresponder run -i r0 --ip 198.51.100.0/24 --live --metrics 127.0.0.1:9417 --stats-json /run/arpr.json
    """
    from .claim import InterfaceClaim
    from .decision import Drop
    from .engines import open_engine
    from .engines.bpf import target_spans
    from .iface import broadcast_targets, warnings_for
    from .observe.stats import Stats
    from .observe.views import Observers
    from .responder import Responder, serve

    _check_observer_options(live, verbose, log_format, stats_interval, metrics, pcap, pcap_max)
    setup_logging(verbose, log_format, to_stderr=not (live and sys.stderr.isatty()))
    events = keep_events()  # from the first warning on, for the live panel and `stats`
    cfg = _load(config, interface, ip, ip_file, engine)
    addresses = _require_addresses(cfg)
    cfg.tokens.clear()  # the set is built: the text of a million-line file need not live as long as the run
    settings = _announce_settings(cfg, announce_count, announce_interval, announce_rate)
    facts = _require_interface(cfg)
    dry = cfg.dry_run if dry_run is None else dry_run
    at_start = cfg.announce_at_start if announce_at_start is None else announce_at_start
    for warning in warnings_for(facts, addresses):
        log.warning("%s", warning)
    withheld = dict.fromkeys(broadcast_targets(addresses), Drop.SUBNET_BROADCAST)

    stop = _stop_on_signals()
    # What is opened is closed in reverse, whatever fails: the announcer joined before its socket closes, the
    # views closed after the last count (the final JSON snapshot is the summary's numbers), then the summary.
    with contextlib.ExitStack() as cleanup:
        if not share_interface:
            cleanup.callback(InterfaceClaim(facts.name).close)
        entry_macs = addresses.entry_macs() - {facts.mac}
        eng = open_engine(cfg.engine, facts.name, target_spans=target_spans(addresses), unicast_macs=entry_macs)
        cleanup.callback(eng.close)
        stats = Stats(interface=facts.name, engine=eng.name, filtered_in_kernel=eng.filtered_in_kernel,
                      kernel_filter=eng.kernel_filter, mac=format_mac(facts.mac), dry_run=dry, events=events)  # fmt: skip
        observers = Observers.start(stats, stop, live=live, stats_interval=stats_interval, stats_json=stats_json,
                                    control_socket=control_socket, metrics=metrics, pcap=pcap,
                                    pcap_max=PCAP_MAX if pcap_max is None else pcap_max)  # fmt: skip
        cleanup.callback(lambda: typer.echo(stats.summary(dry_run=dry)))
        cleanup.callback(observers.close)
        cleanup.callback(stop.set)  # first of all: every thread sees it
        responder = Responder(addresses, facts.mac, stats, dry_run=dry, on_batch=observers.on_batch, withheld=withheld)
        if duration is not None:
            timer = threading.Timer(duration, stop.set)
            timer.daemon = True
            timer.start()
        if at_start and not dry:
            announcer = threading.Thread(target=_announce_in_background, name="announce", daemon=True,
                                         args=(eng, addresses, facts.mac, settings, stop, stats, withheld))  # fmt: skip
            announcer.start()
            cleanup.callback(announcer.join, 2)  # it stops between frames, once stop is set
            cleanup.callback(stop.set)
        elif at_start:
            log.info("dry run: not announcing")
        n = len(addresses)
        log.info(
            "ready: answering %d address%s on %s (%s) with the %s engine%s",
            n, "" if n == 1 else "es", facts.name, format_mac(facts.mac), eng.name, ", dry run" if dry else "",
        )  # fmt: skip
        serve(eng, responder, stop)


def _check_observer_options(live: bool, verbose: bool, log_format: LogFormat, stats_interval: float | None,
                            metrics: str | None, pcap: Path | None, pcap_max: int | None) -> None:  # fmt: skip
    """Combinations that cannot do what they say are errors before anything starts (values are checked as typer
    reads them)."""
    from .observe.metrics import parse_listen

    if metrics:
        parse_listen(metrics)
    if live and not sys.stdout.isatty():
        raise ConfigError("--live draws a full-screen panel and needs a terminal on stdout")
    if live and sys.stderr.isatty():  # the panel takes the terminal over: nothing is logged to it meanwhile
        for given, option in ((verbose, "--verbose"), (stats_interval, "--stats-interval"),
                              (log_format is not LogFormat.text, "--log-format json")):  # fmt: skip
            if given:
                raise ConfigError(
                    f"{option} writes log lines to stderr, which --live takes over: redirect it (2>run.log)"
                )
    if pcap_max is not None and pcap is None:
        raise ConfigError("--pcap-max limits --pcap: give --pcap FILE too")


def _announce_in_background(eng, addresses, mac, settings, stop, stats, withheld) -> None:
    def count(n: int) -> None:
        stats.announced += n

    try:
        announce(eng.send, addresses, mac, settings, stop, on_sent=count, skip=withheld)
    except OSError as e:
        log.error("announcing stopped: the kernel refused a frame: %s", e.strerror or e)


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
    from .engines import open_engine

    setup_logging(verbose, log_format)
    cfg = _load(config, interface, ip, ip_file, engine)
    addresses = _require_addresses(cfg)
    settings = _announce_settings(cfg, count, interval, rate)
    facts = _require_interface(cfg)
    stop = _stop_on_signals()
    eng = open_engine(cfg.engine, facts.name, receive=False)
    try:
        sent = announce(eng.send, addresses, facts.mac, settings, stop)
    except OSError as e:
        raise UserError(f"sending on {facts.name} failed: {e.strerror or e}") from None
    finally:
        eng.close()
    n = len(addresses)
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

    setup_logging(False)
    cfg = _load(config_file, None, ip, ip_file, None)
    addresses = _require_addresses(cfg)
    lines = addresses.describe()
    total = len(addresses)
    typer.echo(f"{printable(str(config_file)) if config_file else 'command line'}: valid")
    if cfg.interface:
        try:
            facts = interface_facts(cfg.interface)
            typer.echo(f"interface: {cfg.interface} ({format_mac(facts.mac)} here)")
        except InterfaceError as e:
            typer.echo(f"interface: {cfg.interface} (not usable on this machine: {e})")
    else:
        typer.echo("interface: not set (give --interface to run)")
    typer.echo(f"engine: {cfg.engine}{', dry run' if cfg.dry_run else ''}")
    a = cfg.announce
    typer.echo(
        f"announce at start: {'yes' if cfg.announce_at_start else 'no'} "
        f"({a.count} round{'s' if a.count != 1 else ''}, {a.interval:g} s apart, at most {a.rate:g} frames/s)"
    )
    typer.echo(
        f"answers for {total} address{'es' if total != 1 else ''} in {len(lines)} entr{'ies' if len(lines) != 1 else 'y'}:"
    )
    shown = lines if show_all else lines[:50]
    for line in shown:
        typer.echo(f"  {line}")
    if len(shown) < len(lines):
        typer.echo(f"  ... and {len(lines) - len(shown)} more (--all lists them)")


@app.command("stats")
def stats_command(
    interface: Annotated[
        str | None,
        typer.Option(
            "--interface", "-i", metavar="IFACE", parser=options.interface, help="Ask the instance answering on IFACE."
        ),
    ] = None,
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
    if interface and control_socket:
        raise ConfigError("give --interface or --control-socket, not both: the socket names the instance")
    path = control_socket or control.find_socket(interface)
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
