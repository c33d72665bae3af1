"""A bounded request/response server, for the views that answer on a socket: the control socket and the metrics endpoint.

One thread, non-blocking sockets and a selector. Each connection sends one
request and gets one response, and the whole exchange must be over within
`deadline` seconds of its accept; then it is closed. At most
`max_connections` are open at once: one more gets `busy` and is closed at
once. So a peer that connects and says nothing, or half a request, holds one
slot until its deadline, never the thread, another client or the loop; the
descriptors the server uses are bounded (max_connections + 3); and when the
peer lets go, every slot frees itself. Connections closed unanswered (over
the limit, or past their deadline) are counted in a Tally, which logs at most
one line a minute. If accept() fails for lack of descriptors or memory,
accepting pauses for ACCEPT_PAUSE seconds instead of spinning on a listener
that stays readable.

A response that takes time (a reload of a big set) is a Future: the
connection then waits for it, up to `slow_deadline` seconds from the
request, while the thread serves the others.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from .worker import Tally

log = logging.getLogger("arpresponder")

ACCEPT_PAUSE = 0.5  # seconds without accept() after it failed for lack of resources
ACCEPT_BATCH = 64  # connections accepted in a row before the open ones are looked at again
CLOSE_TIMEOUT = 1.0  # seconds close() waits for the thread
_RECV = 4096
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class Protocol:
    """What a BoundedServer speaks. Responses are whole byte strings, sent as they are."""

    end: bytes  # a request is complete once this appears in it (b"\n"; b"\r\n\r\n" for HTTP)
    max_request: int  # bytes a request may have, `end` excluded
    # The request without `end` (None: too long, or the peer stopped) → the reply, or a Future of it.
    respond: Callable[[bytes | None], bytes | Future]
    busy: bytes  # sent to a connection over max_connections, before it is closed
    too_slow: bytes  # sent to one whose request is not complete (or answered) at its deadline, before it is closed
    deadline: float  # seconds from accept to the end of the response
    max_connections: int  # open at once
    slow_deadline: float = 0.0  # seconds from the request to the end of a reply that came as a Future
    no_answer: bytes = b""  # sent when such a Future is not done by then, before the connection is closed


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    deadline: float  # time.monotonic() by which the exchange is over
    request: bytearray = field(default_factory=bytearray)
    response: memoryview | None = None  # what is left to send, once the request is complete
    pending: Future | None = None  # a reply still being worked out


class BoundedServer:
    """Serves protocol on listener (a bound, listening socket) in a daemon thread named name, until close()."""

    def __init__(self, listener: socket.socket, protocol: Protocol, name: str, dropped: Tally):
        self.listener = listener
        self.protocol = protocol
        self.name = name
        self.dropped = dropped
        self._connections: set[_Connection] = set()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()  # close() writes a byte: select() returns at once
        self._closed = False
        self._accept_paused_until = 0.0
        self._starved_logged = False
        listener.setblocking(False)
        self._wake_r.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving, close every connection and the listener, within CLOSE_TIMEOUT seconds."""
        self._closed = True
        self._wake()
        self._thread.join(CLOSE_TIMEOUT)
        if self._thread.is_alive():
            log.warning("%s: its thread did not stop within %g s; abandoned", self.name, CLOSE_TIMEOUT)
            return
        for connection in list(self._connections):
            self._drop(connection)
        self._selector.close()
        for sock in (self.listener, self._wake_r, self._wake_w):
            sock.close()

    def _run(self) -> None:
        while not self._closed:
            now = time.monotonic()
            wake_by = min((c.deadline for c in self._connections), default=now + 60)
            if self._accept_paused_until:
                wake_by = min(wake_by, self._accept_paused_until)
            for key, mask in self._selector.select(max(0.0, wake_by - now)):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj is self._wake_r:
                    self._drain_wake()  # closed (the loop condition says so), or a Future is done
                elif mask & selectors.EVENT_READ:
                    self._read(key.data)
                else:
                    self._write(key.data)
            self._send_finished()
            self._expire(time.monotonic())

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(_RECV):
                pass

    def _wake(self, _future: Future | None = None) -> None:
        with contextlib.suppress(OSError):  # closed, or full: the thread wakes anyway
            self._wake_w.send(b"\0")

    def _send_finished(self) -> None:
        """Start sending the replies whose Futures are done."""
        for connection in [c for c in self._connections if c.pending is not None and c.pending.done()]:
            future, connection.pending = connection.pending, None
            try:
                response = future.result()
            except Exception as e:  # noqa: BLE001  (a bug answering one request must not end the server)
                log.error("%s: answering a request failed: %s: %s", self.name, type(e).__name__, e)
                self._drop(connection)
                continue
            self._start_sending(connection, response)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(e)
                    return
                continue  # the peer gave up before we accepted (ECONNABORTED): the next one
            sock.setblocking(False)
            if len(self._connections) >= self.protocol.max_connections:
                self.dropped.add()
                self._send_once(sock, self.protocol.busy)
                sock.close()
                continue
            connection = _Connection(sock, time.monotonic() + self.protocol.deadline)
            self._connections.add(connection)
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _pause_accepting(self, error: OSError) -> None:
        if not self._starved_logged:
            self._starved_logged = True
            log.warning("%s: cannot accept connections (%s); pausing %g s each time", self.name, error.strerror,
                        ACCEPT_PAUSE)  # fmt: skip
        self._selector.unregister(self.listener)
        self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE

    def _read(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(_RECV)
        except BlockingIOError:
            return
        except OSError:
            self._drop(connection)  # reset by the peer: nobody to answer
            return
        request = connection.request
        request += data
        end = request.find(self.protocol.end)
        if end >= 0 and end <= self.protocol.max_request:
            self._respond(connection, bytes(request[:end]))
        elif not data or len(request) > self.protocol.max_request + len(self.protocol.end):
            self._respond(connection, None)

    def _respond(self, connection: _Connection, request: bytes | None) -> None:
        try:
            response = self.protocol.respond(request)
        except Exception as e:  # noqa: BLE001  (a bug answering one request must not end the server)
            log.error("%s: answering a request failed: %s: %s", self.name, type(e).__name__, e)
            self._drop(connection)
            return
        if isinstance(response, Future):
            connection.pending = response
            connection.deadline = time.monotonic() + self.protocol.slow_deadline
            self._selector.unregister(connection.sock)  # nothing to read or write until it is done
            response.add_done_callback(self._wake)
            return
        self._start_sending(connection, response)

    def _start_sending(self, connection: _Connection, response: bytes) -> None:
        connection.response = memoryview(response)
        if connection.pending is None and connection.sock.fileno() >= 0:
            with contextlib.suppress(KeyError):
                self._selector.unregister(connection.sock)
            self._selector.register(connection.sock, selectors.EVENT_WRITE, connection)
        self._write(connection)

    def _write(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.response)
        except BlockingIOError:
            return
        except OSError:
            self._drop(connection)
            return
        connection.response = connection.response[sent:]
        if not connection.response:
            self._drop(connection)

    def _expire(self, now: float) -> None:
        late = [c for c in self._connections if c.deadline <= now]
        self.dropped.add(len(late))  # counted before the peer sees the close
        for connection in late:
            if connection.pending is not None:
                self._send_once(connection.sock, self.protocol.no_answer)
            elif connection.response is None:
                self._send_once(connection.sock, self.protocol.too_slow)
            self._drop(connection)
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self._selector.register(self.listener, selectors.EVENT_READ)

    def _drop(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        with contextlib.suppress(KeyError):  # a connection waiting for a Future is not registered
            self._selector.unregister(connection.sock)
        connection.sock.close()

    @staticmethod
    def _send_once(sock: socket.socket, data: bytes) -> None:
        """Best effort, never waits: a peer that does not read it loses it."""
        with contextlib.suppress(OSError):
            sock.send(data)
