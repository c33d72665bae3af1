"""Who else uses our addresses, and what we do about it: the owner table, the conflict policies, claiming only
unowned addresses.

Every ARP frame says who uses which address: a request's sender, a reply's,
an announcement's. The responder hands each frame that names an address of
our set as its sender, from a MAC that is not ours, to `Owners.seen`. The
table is bounded (`max_entries`, least recently seen first out) and ages
entries out (`age` seconds without a sighting): its memory does not grow
with the traffic.

What a sighting does depends on the interface's policy (`on_conflict`):

- `warn`: keep answering; warn once per address; count.
- `yield`: stop answering the address while the other host has been seen
  within `age`; then resume, announcing it again.
- `defend` (RFC 5227 section 2.4 (c), for hosts that keep using an
  address): announce it once, and at most once every DEFEND_INTERVAL (10 s);
  if the other host claims it again within that interval, yield.

And with `claim = "unowned"` (honeyd's arpd, Debian's farpd: darknets,
honeypots), nothing is answered until it is claimed: the first request for
an address nobody is known to use starts RFC 5227 probes (sender IP
0.0.0.0); if nobody answers them within `wait` seconds, the address is
claimed and answered from then on, the requests that started it included
while they are recent. A host seen using a claimed address later takes it
back: released, counted, logged.

No sockets and no clock of its own: the caller gives `now` (time.monotonic())
and carries out what the methods return (frames to send, addresses to
announce), so the rules are tested on their own (tests/test_owners.py).
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .codec import format_ipv4, format_mac
from .decision import Drop

log = logging.getLogger("arpresponder")

DEFEND_INTERVAL = 10.0  # seconds (RFC 5227 section 1.1)
SHOWN = 20  # current conflicts a snapshot lists at most (the most recent)
# The outcomes of claim mode (the others, seen warned yielded defended resumed evicted, are the conflict policies').
CLAIM_OUTCOMES = frozenset(
    {"probed", "claimed", "released", "forgotten", "probe-answered", "probe-contended", "probe-refused"}
)


class Policy(StrEnum):
    """on_conflict: what to do when another host uses an address of our set."""

    WARN = "warn"
    YIELD = "yield"
    DEFEND = "defend"


class Claim(StrEnum):
    """claim: which addresses of the set to answer for."""

    ALL = "all"  # every one (the default)
    UNOWNED = "unowned"  # only those nobody else is seen using, after probing them


@dataclass
class Owner:
    mac: bytes  # the other host's, from the frame's sender hardware address
    last_seen: float  # time.monotonic()
    frames: int = 1


@dataclass
class Outcomes:
    """What the policies did, by name (the snapshot's `conflict_outcomes`)."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] += n


class Withheld(Mapping[int, Drop]):
    """What decide() is told not to answer, and why, for one link: the subnets' broadcast addresses (fixed), the
    addresses yielded to another host (changing), in standby every address, in claim mode every one not claimed.

    decide() asks `tpa in withheld` and then `withheld[tpa]`; it only asks for
    a target of the set it would otherwise answer. Iterating gives the finite
    part (broadcasts and yielded) only: in standby or claim mode the rest is
    not a list (batch paths must then leave every frame to decide()).
    """

    def __init__(self, fixed: Mapping[int, Drop]):
        self.fixed = dict(fixed)
        self.yielded: dict[int, Drop] = {}  # ip → YIELDED or OWNED (claim mode: another host's)
        self.standby = False
        self.claimed: set[int] | None = None  # claim mode: what we have claimed; None: answer every address

    @property
    def finite(self) -> bool:
        """Whether iterating gives every withheld address (not in standby or claim mode)."""
        return not self.standby and self.claimed is None

    def __contains__(self, ip: object) -> bool:
        if self.standby or ip in self.fixed or ip in self.yielded:
            return True
        return self.claimed is not None and ip not in self.claimed

    def __getitem__(self, ip: int) -> Drop:
        if self.standby:
            return Drop.STANDBY
        reason = self.fixed.get(ip) or self.yielded.get(ip)
        if reason is not None:
            return reason
        if self.claimed is not None and ip not in self.claimed:
            return Drop.UNCLAIMED
        raise KeyError(ip)

    def __bool__(self) -> bool:
        return self.standby or self.claimed is not None or bool(self.fixed) or bool(self.yielded)

    def __iter__(self) -> Iterator[int]:
        yield from self.fixed
        yield from (ip for ip in self.yielded if ip not in self.fixed)

    def __len__(self) -> int:
        return len(self.fixed) + sum(1 for ip in self.yielded if ip not in self.fixed)


@dataclass
class Probing:
    """An address being probed (claim mode): when it started, probes sent, the requests waiting for it."""

    started: float
    sent: int = 0
    waiting: list[bytes] = field(default_factory=list)  # request frames to answer once claimed


@dataclass
class Actions:
    """What the caller is to do after a call: announce these, send these frames, answer these requests."""

    announce: list[tuple[int, str]] = field(default_factory=list)  # (ip, why)
    defend: list[int] = field(default_factory=list)  # one announcement each (RFC 5227 defence)
    probes: list[int] = field(default_factory=list)  # send an ARP probe for each
    answer: list[bytes] = field(default_factory=list)  # decide these requests again (now claimed) and send

    def __bool__(self) -> bool:
        return bool(self.announce or self.defend or self.probes or self.answer)


class Owners:
    """One link's owner table, conflict policy and (claim mode) claims. Every method takes `now` and returns the
    Actions for the caller to carry out."""

    def __init__(
        self,
        label: str,
        withheld: Withheld,
        policy: Policy = Policy.WARN,
        age: float = 300.0,
        max_entries: int = 4096,
        claim: Claim = Claim.ALL,
        claim_wait: float = 1.0,
        claim_probes: int = 2,
    ):
        self.label = label
        self.withheld = withheld
        self.policy = policy
        self.age = age
        self.max_entries = max_entries
        self.claim = claim
        self.claim_wait = claim_wait
        self.claim_probes = claim_probes
        self.table: OrderedDict[int, Owner] = OrderedDict()  # least recently seen first
        self.outcomes = Outcomes()
        self._warned: set[int] = set()  # bounded with the table: pruned as entries go
        self._defended: dict[int, float] = {}  # ip → when we last defended it
        self.probing: dict[int, Probing] = {}
        self.max_probing = max_entries
        if claim is Claim.UNOWNED:
            withheld.claimed = set()

    # --- sightings ---

    def seen(self, ip: int, mac: bytes, now: float) -> Actions:
        """Another host (mac) uses ip, an address of our set: record it and apply the policy."""
        actions = Actions()
        owner = self.table.get(ip)
        if owner is None:
            owner = self.table[ip] = Owner(mac, now)
            if len(self.table) > self.max_entries:
                old, _ = self.table.popitem(last=False)
                self._forget(old)
                self.withheld.yielded.pop(old, None)  # no memory of its owner left: answered (or probed) again
                self.outcomes.add("evicted")
        else:
            owner.mac, owner.last_seen, owner.frames = mac, now, owner.frames + 1
            self.table.move_to_end(ip)
        self.outcomes.add("seen")
        if self.claim is Claim.UNOWNED:
            self._taken_back(ip, mac, now)
            return actions
        if self.policy is Policy.WARN:
            if ip not in self._warned:
                self._warned.add(ip)
                self.outcomes.add("warned")
                log.warning(
                    "%s: another host (%s) uses %s, an address of our set; still answering for it (on_conflict = "
                    "warn): further frames are counted", self.label, format_mac(mac), format_ipv4(ip),
                )  # fmt: skip
        elif self.policy is Policy.YIELD:
            self._yield(ip, mac)
        elif ip not in self.withheld.yielded:  # defend, and not yielded yet
            last = self._defended.get(ip)
            if last is None or now - last >= DEFEND_INTERVAL:
                self._defended[ip] = now
                self.outcomes.add("defended")
                actions.defend.append(ip)
                log.warning("%s: another host (%s) uses %s; defending it (one announcement)",
                            self.label, format_mac(mac), format_ipv4(ip))  # fmt: skip
            else:
                self._yield(ip, mac)
        return actions

    def _yield(self, ip: int, mac: bytes) -> None:
        if ip in self.withheld.yielded:
            return
        self.withheld.yielded[ip] = Drop.YIELDED
        self.outcomes.add("yielded")
        log.warning(
            "%s: another host (%s) uses %s: not answering for it until that host has not been seen for %g s",
            self.label, format_mac(mac), format_ipv4(ip), self.age,
        )  # fmt: skip

    def _taken_back(self, ip: int, mac: bytes, now: float) -> None:
        """Claim mode: a host uses ip. A probe under way fails; a claim is released; either way it is theirs."""
        if self.probing.pop(ip, None) is not None:
            self.outcomes.add("probe-answered")
        elif self.withheld.claimed is not None and ip in self.withheld.claimed:
            self.withheld.claimed.discard(ip)
            self.outcomes.add("released")
            log.warning("%s: another host (%s) uses %s, which we had claimed: released to it",
                        self.label, format_mac(mac), format_ipv4(ip))  # fmt: skip
        if ip not in self.withheld.yielded:
            self.withheld.yielded[ip] = Drop.OWNED

    def probed(self, ip: int, now: float) -> Actions:
        """Claim mode: another host probes ip (RFC 5227: it wants it too). Our probe, if any, gives way."""
        if self.probing.pop(ip, None) is not None:
            self.outcomes.add("probe-contended")
        return Actions()

    # --- claim mode ---

    def unclaimed(self, ip: int, request: bytes, now: float) -> Actions:
        """Claim mode: a request for ip, which nobody is known to use and we have not claimed: probe it."""
        actions = Actions()
        if ip in self.withheld.yielded:
            return actions  # another host's
        probe = self.probing.get(ip)
        if probe is None:
            if len(self.probing) >= self.max_probing:
                self.outcomes.add("probe-refused")  # too many at once: the requester asks again
                return actions
            probe = self.probing[ip] = Probing(now)
            self.outcomes.add("probed")
            actions.probes.append(ip)
            probe.sent = 1
        # The requests to answer on claiming: one per asker (sha, spa), its latest (a retry asks the same).
        asker = request[22:32]
        probe.waiting = [w for w in probe.waiting if w[22:32] != asker]
        if len(probe.waiting) < 8:
            probe.waiting.append(request)
        return actions

    # --- time ---

    def tick(self, now: float) -> Actions:
        """Age the table out, resume what was yielded, send due probes, claim what nobody answered."""
        actions = Actions()
        while self.table:
            ip, owner = next(iter(self.table.items()))
            if now - owner.last_seen < self.age:
                break
            del self.table[ip]
            self._forget(ip)
            reason = self.withheld.yielded.pop(ip, None)
            if reason is Drop.OWNED:  # claim mode: unknown again; the next request for it probes it again
                self.outcomes.add("forgotten")
                log.info("%s: %s not seen from another host for %g s: probed again when next asked for",
                         self.label, format_ipv4(ip), self.age)  # fmt: skip
            elif reason is not None:
                self.outcomes.add("resumed")
                log.info("%s: %s not seen from another host for %g s: answering for it again",
                         self.label, format_ipv4(ip), self.age)  # fmt: skip
                actions.announce.append((ip, "resumed"))
        for ip, probe in list(self.probing.items()):
            elapsed = now - probe.started
            if elapsed >= self.claim_wait:
                del self.probing[ip]
                self.withheld.claimed.add(ip)
                self.outcomes.add("claimed")
                log.info("%s: nobody answered %d probe(s) for %s in %g s: claimed",
                         self.label, probe.sent, format_ipv4(ip), self.claim_wait)  # fmt: skip
                actions.answer += probe.waiting
            elif probe.sent < self.claim_probes and elapsed >= probe.sent * self.claim_wait / self.claim_probes:
                probe.sent += 1
                actions.probes.append(ip)
        return actions

    def next_due(self) -> float | None:
        """When tick() next has something to do (time.monotonic()); None: nothing pending."""
        dues = []
        if self.table:
            dues.append(next(iter(self.table.values())).last_seen + self.age)
        for probe in self.probing.values():
            step = self.claim_wait / self.claim_probes
            dues.append(probe.started + (probe.sent * step if probe.sent < self.claim_probes else self.claim_wait))
        return min(dues, default=None)

    def clear(self) -> None:
        """Forget every other host (keepalived elected us: the set is ours now); claims and counts stay."""
        self.table.clear()
        self._warned.clear()
        self._defended.clear()
        self.withheld.yielded.clear()

    def _forget(self, ip: int) -> None:
        self._warned.discard(ip)
        self._defended.pop(ip, None)

    # --- for the views ---

    def snapshot(self, now: float) -> dict:
        """{"conflicts": the most recent sightings, "conflict_outcomes": counts, "claims": claim mode's state}."""
        recent = list(self.table.items())[-SHOWN:]
        conflicts = [
            {
                "ip": format_ipv4(ip),
                "mac": format_mac(owner.mac),
                "seen_s_ago": round(now - owner.last_seen, 1),
                "frames": owner.frames,
                "yielded": ip in self.withheld.yielded,
            }
            for ip, owner in reversed(recent)
        ]
        claims = None
        if self.claim is Claim.UNOWNED:
            claims = {"claimed": len(self.withheld.claimed or ()), "probing": len(self.probing)}
        return {
            "on_conflict": str(self.policy),
            "claim": str(self.claim),
            "conflicts": conflicts,
            "conflicts_known": len(self.table),
            "conflict_outcomes": dict(self.outcomes.counts),
            "claims": claims,
        }
