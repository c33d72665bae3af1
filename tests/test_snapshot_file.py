"""--stats-json: a write that fails recovers, and one that hangs (a hung mount) never holds anyone up.

The hang is a fake write that blocks until released, as a write to a hung NFS
server would; the failures are real (the directory removed, then restored).
"""

import json
import logging
import threading
import time

import pytest

from arpresponder.errors import UserError
from arpresponder.observe import snapshot_file
from arpresponder.observe.snapshot_file import SnapshotFile
from arpresponder.observe.worker import Tally


def counter():
    n = iter(range(1_000_000))
    return lambda: {"n": next(n)}


def test_a_write_that_fails_is_logged_once_retried_and_recovers(tmp_path, caplog):
    directory = tmp_path / "out"
    directory.mkdir()
    path = directory / "stats.json"
    tally = Tally()
    with caplog.at_level(logging.INFO, logger="arpresponder"):
        view = SnapshotFile(path, counter(), tally)
        directory.rename(tmp_path / "gone")  # as a removed directory, or no descriptor left
        for _ in range(2):
            view.update()
            time.sleep(0.2)  # a second apart, in the run; here only apart enough that no request waits on another
        (tmp_path / "gone").rename(directory)
        view.update()
        time.sleep(0.2)
        view.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"--stats-json {path}: writing failed: No such file or directory; trying again every second",
        f"--stats-json {path}: written again",
    ]
    assert json.loads(path.read_text())["n"] == 4  # the last write, at close, is the fifth snapshot
    assert tally.total == 0


def test_a_path_that_cannot_be_written_is_an_error_at_start(tmp_path):
    with pytest.raises(UserError, match=r"--stats-json .*/nowhere/stats.json: No such file or directory"):
        SnapshotFile(tmp_path / "nowhere" / "stats.json", counter(), Tally())


class HungMount:
    """Replaces write_snapshot: the first `works` calls write, the later ones block until `release` is set."""

    def __init__(self, works: int):
        self.works = works
        self.release = threading.Event()
        self.calls = 0
        self.real = snapshot_file.write_snapshot

    def __call__(self, path, snap):
        self.calls += 1
        if self.calls > self.works:
            self.release.wait(30)
        self.real(path, snap)


@pytest.fixture
def hung_mount(monkeypatch):
    def install(works: int) -> HungMount:
        mount = HungMount(works)
        monkeypatch.setattr(snapshot_file, "write_snapshot", mount)
        mounts.append(mount)
        return mount

    mounts: list[HungMount] = []
    yield install
    for mount in mounts:
        mount.release.set()


def test_a_hung_write_never_holds_up_the_caller_and_close_gives_up_in_bounded_time(tmp_path, hung_mount, caplog):
    hung_mount(works=1)  # the first write, at start
    tally = Tally()
    view = SnapshotFile(tmp_path / "stats.json", counter(), tally)
    with caplog.at_level(logging.WARNING, logger="arpresponder"):
        started = time.monotonic()
        for _ in range(10):
            view.update()  # the first hangs in the worker, one more waits, the rest are dropped
        assert time.monotonic() - started < 0.5
        started = time.monotonic()
        view.close()
        assert time.monotonic() - started < snapshot_file.CLOSE_TIMEOUT + 0.5
    assert tally.total >= 8
    assert any("the last write did not finish within 1 s; abandoned" in r.getMessage() for r in caplog.records)


def test_a_first_write_that_hangs_is_an_error_at_start(tmp_path, hung_mount, monkeypatch):
    hung_mount(works=0)
    monkeypatch.setattr(snapshot_file, "START_TIMEOUT", 0.3)
    started = time.monotonic()
    with pytest.raises(UserError, match=r"the first write did not finish within 0.3 s"):
        SnapshotFile(tmp_path / "stats.json", counter(), Tally())
    assert time.monotonic() - started < 1.0
