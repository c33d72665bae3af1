"""Clients that misbehave, run as child processes in a lab namespace: `python -m tests.abusers KIND ARGS...`.

Each prints one line once it is doing its harm (LabProcess waits for it),
and is bounded in count and in time: it stops by itself after SECONDS.

    hold-unix PATH N SECONDS         keep N connections to a Unix socket open, saying nothing; reconnect
                                     any the server closes (clients that connect and never send)
    half-open HOST PORT N SECONDS    open N TCP connections, each sending half an HTTP request head, and hold
                                     them (no reconnecting)
    stalled-reader FIFO SECONDS      open FIFO for reading and never read
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import socket
import sys
import time

HALF_A_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # the blank line that ends the head never comes


def hold_unix(path: str, n: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    held: list[socket.socket] = []
    announced = False
    while time.monotonic() < deadline:
        held = [s for s in held if not _closed_by_peer(s)]
        while len(held) < n:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
            except OSError:
                s.close()
                break
            held.append(s)
        if not announced and len(held) == n:
            print(f"holding {n}", flush=True)
            announced = True
        time.sleep(0.05)


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        closed = s.recv(4096, socket.MSG_DONTWAIT) == b""  # an answer ("no command within...") then EOF
    except BlockingIOError:
        return False
    except OSError:
        closed = True
    if closed:
        s.close()
    return closed


def half_open(host: str, port: int, n: int, seconds: float) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
    deadline = time.monotonic() + seconds
    selector = selectors.DefaultSelector()
    held: list[socket.socket] = []
    opened = connecting = failed = 0
    while time.monotonic() < deadline and (opened < n or connecting):
        while opened < n and connecting < 256:
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # connecting: the selector says when it is done
                s.connect((host, port))
            selector.register(s, selectors.EVENT_WRITE)
            opened += 1
            connecting += 1
        for key, _ in selector.select(0.1):
            s = key.fileobj
            selector.unregister(s)
            connecting -= 1
            try:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise ConnectionError
                s.send(HALF_A_REQUEST)
                held.append(s)
            except OSError:
                failed += 1
                s.close()
    print(f"opened {len(held)} half-open connections ({failed} failed)", flush=True)
    time.sleep(max(0.0, deadline - time.monotonic()))


def stalled_reader(fifo: str, seconds: float) -> None:
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, so a writer can open it; never read
    print("reader open, not reading", flush=True)
    time.sleep(seconds)
    os.close(fd)


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "hold-unix":
        hold_unix(args[0], int(args[1]), float(args[2]))
    elif kind == "half-open":
        half_open(args[0], int(args[1]), int(args[2]), float(args[3]))
    elif kind == "stalled-reader":
        stalled_reader(args[0], float(args[1]))
    else:
        sys.exit(f"unknown abuser {kind!r}")
