"""bench/claim.py: its sets are what its report says they are, and one small run measures what it claims to."""

import pytest

from arpresponder.addrset import AddressSet
from arpresponder.engines import bpf
from bench.claim import FILTERED_NAME, UNFILTERED_NAME, Plan, one_run, to_markdown, write_sets


def test_the_contrast_set_is_too_large_for_the_kernel_filter_and_the_served_one_is_not(tmp_path):
    served, too_large = write_sets(tmp_path)
    served_spans = bpf.target_spans(AddressSet.parse(served.read_text().split()))
    assert served_spans is not None and len(served_spans) == 1
    assert bpf.target_spans(AddressSet.parse(too_large.read_text().split())) is None


@pytest.mark.wire
@pytest.mark.timeout(120)
def test_one_small_run_measures_first_answers_and_the_filter():
    # One address each and a short flood, in a lab of its own: ~20 s, most of it farpd's (5 s unanswered, then
    # 2.5 s asked again).
    run = one_run(Plan(addresses=1, later_rounds=2, flood_rate=20_000, flood_s=0.5), log=lambda _line: None)
    first = {r.name: r for r in run.first}
    claiming = first["arpresponder (packet), --claim unowned --claim-wait 0.2"]
    (answer,) = claiming.answers
    assert answer.seconds is not None and 0.2 <= answer.seconds < 0.5, answer
    assert answer.probe_senders and set(answer.probe_senders) == {"0.0.0.0"}, answer
    assert answer.reply_to == "02:00:00:00:00:02", answer  # unicast, to the asker
    assert claiming.later is not None and claiming.later.answered == claiming.later.asked
    floods = {c.name: c for c in run.floods}
    assert floods[FILTERED_NAME].frames_seen == 0  # the filter keeps the out-of-set flood in the kernel
    assert floods[UNFILTERED_NAME].frames_seen and floods[UNFILTERED_NAME].frames_seen > 0
    meta = {"command": "test", "when": "now", "uptime": "", "duration_s": 0.0, "plan": Plan(1, 2, 20_000, 0.5).__dict__,
            "machine": {"cpu": "", "kernel": "", "python": "", "trafgen": ""}}  # fmt: skip
    markdown = to_markdown([run], meta)
    assert "unicast (02:00:00:00:00:02)" in markdown and FILTERED_NAME in markdown
