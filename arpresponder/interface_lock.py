"""One instance per interface: a second one on the same link would answer every request again.

An instance locks its interface by binding an abstract Unix socket named
after it (`@arpresponder/interface/r0`; a VLAN answered on its parent,
`@arpresponder/interface/r0/vlan/100`). Abstract socket names belong to a
network namespace, as interface names do, so two labs' r0 never collide
while two containers sharing one namespace do; the kernel releases the
name when the process ends, however it ends (no stale lock file after a
SIGKILL). Who holds a name is read from /proc/net/unix and the holders'
/proc/PID/fd, only when taking the lock fails.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path

from .errors import UserError

PREFIX = "arpresponder/interface/"


class InterfaceTaken(UserError):
    """Another process already answers on the interface."""


class InterfaceLock:
    """Holds the lock on one interface until close(); InterfaceTaken (naming the holder's pid) if it is held."""

    def __init__(self, interface: str, vlan: int = 0):
        self.interface = f"{interface} vlan {vlan}" if vlan else interface
        self.name = PREFIX + interface + (f"/vlan/{vlan}" if vlan else "")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.bind("\0" + self.name)
        except OSError as e:
            self._sock.close()
            if e.errno != errno.EADDRINUSE:
                raise UserError(f"cannot lock {self.interface} for this instance: {e.strerror or e}") from None
            pid = holder_pid(self.name)
            who = f"pid {pid}" if pid else "a process in another PID namespace"
            raise InterfaceTaken(
                f"another arpresponder ({who}) answers on {self.interface} in this network namespace already: two would "
                "answer every request twice; stop it, or give --share-interface if that is what you want"
            ) from None

    def close(self) -> None:
        self._sock.close()


def holder_pid(name: str) -> int | None:
    """The pid of a process holding the abstract Unix socket `@name` in our network namespace, if we can see one."""
    inode = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == "@" + name:
                inode = fields[6]
                break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return int(pid)
    return None
