"""Shared fixtures. Tests marked `wire` need root: they build a veth lab in namespaces of their own and remove it."""

import os
import shutil

import pytest
from hypothesis import settings

from arpresponder.lab.netns import Lab

# No per-example deadline: first examples pay for imports, and CI machines vary. print_blob reproduces a failure.
settings.register_profile("arpresponder", deadline=None, print_blob=True)
settings.load_profile("arpresponder")

WIRE_TOOLS = ("ip", "arping", "arp-scan", "tcpdump", "ping", "keepalived")


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root for network namespaces and raw sockets (CI runs as root)")
    for item in items:
        if "wire" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def lab():
    """A fresh two-namespace veth lab, removed afterwards whatever happens."""
    missing = [tool for tool in WIRE_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: .ci/run installs them with apt-get")
    with Lab.unique() as the_lab:
        yield the_lab
