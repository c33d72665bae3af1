"""CAP_NET_RAW handling (arpresponder/privileges.py), tested for real: a small Python run as `nobody` with setpriv.

Each case starts an interpreter in the lab's responder namespace with the capabilities a container engine would
give it, and reports whether a raw socket opens before raise_net_raw() and what open_packet_socket() (the packet
engine's socket) does after it. The file capability is set on a copy of this Python in a temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from arpresponder.lab.netns import RESPONDER_IF
from arpresponder.privileges import NET_RAW, current_capabilities

ROOT = Path(__file__).resolve().parent.parent
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")

# Run by the interpreter under test, as nobody: one JSON line of what it could do.
PROBE = f"""
import json, socket
from arpresponder.privileges import NET_RAW, current_capabilities
from arpresponder.engines.linux import open_packet_socket
from arpresponder.errors import EngineError
caps = current_capabilities()
seen = {{"permitted": NET_RAW in caps.permitted, "effective": NET_RAW in caps.effective}}
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    seen["before_raise"] = "opened"
except PermissionError:
    seen["before_raise"] = "refused"
try:
    open_packet_socket({RESPONDER_IF!r}, None).close()
    seen["engine"] = "opened"
except EngineError as e:
    seen["engine"] = str(e)
print(json.dumps(seen))
"""

PLAIN = os.path.realpath(sys.executable)


@pytest.fixture(scope="module")
def pythons():
    """{"+p": a copy of this Python with cap_net_raw+p, "+ep": with cap_net_raw+ep}, in a directory `nobody` can read."""
    with tempfile.TemporaryDirectory(prefix="arpr-caps-") as tmp:
        os.chmod(tmp, 0o755)
        copies = {}
        for caps in ("+p", "+ep"):
            copy = Path(tmp) / f"python{caps}"
            shutil.copy2(PLAIN, copy)
            subprocess.run(["setcap", f"cap_net_raw{caps}", str(copy)], check=True, timeout=30)
            copies[caps] = str(copy)
        yield copies


def probe(lab, python: str, *setpriv_options: str, then: tuple[str, ...] = ()) -> dict:
    """Run PROBE with python as nobody in the lab's responder namespace; `then` goes between setpriv and python."""
    result = lab.run(
        lab.responder_ns, "env", f"PYTHONPATH={ROOT}", "PYTHONDONTWRITEBYTECODE=1",
        *NOBODY, *setpriv_options, *then, python, "-c", PROBE, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.wire
def test_not_root_without_capability(lab):
    seen = probe(lab, PLAIN)
    assert (seen["permitted"], seen["before_raise"]) == (False, "refused")
    assert seen["engine"] == (
        f"opening a raw socket needs CAP_NET_RAW; run as root, or give it to the Python binary: "
        f"setcap cap_net_raw+p {PLAIN}"
    )


@pytest.mark.wire
def test_ambient_capability_is_used_as_it_is(lab):
    """An ambient NET_RAW (what podman hands a non-root user) is effective from the start."""
    seen = probe(lab, PLAIN, "--inh-caps=+net_raw", "--ambient-caps=+net_raw")
    assert seen == {"permitted": True, "effective": True, "before_raise": "opened", "engine": "opened"}


@pytest.mark.wire
def test_permitted_file_capability_is_raised(lab, pythons):
    """The image's case: permitted by the file, not effective, until raise_net_raw() raises it."""
    seen = probe(lab, pythons["+p"])
    assert seen == {"permitted": True, "effective": False, "before_raise": "refused", "engine": "opened"}


@pytest.mark.wire
def test_not_in_bounding_set(lab, pythons):
    """A container without NET_RAW: python with +p still starts, and the error names the bounding set."""
    seen = probe(lab, pythons["+p"], "--bounding-set=-net_raw")
    assert seen["permitted"] is False
    assert seen["engine"].startswith(
        "opening a raw socket needs CAP_NET_RAW; it is not in this process's bounding set (a container started "
        "without it): add --cap-add NET_RAW"
    )


@pytest.mark.wire
def test_effective_bit_refuses_exec_without_bounding(lab, pythons):
    """Why the image's capability is +p: with +ep, the kernel will not exec python where NET_RAW is not bounding."""
    result = lab.run(lab.responder_ns, *NOBODY, "--bounding-set=-net_raw", pythons["+ep"], "-c", "pass", check=False)
    assert result.returncode != 0 and "Operation not permitted" in result.stderr


@pytest.mark.wire
def test_no_new_privs(lab, pythons):
    """no_new_privs with nothing permitted beforehand (as Docker starts a non-root user): the file capability is ignored.

    The first setpriv changes user (nothing permitted after its exec); the second sets no_new_privs.
    """
    seen = probe(lab, pythons["+p"], then=("setpriv", "--no-new-privs"))
    assert seen["permitted"] is False
    assert seen["engine"].startswith(
        "opening a raw socket needs CAP_NET_RAW; no_new_privs is set (--security-opt no-new-privileges; "
        "Kubernetes: allowPrivilegeEscalation: false)"
    )


def test_capabilities_read_from_status(tmp_path):
    status = tmp_path / "status"
    status.write_text(
        "Name:\tpython3\nCapInh:\t0000000000000000\nCapPrm:\t0000000000002000\nCapEff:\t0000000000000000\n"
        "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n"
    )
    caps = current_capabilities(str(status))
    assert caps.permitted == {NET_RAW} and not caps.effective and not caps.ambient
    assert caps.bounding == frozenset(range(41)) and caps.no_new_privs
    assert current_capabilities(str(tmp_path / "missing")) is None
