"""What `run` starts besides the loop to show its counters: each view is optional and reads Stats.snapshot().

Views: the live panel, the periodic log line, the JSON snapshot file, the
control socket, the Prometheus endpoint, and the pcap capture (the only one
that sees frames, through the responder's per-batch hook). None of them can
make the loop wait: the servers have their own thread and bounds, and what
writes to a file, a pipe or stderr does it through a BoundedWorker; at exit
each gets a bounded time (about a second) to finish, then is abandoned.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .logs import log_dropped
from .periodic import Periodic
from .stats import ProcessStats, one_line

if TYPE_CHECKING:
    from ..settings import ViewSettings

log = logging.getLogger("arpresponder")

SAMPLE_INTERVAL = 0.25  # seconds between rate samples (the live panel redraws as often)
SNAPSHOT_INTERVAL = 1.0  # seconds between --stats-json writes


@dataclass
class Observers:
    """The views a run was asked for (Observers.start), and close() to stop them in reverse order."""

    stats: ProcessStats
    on_batch: Callable[[list[bytes], list[bytes]], None] | None = None  # the responder hook (capture)
    control_path: Path | None = None  # where the control socket listens, if it does
    _closers: list[Callable[[], None]] = field(default_factory=list)  # called in reverse order

    @classmethod
    def start(
        cls,
        stats: ProcessStats,
        stop: threading.Event,
        views: ViewSettings,
        commands: Mapping[str, Callable[[], dict]],
        control_name: str,
    ) -> Observers:
        """Start each view asked for; a view that cannot start ends the run with a UserError, the others closed.

        commands: what the control socket answers (`stats`, `reload`, …);
        control_name: what its default path is named after (the first
        interface).
        """
        self = cls(stats)
        stats.view_drops["log"] = log_dropped()
        try:
            self._start_control_socket(views.control_socket, commands, control_name)
            if views.metrics:
                self._start_metrics(views.metrics)
            if views.pcap:
                from .capture import Capture, pcap_dropped

                stats.view_drops["pcap"] = tally = pcap_dropped(views.pcap)
                capture = Capture(views.pcap, views.pcap_max, tally)
                self.on_batch = capture.on_batch
                self._closers.append(capture.close)
            if views.stats_json:
                from .snapshot_file import SnapshotFile, stats_json_dropped

                stats.view_drops["stats_json"] = tally = stats_json_dropped(views.stats_json)
                snapshot_file = SnapshotFile(views.stats_json, stats.snapshot, tally)
                self._closers.append(snapshot_file.close)  # after the periodic thread stops: the last write is last
            periodic = Periodic(stop)
            periodic.every(SAMPLE_INTERVAL, stats.sample, "sampling rates")
            if views.stats_json:
                periodic.every(SNAPSHOT_INTERVAL, snapshot_file.update, f"writing {views.stats_json}")
            if views.stats_interval:
                periodic.every(
                    views.stats_interval,
                    lambda: log.info("%s", one_line(stats.snapshot()), extra={"periodic": True}),
                    "the stats log line",
                )
            periodic.start()
            self._closers.append(periodic.join)
            if views.live:
                from .live import full_screen

                panel = full_screen(stats.snapshot)
                panel.start()
                self._closers.append(panel.stop)
        except BaseException:
            self.close()
            raise
        return self

    def _start_control_socket(
        self, path: Path | None, commands: Mapping[str, Callable[[], dict]], control_name: str
    ) -> None:
        from . import control

        self.stats.view_drops["control"] = tally = control.control_dropped()
        try:
            server = control.ControlServer(path or control.default_path(control_name), commands, tally)
        except control.ControlError as e:
            if path:
                raise
            log.warning("no control socket, so `arpresponder stats` cannot read this run: %s", e)
            return
        self.control_path = server.path
        self._closers.append(server.close)
        log.info("control socket: %s", server.path)

    def _start_metrics(self, listen: str) -> None:
        from .metrics import MetricsServer, exposure, metrics_dropped, parse_listen

        self.stats.view_drops["metrics"] = tally = metrics_dropped()
        server = MetricsServer(listen, self.stats.snapshot, tally)
        self._closers.append(server.close)
        log.info("metrics: http://%s/metrics", listen)
        reach = exposure(parse_listen(listen)[0])
        if reach:
            log.warning(
                "metrics: %s listens on %s: anyone who can connect reads the counters; "
                "give 127.0.0.1:PORT to keep it on this host",
                listen, reach,
            )  # fmt: skip

    def close(self) -> None:
        """Stop every view, each within a bounded time; the last JSON snapshot is written after the loop's final counts."""
        while self._closers:
            self._closers.pop()()


def check_view_options(views: ViewSettings) -> None:
    """Combinations that cannot do what they say are errors before anything starts (values are checked as typer
    reads them). ConfigError naming the option."""
    from .logs import LogFormat
    from .metrics import parse_listen

    if views.metrics:
        parse_listen(views.metrics)
    if views.live and not sys.stdout.isatty():
        raise ConfigError("--live draws a full-screen panel and needs a terminal on stdout")
    if views.live and sys.stderr.isatty():  # the panel takes the terminal over: nothing is logged to it meanwhile
        for given, option in (
            (views.verbose, "--verbose"),
            (views.stats_interval, "--stats-interval"),
            (views.log_format is not LogFormat.text, "--log-format json"),
        ):
            if given:
                raise ConfigError(
                    f"{option} writes log lines to stderr, which --live takes over: redirect it (2>run.log)"
                )
