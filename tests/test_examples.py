"""The shipped examples are what their tools accept: the systemd units (systemd-analyze verify, which reports
unknown keys and commands that are not there) and the keepalived notify script (sh -n). The keepalived.conf is
run for real by tests/test_failover.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _verify(unit_dir: Path, unit: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("missing systemd-analyze: .ci/run installs the package systemd")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_UNIT_PATH": f"{unit_dir}:"}  # ours, then the system's
    return subprocess.run(
        ["systemd-analyze", "verify", unit], check=False, capture_output=True, text=True, env=env, timeout=60
    )


def test_the_arpresponder_unit_verifies(tmp_path):
    # Its ExecStart names where pip installs the command; here it is this interpreter's.
    here = Path(sys.executable).with_name("arpresponder")
    text = (EXAMPLES / "systemd" / "arpresponder.service").read_text()
    assert "/usr/local/bin/arpresponder run" in text
    (tmp_path / "arpresponder.service").write_text(text.replace("/usr/local/bin/arpresponder", str(here)))
    result = _verify(tmp_path, "arpresponder.service")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_the_keepalived_drop_in_verifies(tmp_path):
    system_unit = Path("/lib/systemd/system/keepalived.service")
    if not system_unit.exists():
        pytest.fail("missing keepalived.service: .ci/run installs the package keepalived")
    shutil.copy(system_unit, tmp_path)
    shutil.copytree(EXAMPLES / "systemd" / "keepalived.service.d", tmp_path / "keepalived.service.d")
    result = _verify(tmp_path, "keepalived.service")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_the_notify_script_parses():
    script = EXAMPLES / "keepalived" / "arpresponder-notify.sh"
    result = subprocess.run(["sh", "-n", str(script)], check=False, capture_output=True)
    assert result.returncode == 0, result.stderr
