"""Following keepalived's notify FIFO, without keepalived: its lines parsed, and a real FIFO written as keepalived
writes it (one writer that keeps it open), then closed as when keepalived dies."""

from __future__ import annotations

import logging
import os
import queue

import pytest

from arpresponder.errors import ConfigError
from arpresponder.keepalived import KeepalivedFifo, parse


@pytest.mark.parametrize(
    ("line", "instance", "standby"),
    [
        ('INSTANCE "VI_1" MASTER 150', None, False),
        ('INSTANCE "VI_1" BACKUP 150\n', None, True),
        ('INSTANCE "VI_1" FAULT 0', None, True),
        ('INSTANCE "VI_1" STOP 0', None, True),
        ('GROUP "G" MASTER', None, False),
        ('INSTANCE "VI_1" MASTER 150', "VI_2", None),  # another instance's
        ('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150', None, None),  # a state we do not act on
        ("garbage", None, None),
    ],
)
def test_lines(line, instance, standby):
    assert parse(line, instance) is standby


def test_the_fifo_is_followed_until_its_writer_goes(tmp_path, caplog):
    path = tmp_path / "keepalived.fifo"
    calls: queue.Queue = queue.Queue()
    fifo = KeepalivedFifo(path, "VI_1", lambda standby, why: calls.put((standby, why)))
    fifo.start()
    with caplog.at_level(logging.WARNING, logger="arpresponder"), open(path, "w") as writer:  # keepalived's end
        for line in ('INSTANCE "VI_1" MASTER 150', "not a state", "nor this", 'INSTANCE "VI_2" BACKUP 100',
                     'INSTANCE "VI_1" BACKUP 150'):  # fmt: skip
            writer.write(line + "\n")
            writer.flush()
        assert calls.get(timeout=5) == (False, 'keepalived: INSTANCE "VI_1" MASTER 150')
        assert calls.get(timeout=5) == (True, 'keepalived: INSTANCE "VI_1" BACKUP 150')
    assert calls.get(timeout=5) == (True, "keepalived went away")  # its end closed: stand by
    assert [r.message.count("not a state change") for r in caplog.records].count(1) == 1  # warned once
    assert os.path.exists(path)


def test_something_else_at_the_path_is_an_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="exists and is not a FIFO"):
        KeepalivedFifo(tmp_path / "file", None, lambda standby, why: None)
    with pytest.raises(ConfigError, match="cannot make a FIFO there"):
        KeepalivedFifo(tmp_path / "no" / "dir" / "f", None, lambda standby, why: None)
