"""The owner table and its policies, on their own: sightings in, actions and withheld addresses out, time given."""

import pytest

from arpresponder.codec import parse_ipv4, parse_mac
from arpresponder.decision import Drop
from arpresponder.owners import DEFEND_INTERVAL, Claim, Owners, Policy, Withheld
from tests.frames import request

IP = parse_ipv4("198.51.100.10")
OTHER = parse_ipv4("198.51.100.11")
THEIRS = parse_mac("02:00:00:00:00:99")


def owners(policy=Policy.WARN, **options) -> Owners:
    return Owners("r0", Withheld({}), policy, **options)


def test_warn_keeps_answering_and_warns_once_per_address(caplog):
    o = owners()
    for now in (0.0, 1.0, 2.0):
        assert not o.seen(IP, THEIRS, now)
    o.seen(OTHER, THEIRS, 3.0)
    assert IP not in o.withheld and OTHER not in o.withheld
    assert o.outcomes.counts == {"seen": 4, "warned": 2}
    assert sum("another host (02:00:00:00:00:99) uses 198.51.100.10" in r.message for r in caplog.records) == 1


def test_yield_stops_answering_while_the_other_host_is_seen_and_resumes_with_an_announcement():
    o = owners(Policy.YIELD, age=10.0)
    o.seen(IP, THEIRS, 0.0)
    assert o.withheld[IP] is Drop.YIELDED
    o.seen(IP, THEIRS, 8.0)  # seen again: the ageing starts over
    assert not o.tick(15.0) and IP in o.withheld
    actions = o.tick(18.0)
    assert actions.announce == [(IP, "resumed")] and IP not in o.withheld
    assert o.outcomes.counts == {"seen": 2, "yielded": 1, "resumed": 1}
    assert o.next_due() is None


def test_defend_announces_at_most_every_defend_interval_and_yields_when_contested():
    o = owners(Policy.DEFEND, age=60.0)
    assert o.seen(IP, THEIRS, 0.0).defend == [IP] and IP not in o.withheld
    later = o.seen(IP, THEIRS, DEFEND_INTERVAL - 1)  # again within the interval: RFC 5227 2.4 (c) gives it up
    assert not later.defend and o.withheld[IP] is Drop.YIELDED
    assert o.seen(OTHER, THEIRS, 1.0).defend == [OTHER]  # each address on its own


def test_defend_once_more_after_the_interval():
    o = owners(Policy.DEFEND)
    o.seen(IP, THEIRS, 0.0)
    assert o.seen(IP, THEIRS, DEFEND_INTERVAL + 0.1).defend == [IP] and IP not in o.withheld
    assert o.outcomes.counts["defended"] == 2


def test_the_table_is_bounded_whatever_the_traffic():
    o = owners(max_entries=16)
    for n in range(1000):
        o.seen(IP + n, THEIRS, float(n))
    assert len(o.table) == 16 and o.outcomes.counts["evicted"] == 1000 - 16
    assert next(iter(o.table)) == IP + 1000 - 16  # the least recently seen went first
    assert len(o._warned) == 16  # what it remembers per address goes with the entry


def test_claim_probes_then_claims_and_answers_the_requests_that_waited():
    o = owners(claim=Claim.UNOWNED, claim_wait=1.0, claim_probes=2)
    assert IP in o.withheld and o.withheld[IP] is Drop.UNCLAIMED
    one, two = request(spa="198.51.100.1"), request(spa="198.51.100.2")
    first = o.unclaimed(IP, one, 0.0)
    assert first.probes == [IP]
    assert not o.unclaimed(IP, two, 0.1).probes  # one probe run per address
    assert not o.unclaimed(IP, one, 0.2).probes  # a retry: answered once
    assert o.next_due() == 0.5
    assert o.tick(0.5).probes == [IP]  # the second probe, half way
    claimed = o.tick(1.0)
    assert claimed.answer == [two, one] and IP not in o.withheld
    assert o.outcomes.counts == {"probed": 1, "claimed": 1}


def test_an_answered_probe_leaves_the_address_to_its_owner():
    o = owners(claim=Claim.UNOWNED)
    o.unclaimed(IP, b"request", 0.0)
    o.seen(IP, THEIRS, 0.2)  # the owner's reply to our probe
    assert not o.tick(5.0).answer
    assert o.withheld[IP] is Drop.OWNED and o.outcomes.counts["probe-answered"] == 1
    assert not o.unclaimed(IP, b"again", 6.0).probes  # known to be theirs: no new probe


def test_a_host_seen_on_a_claimed_address_takes_it_back():
    o = owners(claim=Claim.UNOWNED, age=30.0)
    o.unclaimed(IP, b"request", 0.0)
    o.tick(1.0)
    o.seen(IP, THEIRS, 5.0)
    assert o.withheld[IP] is Drop.OWNED and o.outcomes.counts["released"] == 1
    o.tick(40.0)  # gone for the ageing time: unknown again, to be probed again on the next request
    assert o.withheld[IP] is Drop.UNCLAIMED


def test_another_host_probing_the_same_address_wins():
    o = owners(claim=Claim.UNOWNED)
    o.unclaimed(IP, b"request", 0.0)
    o.probed(IP, 0.1)
    assert not o.tick(2.0).answer and o.outcomes.counts["probe-contended"] == 1


@pytest.mark.parametrize("state", ["standby", "claimed", "fixed"])
def test_withheld_says_why(state):
    w = Withheld({IP: Drop.SUBNET_BROADCAST})
    if state == "standby":
        w.standby = True
        assert w[OTHER] is Drop.STANDBY and w[IP] is Drop.STANDBY and not w.finite
    elif state == "claimed":
        w.claimed = {OTHER}
        assert OTHER not in w and w[IP] is Drop.SUBNET_BROADCAST and w[IP + 5] is Drop.UNCLAIMED
    else:
        assert list(w) == [IP] and OTHER not in w and w.finite and len(w) == 1


def test_claim_mode_forgets_an_owner_that_went_away_and_probes_again():
    o = owners(claim=Claim.UNOWNED, age=10.0, claim_wait=0.5)
    o.seen(IP, THEIRS, 0.0)
    assert o.withheld[IP] is Drop.OWNED
    actions = o.tick(11.0)
    assert not actions.announce  # never announced: not ours until claimed
    assert o.withheld[IP] is Drop.UNCLAIMED and o.outcomes.counts["forgotten"] == 1
    assert o.unclaimed(IP, b"request", 12.0).probes == [IP]


def test_an_evicted_owner_no_longer_withholds_its_address():
    o = owners(Policy.YIELD, max_entries=1)
    o.seen(IP, THEIRS, 0.0)
    o.seen(OTHER, THEIRS, 1.0)
    assert IP not in o.withheld and o.withheld[OTHER] is Drop.YIELDED
    assert o.outcomes.counts["evicted"] == 1


def test_clear_forgets_every_other_host():
    o = owners(Policy.YIELD)
    o.seen(IP, THEIRS, 0.0)
    o.clear()
    assert IP not in o.withheld and not o.table and o.next_due() is None
