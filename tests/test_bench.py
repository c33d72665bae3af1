"""The bench's smoke run (`python -m bench --quick`): every responder measured, and the report written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESPONDERS = {"Linux kernel", "arpresponder (packet)", "arpresponder (scapy)", "scapy farpd", "farpd 0.2"}


@pytest.mark.wire
@pytest.mark.timeout(150)
def test_quick_bench_measures_all_five_responders(tmp_path):
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=140, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text())
    by_name = {r["name"]: r for r in data["responders"]}
    assert set(by_name) == RESPONDERS
    for name, r in by_name.items():
        lowest = r["rungs"][0]
        assert lowest["answered_pps"] > 0, name
        # Bursts of a second's worth at once: the slow ones (scapy's farpd) lose most; all answer some.
        assert lowest["loss_pct"] < 99.9, (name, lowest)
        assert r["latency_light"]["sent"] > 0, name
    for name in ("Linux kernel", "arpresponder (packet)", "arpresponder (scapy)"):
        assert by_name[name]["rungs"][0]["loss_pct"] <= 5, by_name[name]["rungs"][0]
        assert by_name[name]["latency_light"]["p99_us"] is not None, name
    assert data["extras"]["out_of_set"]["replies"] == 0
    assert "| Linux kernel |" in (tmp_path / "RESULTS.md").read_text()
