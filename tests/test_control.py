"""The control socket's server, without a network: what it does with the path it is given, and with its clients."""

import json
import socket
import time

import pytest

from arpresponder.observe.control import CLIENT_TIMEOUT, MAX_CLIENTS, ControlError, ControlServer, query
from arpresponder.observe.worker import Tally


def test_a_file_at_the_socket_path_is_refused_and_kept(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    with pytest.raises(ControlError, match="exists and is not a socket"):
        ControlServer(notes, {})
    assert notes.read_text() == "mine\n"


def test_a_directory_at_the_socket_path_is_refused(tmp_path):
    with pytest.raises(ControlError, match="exists and is not a socket"):
        ControlServer(tmp_path, {})


def test_a_dead_socket_is_replaced_and_a_live_one_is_not(tmp_path):
    path = tmp_path / "ctl.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a killed instance leaves
    server = ControlServer(path, {"stats": lambda: {"received": 1}})
    try:
        with pytest.raises(ControlError, match="another arpresponder answers"):
            ControlServer(path, {})
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        server.close()


@pytest.fixture
def server(tmp_path):
    """A control server answering `stats` with a fixed snapshot and `ping`, a command added as one dict entry."""
    tally = Tally()
    server = ControlServer(tmp_path / "ctl.sock", {"stats": lambda: {"received": 7}, "ping": lambda: {"pong": True}},
                           tally)  # fmt: skip
    yield server, tally
    server.close()


def idle_clients(path, n: int) -> list[socket.socket]:
    clients = []
    for _ in range(n):
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(path))
        clients.append(client)
    return clients


def test_idle_clients_do_not_keep_others_from_an_answer(server):
    control, _tally = server
    clients = idle_clients(control.path, 9)  # the case: they connect and never send
    try:
        started = time.monotonic()
        assert query(control.path) == {"received": 7}
        assert query(control.path, "ping") == {"pong": True}
        assert time.monotonic() - started < 1.0  # served at once, not after the idle ones' deadlines
    finally:
        for client in clients:
            client.close()


def test_one_client_more_than_the_limit_is_told_busy_at_once(server):
    control, tally = server
    clients = idle_clients(control.path, MAX_CLIENTS)
    try:
        started = time.monotonic()
        with pytest.raises(ControlError, match=f"busy: {MAX_CLIENTS} clients are connected"):
            query(control.path)
        assert time.monotonic() - started < 1.0
        assert tally.total == 1
    finally:
        for client in clients:
            client.close()
    time.sleep(0.1)  # the server sees them go
    assert query(control.path) == {"received": 7}


def test_a_silent_client_is_told_and_closed_at_its_deadline(server):
    control, tally = server
    (client,) = idle_clients(control.path, 1)
    client.settimeout(CLIENT_TIMEOUT + 3)
    started = time.monotonic()
    answer = client.makefile("rb").readline()
    assert CLIENT_TIMEOUT - 0.1 < time.monotonic() - started < CLIENT_TIMEOUT + 1
    assert json.loads(answer) == {"error": f"no command within {CLIENT_TIMEOUT:g} s"}
    assert client.recv(1) == b""  # closed
    assert tally.total == 1
    client.close()


def test_a_failing_command_is_answered_with_its_error_and_the_server_carries_on(tmp_path):
    def broken():
        raise RuntimeError("boom")

    control = ControlServer(tmp_path / "ctl.sock", {"stats": lambda: {"ok": 1}, "broken": broken})
    try:
        with pytest.raises(ControlError, match="'broken' failed: boom"):
            query(control.path, "broken")
        assert query(control.path) == {"ok": 1}
    finally:
        control.close()


def test_a_socket_left_behind_is_not_counted_as_an_instance(tmp_path, monkeypatch):
    """An instance that ran as --user cannot remove its socket at exit (root's directory): `stats` with no --interface
    must still find the only instance that listens, not give up on "several instances"."""
    from arpresponder.observe import control

    monkeypatch.setattr(control, "default_dir", lambda: tmp_path)
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(tmp_path / "r1.sock"))
    left.close()  # the file stays, nobody listens
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(tmp_path / "r0.sock"))
        live.listen()
        assert control.find_socket(None) == tmp_path / "r0.sock"
    with pytest.raises(ControlError, match="several instances"):
        control.find_socket(None)  # neither listens now: both are named, as before
