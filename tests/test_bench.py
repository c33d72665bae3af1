"""The bench's smoke run (`python -m bench --quick`): every responder and both yardsticks measured, the report written."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESPONDERS = {"Linux kernel", "arpresponder (packet)", "arpresponder (scapy)", "scapy farpd", "farpd 0.2"}
CEILING, FLOOR = "generator ceiling (sink)", "C floor"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=140, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run, json.loads((out / "results.json").read_text()), (out / "RESULTS.md").read_text()


@pytest.mark.wire
@pytest.mark.timeout(150)
def test_quick_bench_measures_every_responder(quick_run):
    _run, data, markdown = quick_run
    by_name = {r["name"]: r for r in data["responders"]}
    assert set(by_name) == (RESPONDERS | {CEILING, FLOOR} if shutil.which("cc") else RESPONDERS | {CEILING})
    for name in RESPONDERS | ({FLOOR} & set(by_name)):
        r = by_name[name]
        lowest = r["rungs"][0]
        assert lowest["answered_pps"] > 0, name
        # Bursts of a second's worth at once: the slow ones (scapy's farpd) lose most; all answer some.
        assert lowest["loss_pct"] < 99.9, (name, lowest)
        assert r["latency_light"]["sent"] > 0, name
    for name in ("Linux kernel", "arpresponder (packet)", "arpresponder (scapy)", FLOOR):
        if name in by_name:
            assert by_name[name]["rungs"][0]["loss_pct"] <= 5, by_name[name]["rungs"][0]
            assert by_name[name]["latency_light"]["p99_us"] is not None, name
    assert data["extras"]["out_of_set"]["replies"] == 0
    assert "| Linux kernel |" in markdown


@pytest.mark.wire
@pytest.mark.timeout(150)
def test_the_ceiling_counts_what_arrives_and_answers_nothing(quick_run):
    _run, data, markdown = quick_run
    ceiling = next(r for r in data["responders"] if r["name"] == CEILING)
    for rung in ceiling["rungs"]:  # at these light rates the veth pair delivers every request it is offered
        assert rung["offered_pps"] > 0 and rung["loss_pct"] <= 1, rung
    assert ceiling["latency_light"] is None and ceiling["latency_loaded"] is None
    assert (
        f"| {CEILING} |" in markdown.split("## Latency")[0]
        and f"| {CEILING} |" not in markdown.split("## Latency")[1].split("## Targets")[0]
    )


@pytest.mark.wire
@pytest.mark.timeout(150)
def test_the_floor_is_compiled_and_said_so_or_its_absence_is(quick_run):
    run, data, markdown = quick_run
    floor = data["meta"]["floor"]
    if shutil.which("cc"):
        assert "bench/floor.c" in floor["command"] and "compiling the userspace floor: cc" in run.stdout
        assert "C floor: `cc -O2" in markdown
    else:
        assert "no C compiler" in floor["skipped"] and "skipping the userspace floor" in run.stdout


@pytest.mark.wire
@pytest.mark.timeout(150)
def test_every_ratio_is_the_figure_over_the_yardstick_of_the_same_run(quick_run):
    _run, data, markdown = quick_run
    by_name = {r["name"]: r for r in data["responders"]}
    kernel, ceiling, floor = by_name["Linux kernel"], by_name[CEILING], by_name.get(FLOOR)
    packet = by_name["arpresponder (packet)"]
    ratios = packet["ratios"]
    for key, short in (("max_offered_pps_at_1pct_loss", "max"), ("peak_answered_pps", "peak")):
        assert ratios[f"{short}_vs_kernel"] == pytest.approx(packet[key] / kernel[key])
        assert ratios[f"{short}_vs_ceiling"] == pytest.approx(packet[key] / ceiling[key])
    if floor:
        for q in ("p50", "p99"):
            expected = packet["latency_light"][f"{q}_us"] / floor["latency_light"][f"{q}_us"]
            assert ratios[f"light_{q}_vs_floor"] == pytest.approx(expected)
    assert by_name["scapy farpd"]["ratios"]["light_p50_vs_floor"] is None  # it answered nothing in time
    # The report shows them: the rates table in both columns, the latency table against the floor.
    row = next(line for line in markdown.splitlines() if line.startswith("| arpresponder (packet) |"))
    assert f"{ratios['max_vs_kernel']:.2f}× | {ratios['max_vs_ceiling']:.2f}×" in row
    if floor:
        latency_row = [line for line in markdown.split("## Latency")[1].splitlines() if "arpresponder (packet)" in line]
        assert f"{ratios['light_p50_vs_floor']:.2f}× / {ratios['light_p99_vs_floor']:.2f}×" in latency_row[0]


@pytest.mark.wire
@pytest.mark.timeout(150)
def test_the_targets_table_has_the_floor_ceiling_and_memory_rows(quick_run):
    _run, data, markdown = quick_run
    targets = markdown.split("## Targets")[1].split("###")[0]
    for target in ("p50 latency at 1k req/s ≤ 1.5× the floor's", "p99 latency at 1k req/s ≤ 2× the floor's",
                   "≥ 1.0× the kernel's (stretch: the ceiling's)", "peak answered ≥ 1.2× the kernel's",
                   "RSS with a 1-entry set", "RSS with the 1M-entry set", "RSS growth ≤ 2 MB over a 60 s flood"):  # fmt: skip
        assert target in targets, target
    packet = next(r for r in data["responders"] if r["name"] == "arpresponder (packet)")
    rss_mib = max(g["rss_kib"] for g in packet["rungs"]) / 1024
    assert re.search(rf"RSS with a 1-entry set \(reported\) \| {rss_mib:.1f} MiB", targets)
    if p50 := packet["ratios"]["light_p50_vs_floor"]:  # None only without a compiler (the test above says so)
        verdict = "met" if p50 <= 1.5 else "NOT met"
        assert re.search(rf"≤ 1.5× the floor's \| .* = {p50:.2f}× \| {verdict} \|", targets)
