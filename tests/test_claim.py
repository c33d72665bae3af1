"""One instance per interface: the claim is an abstract Unix socket, released by the kernel whatever ends the process."""

import os
import subprocess
import sys

import pytest

from arpresponder.claim import InterfaceClaim, InterfaceTaken


def test_a_second_claim_names_the_holder_and_a_released_one_is_free_again():
    name = f"test{os.getpid()}"[:15]
    first = InterfaceClaim(name)
    with pytest.raises(InterfaceTaken, match=rf"another arpresponder \(pid {os.getpid()}\) answers on {name}"):
        InterfaceClaim(name)
    first.close()
    InterfaceClaim(name).close()


def test_a_killed_holder_leaves_no_claim_behind():
    name = f"kill{os.getpid()}"[:15]
    code = f"from arpresponder.claim import InterfaceClaim; c = InterfaceClaim({name!r}); print('held', flush=True); input()"
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(InterfaceTaken, match=rf"pid {holder.pid}"):
            InterfaceClaim(name)
    finally:
        holder.kill()
        holder.wait()
    InterfaceClaim(name).close()
