"""ruff, lint and format, over the whole tree: the style the guide asks for is checked, not hoped for."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> str:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff missing: scripts/setup.sh installs it with the test extras"
    return ruff


@pytest.mark.parametrize("args", [["check", "--no-cache"], ["format", "--check", "--no-cache"]], ids=["lint", "format"])
def test_ruff(args):
    result = subprocess.run([_ruff(), *args, str(ROOT)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
