"""The command line as a user meets it: one clear line and a non-zero exit for every mistake, never a traceback."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from arpresponder.lab.netns import RESPONDER_IF, RESPONDER_MAC, Lab, ResponderProcess


def cli(*args: str, ns: str | None = None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    argv = [*prefix, sys.executable, "-m", "arpresponder", *args]
    if ns:
        argv = ["ip", "netns", "exec", ns, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def assert_user_error(result: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("arpresponder: error:")]
    assert len(errors) == 1, result.stderr
    assert re.search(message, errors[0]), errors[0]


# --- input errors: no privilege needed ---


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("198.51.100.300", r"--ip: '198.51.100.300': .*not an IPv4 address"),
        ("224.0.0.1", r"--ip: '224.0.0.1': refused: 224.0.0.0/4 is multicast"),
        ("127.0.0.1", r"refused: 127.0.0.0/8 is loopback"),
        ("198.51.100.7=zz", r"not a MAC address"),
    ],
)
def test_bad_ip_is_one_line_exit_2(token, message):
    assert_user_error(cli("run", "-i", "nosuch0", "--ip", token), 2, message)


def test_no_addresses():
    assert_user_error(cli("run", "-i", "nosuch0"), 2, r"no addresses to answer for")


def test_everything_excluded():
    assert_user_error(cli("run", "-i", "x", "--ip", "198.51.100.7", "--ip", "!198.51.100.0/24"), 2, "set is empty")


def test_no_interface():
    assert_user_error(cli("run", "--ip", "198.51.100.7"), 2, r"no interface: give --interface")


@pytest.mark.wire
def test_a_missing_interface_is_waited_for_and_the_ones_there_are_listed(lab):
    """A typo waits too (the interface may yet appear), so the warning lists what there is."""
    result = cli("run", "-i", "nosuch0", "--ip", "198.51.100.7", "--duration", "1", ns=lab.responder_ns)
    assert result.returncode == 0, result.stderr
    assert re.search(r"WARNING nosuch0 does not exist \(yet\): waiting for it to appear \(interfaces here: lo, r0\)",
                     result.stderr), result.stderr  # fmt: skip
    assert "ready: nosuch0: waiting for it, for 1 address" in result.stderr


def test_bad_config_file(tmp_path):
    (tmp_path / "lab.toml").write_text('interface = "r0"\nadresses = ["198.51.100.7"]\n')
    assert_user_error(cli("run", "-c", str(tmp_path / "lab.toml")), 2, r"lab.toml:2: unknown key 'adresses'")
    assert_user_error(cli("check", str(tmp_path / "missing.toml")), 2, r"cannot read config")


def test_bad_announce_option():
    result = cli("announce", "-i", "x", "--ip", "198.51.100.7", "--rate", "0")
    assert_user_error(result, 2, r"--rate: expected a number of frames/s from 0.01 to 10000000, not '0'")


# One representative of each kind of bad value, on every command that reads it: a number out of its range or
# not a number, a choice not offered, an interface or lab name that cannot be one, a command line typer
# itself refuses. Each is one line naming the option, exit 2, before anything starts.
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--duration", "inf"], r"--duration: expected a number of seconds from 0 to 31536000, not 'inf'"),
        (["run", "--duration", "abc"], r"--duration: expected a number of seconds .*, not 'abc'"),
        (["run", "--duration", "nan"], r"--duration: expected .*, not 'nan'"),
        (["run", "--announce-interval", "inf"], r"--announce-interval: expected a number of seconds from 0 to 86400"),
        (["run", "--announce-rate", "1e-300"], r"--announce-rate: expected a number of frames/s from 0.01 to"),
        (["run", "--announce-count", "1.5"], r"--announce-count: expected a whole number of rounds from 1 to 10000"),
        (["run", "--announce-count", "9" * 5000], r"--announce-count: expected .*… \(5000 characters\)$"),
        (["run", "--stats-interval", "0"], r"--stats-interval: expected a number of seconds from 0.1 to 86400"),
        (["run", "--pcap", "x.pcap", "--pcap-max", "0"], r"--pcap-max: expected a whole number of frames from 1 to"),
        (["stats", "--watch", "--interval", "inf"], r"--interval: expected a number of seconds from 0.1 to 86400"),
        (["announce", "--count", "0"], r"--count: expected a whole number of rounds from 1 to 10000, not '0'"),
        (["run", "--engine", "turbo"], r"--engine: expected one of auto, packet, scapy, not 'turbo'"),
        (["run", "--log-format", "xml"], r"--log-format: expected one of text, json, not 'xml'"),
        (["run", "-i", "a/b"], r"--interface: expected an interface name .*, not 'a/b'"),
        (["stats", "-i", "x" * 16], r"--interface: expected an interface name \(1 to 15 bytes"),
        (["lab", "up", "--name", "../x"], r"--name: expected a lab name .*, not '../x'"),
        (["run", "--durtion", "1"], r"no such option: --durtion.*; see '.* run --help'$"),
        (["nosuch"], r"no such command 'nosuch'; see '.* --help'$"),
        (["run", "--duration"], r"option '--duration' requires an argument; see 'arpresponder --help'$"),
        (["check", "a.toml", "b.toml"], r"got unexpected extra argument\(s\) \(b.toml\)"),
    ],
)
def test_bad_command_line_is_one_line_naming_the_option(args, message):
    assert_user_error(cli(*args), 2, message)


def test_help_is_still_help():
    assert cli("run", "--help").returncode == 0
    bare = cli()  # no command: the help, as a usage error (exit 2), not an error line
    assert bare.returncode == 2 and "Usage:" in bare.stderr + bare.stdout and "error:" not in bare.stderr


def test_arguments_that_are_not_utf8_are_escaped_not_a_traceback():
    """Python decodes such bytes to surrogates (surrogateescape); printed raw they would end in UnicodeEncodeError."""
    cases = [
        (["check", "--ip", "198.51.100.7\udcff"], r"--ip: '198.51.100.7\\udcff': .*not an IPv4 address"),
        (["run", "-i", "r\udcff0", "--ip", "198.51.100.7"], r"--interface: expected an interface name.*'r\\udcff0'"),
        (["run", "--\udcff"], r"no such option: --\\udcff"),
        (["check", "/nonexistent/\udcff.toml"], r"cannot read config /nonexistent/\\udcff.toml: No such file"),
    ]
    for args, message in cases:
        argv = [os.fsencode(arg) for arg in args]  # the bytes a shell would pass: 0xff where \udcff stands
        result = subprocess.run([sys.executable, "-m", "arpresponder", *argv], capture_output=True, timeout=60,
                                check=False)  # fmt: skip
        stderr = result.stderr.decode("utf-8", "backslashreplace")
        assert_user_error(subprocess.CompletedProcess(args, result.returncode, "", stderr), 2, message)


# Every option that takes a path, given one that cannot be read: our one line, never typer's usage text.
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["check", "{dir}"], 2, r"cannot read config .*: Is a directory"),
        (["run", "--config", "{dir}"], 2, r"cannot read config .*: Is a directory"),
        (["check", "--ip-file", "{dir}"], 2, r"cannot read address file .*: Is a directory"),
        (["check", "--ip-file", ""], 2, r"--ip-file: expected a file name, not ''"),
        (["stats", "--control-socket", "{file}"], 1, r"not-a-socket is not a control socket"),
    ],
)
def test_a_path_that_cannot_be_read_is_one_line(tmp_path, args, code, message):
    (tmp_path / "not-a-socket").write_text("")
    argv = [arg.format(dir=tmp_path, file=tmp_path / "not-a-socket") for arg in args]
    assert_user_error(cli(*argv), code, message)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run the command as another user (CI runs as root)")
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["check", "{file}"], 2, r"cannot read config .*lab.toml: Permission denied"),
        (["check", "--ip-file", "{file}"], 2, r"cannot read address file .*lab.toml: Permission denied"),
        (["run", "-c", "{file}"], 2, r"cannot read config .*lab.toml: Permission denied"),
        (["stats", "--control-socket", "{file}"], 1, r"permission denied on .*lab.toml"),
        (["stats", "-i", "r0"], 1, r"no control socket at /run/arpresponder/"),  # the "right" example
    ],
)
def test_a_path_the_user_cannot_read_is_one_line(tmp_path, args, code, message):
    """The issue's case: typer checked readability itself and printed its three-line usage text."""
    path = tmp_path / "lab.toml"  # under pytest's tmp, mode 0700: another user cannot even reach it
    path.write_text('addresses = ["198.51.100.7"]\n')
    nobody = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    assert_user_error(cli(*[arg.format(file=path) for arg in args], prefix=nobody), code, message)


# The readers of operator text, one representative of each way a file can be wrong.
@pytest.mark.parametrize(
    ("config", "address_file", "message"),
    [
        (b"\xc1\x00binary\xff garbage", None, r"lab.toml:1: config is not UTF-8 text \(byte 0 is 0xc1\)"),
        (b'addresses = ["198.51.100.7\\u0000"]', None, r"lab.toml:1 addresses\[0\]: '198.51.100.7\\x00'"),
        (b'interface = "r\\u00000"', None, r"lab.toml:1: interface = 'r\\x000': expected an interface name"),
        (b"a = " + b"[" * 1000 + b"]" * 1000, None, r"lab.toml:1: arrays and tables nested more than 16 deep"),
        (b"a" + b".a" * 10000 + b" = 1", None, r"lab.toml:1: more than 8 dotted parts in a key"),
        (b"[announce]\ninterval = inf", None, r"lab.toml:2: announce.interval = inf: expected a number of seconds"),
        (b'address_files = ["more.txt"]', b"198.51.100.7\n\x00\n", r"more.txt:2: '\\x00': .*not an IPv4 address"),
        (b'address_files = ["more.txt"]', b"198.51.100.7\n\xff\n", r"more.txt:2: address file is not UTF-8 text"),
    ],
)
def test_bad_files_are_one_line_naming_file_and_line(tmp_path, config, address_file, message):
    (tmp_path / "lab.toml").write_bytes(config)
    if address_file is not None:
        (tmp_path / "more.txt").write_bytes(address_file)
    assert_user_error(cli("check", str(tmp_path / "lab.toml")), 2, message)


def test_an_error_quotes_a_short_prefix_of_a_file_it_was_pointed_at(tmp_path):
    """A config one user writes, checked by root, must not print what root can read (issue 8, item 22)."""
    secret = "root:$y$j9T$0123456789abcdefghijkl$SECRETHASHSECRETHASHSECRETHASH:19000:0:99999:7:::"
    (tmp_path / "shadow").write_text(f"{secret}\nsecond:line\n")
    (tmp_path / "lab.toml").write_text(f'address_files = ["{tmp_path / "shadow"}"]\n')
    result = cli("check", str(tmp_path / "lab.toml"))
    assert_user_error(result, 2, rf"shadow:1: '{re.escape(secret[:40])}'… \({len(secret)} characters\): ")
    assert "SECRETHASH" not in result.stderr and "second" not in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--pcap-max", "5"], r"--pcap-max limits --pcap: give --pcap FILE too"),
        (["--metrics", "9417"], r"--metrics '9417': give HOST:PORT"),
        (["--metrics", "127.0.0.1:99999"], r"port must be a number from 1 to 65535"),
        (["--metrics", "example.org:9417"], r"'example.org' is not an IP address"),
        (["--live"], r"--live draws a full-screen panel and needs a terminal on stdout"),  # stdout is a pipe here
    ],
)
def test_bad_observability_options(options, message):
    assert_user_error(cli("run", "-i", "r0", "--ip", "198.51.100.7", *options), 2, message)


def test_stats_without_a_running_instance(tmp_path):
    result = cli("stats", "--control-socket", str(tmp_path / "none.sock"))
    assert_user_error(result, 1, r"no control socket at .*none.sock: is arpresponder running")
    assert_user_error(cli("stats", "--watch", "--interval", "0"), 2, r"--interval: expected a number of seconds")
    assert_user_error(cli("stats", "--interval", "2"), 2, r"--interval sets the pace of --watch: give --watch too")
    both = cli("stats", "-i", "r0", "--control-socket", str(tmp_path / "x.sock"))
    assert_user_error(both, 2, r"give --interface or --control-socket, not both")
    (tmp_path / "file.txt").write_text("not a socket")
    result = cli("stats", "--control-socket", str(tmp_path / "file.txt"))
    assert_user_error(result, 1, r"file.txt is not a control socket \(not a socket at all\)")


def test_check_prints_the_resolved_set(tmp_path):
    (tmp_path / "lab.toml").write_text(
        'interface = "nosuch0"\naddresses = ["198.51.100.128/26", "!198.51.100.130", "198.51.100.7=02:aa:bb:cc:dd:ee"]\n'
    )
    result = cli("check", str(tmp_path / "lab.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-4:] == [
        "  answers for 64 addresses in 3 entries:",
        "    198.51.100.7 = 02:aa:bb:cc:dd:ee",
        "    198.51.100.128/31  (2 addresses)",
        "    198.51.100.131-198.51.100.191  (61 addresses)",
    ]
    assert "interface: nosuch0 (not here now: no interface named 'nosuch0'" in result.stdout


@pytest.mark.parametrize(
    ("user", "note"), [("nobody", "(after the sockets are open)"), ("nosuchuser", "(not here now")]
)
def test_check_says_whether_the_user_is_here(tmp_path, user, note):
    (tmp_path / "lab.toml").write_text(f'interface = "r0"\naddresses = ["198.51.100.1"]\nuser = "{user}"\n')
    result = cli("check", str(tmp_path / "lab.toml"))
    assert result.returncode == 0 and f"user: {user} {note}" in result.stdout, result.stdout


def test_check_prints_each_interface_of_a_config(tmp_path):
    (tmp_path / "lab.toml").write_text(
        'addresses = ["198.51.100.0/28"]\n[announce]\nenabled = true\n'
        '[[interfaces]]\nname = "nosuch0"\n'
        '[[interfaces]]\nname = "nosuch0"\nvlan = 100\naddresses = ["203.0.113.7"]\nannounce = { every = 30 }\n'
        '[[interfaces]]\nname = "nosuch1"\nengine = "scapy"\n'
    )
    out = cli("check", str(tmp_path / "lab.toml")).stdout
    assert "interface: nosuch0 (" in out and "interface: nosuch0 vlan 100 (" in out and "interface: nosuch1 (" in out
    assert "announce: yes (2 rounds, 2 s apart, at most 1000 frames/s, and every 30 s)" in out
    assert "answers for 16 addresses in 1 entry:" in out and "answers for 1 address in 1 entry:" in out
    assert "engine: scapy" in out and "answers for the same set as above" in out


def test_check_warns_about_what_has_no_effect():
    result = cli("check", "--ip", "198.51.100.0/24", "--ip", "!203.0.113.9")
    assert result.returncode == 0
    assert "exclusion matches nothing in the set: !203.0.113.9" in result.stderr


# --- errors that need the lab ---


@pytest.mark.wire
def test_not_ethernet(lab):
    assert_user_error(cli("run", "-i", "lo", "--ip", "198.51.100.7", ns=lab.responder_ns), 1, r"lo is not an Ethernet")


@pytest.mark.wire
@pytest.mark.parametrize("engine", ["packet", "scapy"])
def test_without_cap_net_raw(lab, engine):
    no_raw = ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw")
    result = cli(
        "run", "-i", RESPONDER_IF, "--ip", "198.51.100.7", "--engine", engine, ns=lab.responder_ns, prefix=no_raw
    )
    assert_user_error(result, 1, r"needs CAP_NET_RAW; it is not in this process.s bounding set")
    result = cli(
        "announce", "-i", RESPONDER_IF, "--ip", "198.51.100.7", "--engine", engine, ns=lab.responder_ns, prefix=no_raw
    )
    assert_user_error(result, 1, r"needs CAP_NET_RAW; it is not in this process.s bounding set")


@pytest.mark.wire
def test_run_warns_about_what_will_surprise(lab):
    """The kernel owns one of the addresses, proxy_arp is on, and a neighbour already holds another."""
    lab.sysctl(lab.responder_ns, f"net.ipv4.conf.{RESPONDER_IF}.proxy_arp", "1")
    lab.run(lab.responder_ns, "ip", "neigh", "add", "198.51.100.7", "lladdr", "02:00:00:00:00:99", "dev", RESPONDER_IF,
            "nud", "reachable")  # fmt: skip
    with ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", "192.0.2.1", "--ip", "198.51.100.7"]) as r:
        r.stop()
    assert "192.0.2.1 is assigned to r0: the kernel answers for it too" in r.stderr
    assert "net.ipv4.conf.r0.proxy_arp is on" in r.stderr
    assert "198.51.100.7 is in the neighbour table at 02:00:00:00:00:99: another host seems to own it" in r.stderr


@pytest.mark.wire
def test_sigint_and_sigterm_end_cleanly_with_a_summary(lab):
    for sig in (signal.SIGINT, signal.SIGTERM):
        r = ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.7"])
        lab.arping("198.51.100.7", count=1)
        r.proc.send_signal(sig)
        assert r.stop() == 0
        assert "Traceback" not in r.stderr
        assert re.search(r"frames seen\s+1\n\s+replies sent\s+1\n", r.stdout), r.stdout


@pytest.mark.wire
@pytest.mark.parametrize("engine", ["packet", "scapy"])
def test_link_down_is_survived_and_a_vanished_interface_is_waited_for(lab, engine):
    r = ResponderProcess(lab, ["run", "-i", RESPONDER_IF, "--ip", "198.51.100.7", "--engine", engine])
    lab.run(lab.responder_ns, "ip", "link", "set", RESPONDER_IF, "down")
    time.sleep(0.5)
    lab.run(lab.responder_ns, "ip", "link", "set", RESPONDER_IF, "up")
    _, macs = lab.arping("198.51.100.7", count=2)
    assert RESPONDER_MAC in macs  # still answering after the link came back
    lab.run(lab.responder_ns, "ip", "link", "del", RESPONDER_IF)
    time.sleep(1)
    assert r.proc.poll() is None  # still running: r0 may come back (tests/test_service.py: and it is answered)
    assert r.stop() == 0
    assert "r0 is down; answering again once it is up" in r.stderr and "r0 is up: answering" in r.stderr
    assert re.search(r"r0 (is gone|disappeared).*; waiting for r0 to come back", r.stderr), r.stderr
    assert "Traceback" not in r.stderr and "WARNING:" not in r.stderr  # nor scapy's own noise
    assert "replies sent" in r.stdout


@pytest.mark.wire
@pytest.mark.parametrize("option", ["--stats-json", "--pcap"])
def test_an_output_path_that_cannot_be_written_is_one_line(lab, option):
    result = cli("run", "-i", RESPONDER_IF, "--ip", "198.51.100.7", "--duration", "5", option, "/nonexistent/out",
                 ns=lab.responder_ns)  # fmt: skip
    assert_user_error(result, 1, rf"{option} /nonexistent/out: No such file or directory")


@pytest.mark.wire
def test_duration_stops_by_itself(lab):
    start = time.monotonic()
    result = cli("run", "-i", RESPONDER_IF, "--ip", "198.51.100.7", "--duration", "1", ns=lab.responder_ns)
    assert result.returncode == 0 and "frames seen" in result.stdout
    assert time.monotonic() - start < 10


# --- the lab and the demo ---


def netns_names(prefix: str = "") -> set[str]:
    """Namespaces whose names start with prefix (other test runs on the machine may come and go meanwhile)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip() and line.startswith(prefix)}


@pytest.mark.wire
def test_lab_up_and_down():
    name = f"arpr-cli{os.getpid()}"
    lab = Lab(name)
    try:
        up = cli("lab", "up", "--name", name)
        assert up.returncode == 0 and f"{name}-r" in up.stdout and "arping" in up.stdout
        assert {f"{name}-r", f"{name}-p"} <= netns_names()
        assert_user_error(cli("lab", "up", "--name", name), 1, "already exists")
        assert cli("lab", "down", "--name", name).returncode == 0
        assert not {f"{name}-r", f"{name}-p"} & netns_names()
        assert "no lab named" in cli("lab", "down", "--name", name).stdout
    finally:
        lab.down()


@pytest.mark.wire
def test_demo_succeeds_and_leaves_nothing_behind():
    before = netns_names("arpr-demo")
    result = cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo OK" in result.stdout
    assert re.search(
        r"198\.51\.100\.150\s+yes\s+02:00:00:00:00:01 REACHABLE\s+2 replies from 02:00:00:00:00:01\s+yes", result.stdout
    )
    assert re.search(r"198\.51\.100\.130\s+no\s+no answer", result.stdout)
    assert netns_names("arpr-demo") == before


def demo_responders() -> set[str]:
    """The pids of demo responders running now from this interpreter (pgrep on the demo's command line)."""
    command = f"{sys.executable} -m arpresponder run --interface r0 --engine auto"
    return set(subprocess.run(["pgrep", "-f", command], capture_output=True, text=True, check=False).stdout.split())


@pytest.mark.wire
@pytest.mark.parametrize("delay", [0.0, 0.5])  # while the responder starts, and once it answers
def test_demo_interrupted_removes_its_lab(delay):
    before = netns_names("arpr-demo")
    responders_before = demo_responders()
    proc = subprocess.Popen(
        [sys.executable, "-m", "arpresponder", "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in proc.stdout:
        if line.startswith("responder:"):
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "interrupted; the lab is removed" in out
    assert netns_names("arpr-demo") == before
    assert demo_responders() <= responders_before  # none left running, however early it was interrupted


@pytest.mark.wire
def test_lab_down_stops_what_still_runs_in_the_lab():
    """A process left in a lab namespace (a responder would wait there for its interface forever) is stopped: SIGTERM,
    then SIGKILL for one that ignores it."""
    lab = Lab.unique().up()
    try:
        polite = subprocess.Popen(["ip", "netns", "exec", lab.responder_ns, "sleep", "60"])
        stubborn = subprocess.Popen(["ip", "netns", "exec", lab.peer_ns, "sh", "-c", 'trap "" TERM; sleep 60'])
        time.sleep(0.3)
    finally:
        lab.down()
    assert polite.wait(timeout=10) == -signal.SIGTERM
    assert stubborn.wait(timeout=10) == -signal.SIGKILL
    assert not lab.exists()


@pytest.mark.parametrize("option", [["--verbose"], ["--stats-interval", "1"], ["--log-format", "json"]])
def test_live_on_a_terminal_refuses_options_that_log_to_it(option):
    """With stderr on the panel's terminal, log lines would have nowhere to go: an error, not silence."""
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "arpresponder", "run", "-i", "r0", "--ip", "198.51.100.7",
                                 "--live", *option], stdout=follower, stderr=follower, timeout=60, check=False)  # fmt: skip
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
    assert result.returncode == 2
    assert f"arpresponder: error: {option[0]}".encode() in output
    assert b"takes over: redirect it" in output and b"Traceback" not in output
