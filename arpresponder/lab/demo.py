"""`arpresponder demo`: the whole story in a throwaway lab, checked as it is shown."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..addrset import AddressSet
from ..codec import parse_ipv4
from .netns import DEFAULT_SET, PEER_IF, RESPONDER_IF, RESPONDER_MAC, Lab, LabError, ResponderProcess

# In the set: a lone address, both ends of the /26, one inside. Not: the hole, just past the block, a neighbour.
PROBED = ("198.51.100.7", "198.51.100.128", "198.51.100.150", "198.51.100.191",
          "198.51.100.130", "198.51.100.192", "198.51.100.8")  # fmt: skip


@dataclass
class Probe:
    ip: str
    in_set: bool
    kernel_mac: str | None = None  # what the peer's neighbour table says after a ping
    kernel_state: str = ""
    arping_replies: int = 0
    arping_macs: frozenset[str] = frozenset()

    @property
    def as_expected(self) -> bool:
        if self.in_set:
            return self.kernel_mac == RESPONDER_MAC and self.arping_replies == 2 and self.arping_macs == {RESPONDER_MAC}
        return self.kernel_mac is None and self.arping_replies == 0


def run_demo(engine: str, say: Callable[[str], None]) -> bool:
    """True if every probe saw what the set says."""
    addresses = AddressSet.parse(DEFAULT_SET)
    lab = Lab.unique("arpr-demo")

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks that stop the responder and remove the lab

    signal.signal(signal.SIGTERM, interrupted)
    say(f"building lab {lab.name}: {lab.responder_ns}/{RESPONDER_IF} <-veth-> {lab.peer_ns}/{PEER_IF}")
    try:
        with lab:
            args = ["run", "--interface", RESPONDER_IF, "--engine", engine, *(f"--ip={t}" for t in DEFAULT_SET)]
            say(f"responder: arpresponder {shlex.join(args)}")
            with ResponderProcess(lab, args) as responder:
                probes = [Probe(ip, parse_ipv4(ip) in addresses) for ip in PROBED]
                for probe, (mac, state) in zip(probes, lab.kernel_resolve(PROBED).values()):
                    probe.kernel_mac, probe.kernel_state = mac, state
                with ThreadPoolExecutor(len(probes)) as pool:
                    for probe, (_code, macs) in zip(probes, pool.map(lambda p: lab.arping(p.ip, count=2), probes)):
                        probe.arping_replies, probe.arping_macs = len(macs), frozenset(macs)
                responder.stop()
            _show(probes, say)
            say("\nthe responder's summary:")
            say(responder.stdout.rstrip())
    except KeyboardInterrupt:
        say("interrupted; the lab is removed")
        return False
    except LabError as e:
        say(f"lab failed: {e}")
        return False
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ok = all(p.as_expected for p in probes)
    say(f"\n{'demo OK' if ok else 'demo FAILED'}: the lab is removed")
    return ok


def _show(probes: list[Probe], say: Callable[[str], None]) -> None:
    say(f"\n{'address':<16} {'in set':<7} {'peer kernel (ping, ip neigh)':<32} {'arping -c 2':<34} ok")
    for p in probes:
        kernel = f"{p.kernel_mac} {p.kernel_state}" if p.kernel_mac else f"no answer ({p.kernel_state})"
        arp = f"{p.arping_replies} replies from {', '.join(sorted(p.arping_macs))}" if p.arping_replies else "no reply"
        say(f"{p.ip:<16} {'yes' if p.in_set else 'no':<7} {kernel:<32} {arp:<34} {'yes' if p.as_expected else 'NO'}")
