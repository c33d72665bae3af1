"""The control socket's server, without a network: what it does with the path it is given."""

import socket

import pytest

from arpresponder.observe.control import ControlError, ControlServer


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
