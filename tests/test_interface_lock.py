"""One instance per interface: the lock is an abstract Unix socket, released by the kernel whatever ends the process."""

import os
import subprocess
import sys

import pytest

from arpresponder.interface_lock import InterfaceLock, InterfaceTaken


def test_a_second_lock_names_the_holder_and_a_released_one_is_free_again():
    name = f"test{os.getpid()}"[:15]
    first = InterfaceLock(name)
    with pytest.raises(InterfaceTaken, match=rf"another arpresponder \(pid {os.getpid()}\) answers on {name}"):
        InterfaceLock(name)
    first.close()
    InterfaceLock(name).close()


def test_a_killed_holder_leaves_no_lock_behind():
    name = f"kill{os.getpid()}"[:15]
    code = f"from arpresponder.interface_lock import InterfaceLock; c = InterfaceLock({name!r}); print('held', flush=True); input()"
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(InterfaceTaken, match=rf"pid {holder.pid}"):
            InterfaceLock(name)
    finally:
        holder.kill()
        holder.wait()
    InterfaceLock(name).close()
