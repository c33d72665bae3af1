"""The control socket: a Unix socket, owner-only (mode 0600), through which `arpresponder stats` reads a running instance.

Protocol: the client sends one command line, the server answers one JSON
line and closes. Commands: `stats` (the snapshot). Anything else gets
{"error": "..."}; the instance carries on. Clients are served concurrently
by a BoundedServer: each has CLIENT_TIMEOUT seconds for the whole exchange,
and at most MAX_CLIENTS are connected at once (one more gets {"error":
"busy: ..."} at once), so clients that connect and say nothing never keep
`stats` from answering.

Default path: /run/arpresponder/<iface>.sock; inside a namespace named by
`ip netns` (`ip netns exec NAME`), /run/arpresponder/NAME/<iface>.sock,
because /run is shared between namespaces and every lab calls its
interface r0.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path

from ..errors import UserError
from .server import BoundedServer, Protocol
from .worker import Tally

log = logging.getLogger("arpresponder")

RUN_DIR = Path("/run/arpresponder")
MAX_COMMAND = 256  # bytes; a longer line is refused, not read on
CLIENT_TIMEOUT = 2.0  # seconds a client has to send its command and read the answer
SLOW_TIMEOUT = 300.0  # seconds a command answered by a Future (reload) may take
MAX_CLIENTS = 16  # connected at once
BACKLOG = 64  # connections the kernel holds until we accept them


class ControlError(UserError):
    """The control socket cannot be opened, reached or understood."""


def _netns_name() -> str | None:
    """The name our network namespace has under /run/netns (`ip netns exec NAME`), or None."""
    try:
        ours = os.stat("/proc/self/ns/net")
        entries = list(os.scandir("/run/netns"))
    except OSError:
        return None
    for entry in entries:
        with contextlib.suppress(OSError):
            theirs = entry.stat()
            if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
                return entry.name
    return None


def default_dir() -> Path:
    name = _netns_name()
    return RUN_DIR / name if name else RUN_DIR


def default_path(interface: str) -> Path:
    return default_dir() / f"{interface}.sock"


def find_socket(interface: str | None, command: str = "stats") -> Path:
    """The socket `stats` (or `reload`) should ask: the instance answering on interface, or the only one there is.

    An instance's socket is named after its first interface; for another of
    its interfaces, the instances here are asked which one answers there.
    """
    directory = default_dir()
    found = sorted(directory.glob("*.sock")) if directory.is_dir() else []
    if interface:
        path = default_path(interface)
        if path in found or not found:
            return path  # if it is not there, query() says so
        for other in found:
            with contextlib.suppress(ControlError):
                labels = query(other).get("interfaces", {})
                if any(label == interface or label.startswith(f"{interface} vlan ") for label in labels):
                    return other
        return path
    if len(found) > 1:  # a socket left by an instance that could not remove it (--user, killed) answers no one
        found = [path for path in found if _listening(path)] or found
    if len(found) == 1:
        return found[0]
    if not found:
        where = "this network namespace" if directory == RUN_DIR else f"namespace {directory.name}"
        raise ControlError(
            f"no running arpresponder found in {where} (no control socket in {directory}); give --interface or "
            f"--control-socket, or ask inside the instance's namespace (ip netns exec NETNS arpresponder {command})"
        )
    raise ControlError(
        f"several instances run here ({', '.join(p.stem for p in found)}): give --interface or --control-socket"
    )


def _listening(path: Path) -> bool:
    """Whether a socket listens at path, as /proc/net/unix says (Flags has __SO_ACCEPTCON): asked without
    connecting, so that the instance counts no connection left unanswered. True if that cannot be read."""
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return True
    listening = 0x10000
    return any(
        len(fields) >= 8 and fields[7] == str(path) and int(fields[3], 16) & listening
        for fields in (line.split() for line in lines)
    )


# A command's handler: its JSON answer, quickly (it runs in the server's thread), or a Future of it for a command that
# takes time (reload): the client then waits up to SLOW_TIMEOUT seconds while the server serves the others.
Command = Callable[[], "dict | Future[dict]"]


def control_dropped() -> Tally:
    """The control_dropped count, with its log line."""
    return Tally(
        f"control socket: %d connection(s) closed unanswered: more than {MAX_CLIENTS} at once, "
        f"or no whole exchange within {CLIENT_TIMEOUT:g} s"
    )


class ControlServer:
    """Answers commands on a Unix socket (a BoundedServer); `close()` removes the socket file.

    commands maps each command word to its handler, e.g. {"stats":
    stats.snapshot}; a new command is one more entry.
    """

    def __init__(self, path: Path, commands: Mapping[str, Command], dropped: Tally | None = None):
        self.path = path
        self.commands = dict(commands)
        protocol = Protocol(
            end=b"\n", max_request=MAX_COMMAND, respond=self.respond, deadline=CLIENT_TIMEOUT, max_connections=MAX_CLIENTS,
            busy=_line({"error": f"busy: {MAX_CLIENTS} clients are connected; try again"}),
            too_slow=_line({"error": f"no command within {CLIENT_TIMEOUT:g} s"}),
            slow_deadline=SLOW_TIMEOUT, no_answer=_line({"error": f"no answer within {SLOW_TIMEOUT:g} s"}),
        )  # fmt: skip
        self._server = BoundedServer(self._bind(path), protocol, "control socket", dropped or control_dropped())

    @staticmethod
    def _bind(path: Path) -> socket.socket:
        try:
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError as e:
            raise ControlError(
                f"cannot create {path.parent} for the control socket: {e.strerror}; give --control-socket PATH"
            ) from None
        if path.exists() or path.is_symlink():
            _remove_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # created 0600 from the start: no moment where others could connect
        try:
            sock.bind(str(path))
        except OSError as e:
            sock.close()
            raise ControlError(f"cannot create the control socket {path}: {e.strerror}") from None
        finally:
            os.umask(old_umask)
        sock.listen(BACKLOG)
        return sock

    def respond(self, line: bytes | None) -> bytes | Future:
        """One request line (None: too long, or not ended by a newline) → one JSON line (or a Future of it)."""
        answer = self.answer(line)
        if not isinstance(answer, Future):
            return _line(answer)
        line_future: Future = Future()
        answer.add_done_callback(lambda done: line_future.set_result(_line(_result(done))))
        return line_future

    def answer(self, line: bytes | None) -> dict | Future:
        known = ", ".join(self.commands)
        if line is None:
            return {
                "error": f"command too long or not ended by a newline (at most {MAX_COMMAND} bytes); commands: {known}"
            }
        try:
            command = line.decode("ascii").strip()
        except UnicodeDecodeError:
            return {"error": f"command is not ASCII text; commands: {known}"}
        handler = self.commands.get(command)
        if handler is None:
            return {"error": f"unknown command {command!r}; commands: {known}"}
        try:
            return handler()
        except Exception as e:  # noqa: BLE001  (a failing command is answered, and the instance carries on)
            log.error("control socket: %r failed: %s: %s", command, type(e).__name__, e)
            return {"error": f"{command!r} failed: {e}"}

    def close(self) -> None:
        self._server.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:  # after --user, a directory only root may write to: the next instance replaces it
            log.warning("control socket: cannot remove %s (%s); it is left, and replaced next time", self.path,
                        e.strerror)  # fmt: skip
        if self.path.parent.parent == RUN_DIR:  # a per-namespace directory: labs come and go, leave none behind
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()  # only if empty


def _result(future: Future) -> dict:
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001  (a failing command is answered, and the instance carries on)
        log.error("control socket: a command failed: %s: %s", type(e).__name__, e)
        return {"error": f"failed: {e}"}


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def _line(answer: dict) -> bytes:
    return json.dumps(answer).encode() + b"\n"


def _remove_stale(path: Path) -> None:
    """A socket nobody answers on is left from a killed instance: remove it. One that answers is in use.

    Anything but a socket is never removed: connecting to a file fails the same
    way as to a dead socket, and the path may be a user's typo.
    """
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise ControlError(f"{path} exists and is not a socket; give --control-socket a free path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        try:
            path.unlink()
        except OSError as e:
            raise ControlError(f"cannot remove the stale control socket {path}: {e.strerror}") from None
        return
    except OSError as e:
        raise ControlError(
            f"{path} exists and is not a usable control socket ({e.strerror}); give --control-socket PATH"
        ) from None
    finally:
        probe.close()
    raise ControlError(f"another arpresponder answers on {path}; give this one --control-socket PATH")


def query(path: Path, command: str = "stats", timeout: float = 5.0, errors: bool = True) -> dict:
    """Send one command to a running instance; its answer. ControlError if it cannot be asked, or (errors=True) if
    its answer is {"error": …}."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        data = _exchange(sock, command.encode() + b"\n")
    except FileNotFoundError:
        raise ControlError(
            f"no control socket at {path}: is arpresponder running (with this interface, in this namespace)?"
        ) from None
    except PermissionError:
        raise ControlError(
            f"permission denied on {path}: the control socket is for its owner only (run as root)"
        ) from None
    except ConnectionRefusedError:
        if not _is_socket(path):
            raise ControlError(f"{path} is not a control socket (not a socket at all)") from None
        raise ControlError(f"nothing answers on {path}: the instance that made it has stopped") from None
    except TimeoutError:
        raise ControlError(f"{path} did not answer within {timeout:g} s") from None
    except OSError as e:
        raise ControlError(f"cannot ask {path}: {e.strerror or e}") from None
    finally:
        sock.close()
    try:
        answer = json.loads(data)
    except ValueError:
        raise ControlError(f"{path} answered something that is not JSON") from None
    if errors and "error" in answer:
        raise ControlError(f"{path}: {answer['error']}")
    return answer


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send request and read the answer until the server closes.

    A busy server answers at once and closes, maybe before our request is
    sent (EPIPE) or read: then the kernel reports ECONNRESET once, after the
    answer or before it; the answer is still there to read.
    """
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(request)
    data = b""
    reset = False
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            if data:
                return data
            if reset:
                raise
            reset = True
            continue
        if not chunk:
            return data
        data += chunk
