"""Does a responder's memory grow with the malformed frames it takes? RSS after 0, 0.5M, 1M, 2M and 4M of them.

    .venv/bin/python -m bench.malformed_rss                      # both engines, 4M frames each (~8 min)
    .venv/bin/python -m bench.malformed_rss --engine scapy --total 1000000

Run as root from the repository checkout. It builds its own veth lab; trafgen sends, from the peer, a cycle of
malformed ARP requests with opcode 1, which the decision drops: hardware type 2, hardware length 7, a multicast
sender MAC, a gratuitous request, a loopback sender IP, random sender IPs (a new key for the top-K sketch nearly
every frame), all for an in-set target, which every engine's kernel filter lets through; and two that only the
scapy engine sees (the packet engine's filter, holding the set, removes them): a 30-byte truncated request and
one whose every byte after the EtherType but the opcode is random. The responder is pinned to CPU 1 and
trafgen to CPU 0; each step sends what is missing to reach its count at --rate frames/s, waits until the
responder has handled them, sends again what is still missing (the packet engine's filter takes a quarter),
then reads VmRSS. Frames the kernel dropped for lack of
buffer are not handled, so the count reached is what the responder *handled* (the `received` counter).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from arpresponder.lab.netns import PEER_MAC, RESPONDER_IF, Lab, ResponderProcess

from .load import RESPONDER_CPU, Flood
from .measure import rss_kib

STEPS = (0.125, 0.25, 0.5, 1.0)  # of --total: 0.5M, 1M, 2M, 4M by default
WARM_UP = 10_000  # frames: the first ones allocate what every later one reuses (batch lists, socket buffers)
TARGET = "198.51.100.9"  # in the set, so the packet engine's filter lets the frames through too


def _hex(*values: int) -> str:
    return ", ".join(f"0x{v:02x}" for v in values)


def malformed_config() -> str:
    """trafgen packets, sent in turn: each an ARP request (op 1) for TARGET that decide() drops."""
    mac = [int(b, 16) for b in PEER_MAC.split(":")]
    target = [int(b) for b in TARGET.split(".")]

    def frame(htype: int, hlen: int, sha: str, spa: str) -> str:
        return (f"{{ fill(0xff, 6), {_hex(*mac)}, c16(0x0806), c16({htype}), c16(0x0800), {hlen}, 4, c16(1), "
                f"{sha}, {spa}, fill(0x00, 6), {_hex(*target)}, fill(0x00, 18) }}\n")  # fmt: skip

    peer = _hex(*mac)
    return "".join([
        frame(2, 6, peer, "192, 0, 2, 2"),  # unsupported: htype 2
        frame(1, 7, peer, "192, 0, 2, 2"),  # unsupported: hlen 7
        frame(1, 6, "0x01, 0x00, 0x5e, 0x00, 0x00, 0x01", "192, 0, 2, 2"),  # bad-sender: multicast MAC
        frame(1, 6, peer, _hex(*target)),  # gratuitous: sender IP = target IP
        frame(1, 6, peer, "127, 0, 0, 1"),  # bad-sender: loopback
        frame(1, 6, "0x01, 0x00, 0x5e, 0x00, 0x00, 0x02", "10, drnd(3)"),  # bad-sender, a random sender IP each time
        # truncated: 30 bytes, cut inside the sender IP (random, so the sketches see ever new short keys)
        f"{{ fill(0xff, 6), {peer}, c16(0x0806), c16(1), c16(0x0800), 6, 4, c16(1), {peer}, drnd(2) }}\n",
        # unsupported: everything after the opcode random, 60 bytes
        f"{{ fill(0xff, 6), {peer}, c16(0x0806), drnd(6), c16(1), drnd(38) }}\n",
    ])  # fmt: skip


def received(lab: Lab, ctl: Path) -> int:
    out = lab.run(
        lab.responder_ns, sys.executable, "-m", "arpresponder", "stats", "--json", "--control-socket", str(ctl)
    )
    return json.loads(out.stdout)["received"]


def settled(lab: Lab, ctl: Path) -> int:
    """The received count once it stops moving (what the socket held is handled)."""
    handled, still = received(lab, ctl), 0
    while still < 2:
        time.sleep(0.5)
        handled, before = received(lab, ctl), handled
        still = still + 1 if handled == before else 0
    return handled


def measure(lab: Lab, engine: str, total: int, rate: int, config: Path, ctl: Path) -> list[tuple[int, int]]:
    """(frames handled, RSS KiB) at ready, after the warm-up, and at each step."""
    argv = ["run", "-i", RESPONDER_IF, "--engine", engine, "--ip", "198.51.100.0/24", "--control-socket", str(ctl)]
    points = []
    with ResponderProcess(lab, argv, wrapper=("taskset", "-c", str(RESPONDER_CPU))) as responder:
        points.append((0, rss_kib(responder.pid)))
        print(f"{engine}: ready, RSS {points[-1][1]:,} KiB", flush=True)
        for goal in (WARM_UP, *(int(total * step) for step in STEPS)):
            handled = received(lab, ctl)
            while handled < goal:  # again while it helps: a kernel filter or a full buffer takes its share
                with Flood(lab, config, rate, (goal - handled) / rate) as flood:
                    flood.wait()
                handled, before = settled(lab, ctl), handled
                if handled == before:
                    break
            points.append((handled, rss_kib(responder.pid)))
            print(f"{engine}: {handled:>9,} malformed frames handled, RSS {points[-1][1]:,} KiB", flush=True)
        responder.stop()
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("packet", "scapy"), action="append")
    parser.add_argument("--total", type=int, default=4_000_000, help="frames at the last step (4M)")
    parser.add_argument("--rate", type=int, default=30_000, help="frames/s trafgen offers (30k)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Lab.unique("arpr-rss") as lab:
        config = Path(tmp) / "malformed.cfg"
        config.write_text(malformed_config())
        results = {}
        for engine in args.engine or ("scapy", "packet"):
            points = measure(lab, engine, args.total, args.rate, config, Path(tmp) / f"{engine}.sock")
            results[engine] = points
            base = points[1][1]
            print(f"{engine}: warm-up (first {WARM_UP:,} frames) +{base - points[0][1]} KiB; after it: "
                  + ", ".join(f"{n / 1e6:.2g}M +{rss - base} KiB" for n, rss in points[2:]), flush=True)  # fmt: skip
        print(json.dumps(results))


if __name__ == "__main__":
    main()
