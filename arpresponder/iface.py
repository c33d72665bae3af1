"""What we need to know about an interface before answering on it, and where the kernel answers ARP too.

Everything is asked of the kernel: links, addresses, routes and neighbours
over netlink (pyroute2), settings from /proc/sys. We do not re-implement
its rules; we look up the tables its rules read:

- the local routing table (`ip route show table local`): its `local`
  routes are addresses the kernel answers for itself, on every link while
  arp_ignore is 0 (measured, Linux 6.18: a /32 on lo, an address on
  another interface, an AnyIP route on lo; with arp_ignore=1 none of them
  on r0); its `broadcast` routes are the subnets' broadcast addresses,
  which the kernel never answers for (measured: it owns 192.0.2.128/25 on
  r0, which has 192.0.2.1/24, and answers .200 but not .255; it answers
  the network address, which has no broadcast route since Linux 5.x);
- proxy ARP (conf.all or conf.IFACE proxy_arp, conf.IFACE proxy_arp_pvlan)
  and proxy neighbour entries (`ip neigh add proxy …`): the kernel answers
  for addresses it routes elsewhere, once forwarding is on (measured: with
  forwarding off it answers none of them).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from .addrset import AddressSet, span_text
from .codec import format_ipv4, format_mac, parse_ipv4, parse_mac
from .errors import UserError

ARPHRD_ETHER = 1
IFF_UP = 0x1
RTN_LOCAL = 2
RTN_BROADCAST = 3
RT_TABLE_LOCAL = 255
NTF_PROXY = 0x08
NUD_VALID = 0xDE  # REACHABLE | STALE | DELAY | PROBE | PERMANENT | NOARP: an entry with a usable MAC
SHOWN = 5  # addresses named in one warning; the rest are counted


class InterfaceError(UserError):
    """The interface is missing or cannot carry Ethernet ARP."""


@dataclass(frozen=True)
class InterfaceFacts:
    name: str
    index: int
    mac: bytes  # 6 bytes
    ipv4: tuple[tuple[int, int], ...]  # (address, prefix length) assigned to the interface
    up: bool  # administratively up (IFF_UP); operstate is "unknown" on some drivers
    vlan_of: tuple[str, int] | None = None  # for a VLAN device (`ip link add link r0 … type vlan id 100`): ("r0", 100)


def _ipr():
    from pyroute2.iproute.linux import IPRoute  # the module itself: importing `pyroute2` costs 0.3 s more

    return IPRoute()


def interface_facts(name: str) -> InterfaceFacts:
    """Look the interface up; InterfaceError (listing the ones that exist) if it is missing or not Ethernet."""
    with _ipr() as ipr:
        indexes = ipr.link_lookup(ifname=name)
        if not indexes:
            raise InterfaceError(f"no interface named {name!r}; interfaces here: {', '.join(interface_names())}")
        link = ipr.get_links(indexes[0])[0]
        addresses = tuple(
            (parse_ipv4(a.get_attr("IFA_ADDRESS")), a["prefixlen"])
            for a in ipr.get_addr(family=socket.AF_INET, index=indexes[0])
        )
        vlan_of = _vlan_of(ipr, link)
    mac_text = link.get_attr("IFLA_ADDRESS")
    mac = parse_mac(mac_text) if mac_text and len(mac_text) == 17 else None
    if link["ifi_type"] != ARPHRD_ETHER or mac is None or not any(mac):
        raise InterfaceError(f"{name} is not an Ethernet interface; ARP needs one (a veth, a NIC, a bridge)")
    return InterfaceFacts(name, indexes[0], mac, addresses, bool(link["flags"] & IFF_UP), vlan_of)


def _vlan_of(ipr, link) -> tuple[str, int] | None:
    """(parent name, VLAN ID) if link is a VLAN device (IFLA_LINKINFO kind "vlan"), else None."""
    info = link.get_attr("IFLA_LINKINFO")
    if info is None or info.get_attr("IFLA_INFO_KIND") != "vlan":
        return None
    data = info.get_attr("IFLA_INFO_DATA")
    vid = data.get_attr("IFLA_VLAN_ID") if data is not None else 0
    parents = ipr.get_links(link.get_attr("IFLA_LINK")) if link.get_attr("IFLA_LINK") else []
    return (parents[0].get_attr("IFLA_IFNAME") if parents else "?"), vid


def interface_names() -> list[str]:
    """The interfaces of this network namespace, by name."""
    with _ipr() as ipr:
        return sorted(link.get_attr("IFLA_IFNAME") for link in ipr.get_links())


def broadcast_targets(addresses: AddressSet) -> dict[int, str]:
    """Addresses of the set that the kernel routes as broadcast (its subnets' broadcast addresses) → interface name.

    Requests for them must not be answered: a scanner would list a host
    that is the whole subnet. From the local table's broadcast routes.
    """
    with _ipr() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        found = {}
        for route in ipr.get_routes(family=socket.AF_INET, table=RT_TABLE_LOCAL, type=RTN_BROADCAST):
            ip = parse_ipv4(route.get_attr("RTA_DST"))
            if ip in addresses:
                found[ip] = names.get(route.get_attr("RTA_OIF"), "?")
    return found


def warnings_for(facts: InterfaceFacts, addresses: AddressSet) -> list[str]:
    """Things that work but are probably not what the user wants, each naming its cause and addresses."""
    warnings = []
    if not facts.up:
        warnings.append("the interface is down: nothing will be received until it is up")
    warnings += kernel_answers_too(facts, addresses)
    broadcast = broadcast_targets(addresses)
    if broadcast:
        shown = _some(f"{format_ipv4(ip)} ({name})" for ip, name in sorted(broadcast.items()))
        warnings.append(
            f"not answering {shown}: in the set, but the broadcast address of a subnet here (the kernel does not "
            "answer for it either); requests for it are counted as 'subnet-broadcast'"
        )
    ours = {facts.mac, *addresses.entry_macs()}
    owned = [(ip, mac) for ip, mac in neighbours(facts.index) if ip in addresses and mac not in ours]
    for ip, mac in owned[:SHOWN]:
        warnings.append(
            f"{format_ipv4(ip)} is in the neighbour table at {format_mac(mac)}: another host seems to own it, "
            "and answering for it takes its traffic"
        )
    if len(owned) > SHOWN:
        warnings.append(f"... and {len(owned) - SHOWN} more addresses in the set that other hosts seem to own")
    return warnings


def kernel_answers_too(facts: InterfaceFacts, addresses: AddressSet) -> list[str]:
    """Why the kernel would also answer, on facts.name, for addresses of the set: one warning per cause.

    Each names the cause (the address and where it is local, the sysctl
    or the proxy entry) and the addresses. See the module docstring for
    what was measured.
    """
    name = facts.name
    warnings = []
    arp_ignore = max(_sysctl_int("all", "arp_ignore"), _sysctl_int(name, "arp_ignore"))
    with _ipr() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        local = [
            (parse_ipv4(route.get_attr("RTA_DST")), route["dst_len"], names.get(route.get_attr("RTA_OIF"), "?"))
            for route in ipr.get_routes(family=socket.AF_INET, table=RT_TABLE_LOCAL, type=RTN_LOCAL)
        ]
        proxies = [
            (parse_ipv4(entry.get_attr("NDA_DST")), names.get(entry["ifindex"], "any interface"))
            for entry in ipr.neigh("dump", family=socket.AF_INET, flags=NTF_PROXY, dump_filter=_everything)
            if entry["ifindex"] in (0, facts.index)
        ]
    on_this = {ip for ip, _ in facts.ipv4}
    for dst, dst_len, dev in local:
        first, last = dst, dst | ((1 << (32 - dst_len)) - 1)
        hits = addresses.within(first, last, SHOWN + 1)
        if not hits:
            continue
        where = span_text(first, last)
        if first == last and first in on_this:
            warnings.append(f"{where} is assigned to {name}: the kernel answers for it too")
        elif arp_ignore == 0:
            warnings.append(
                f"{_some(map(format_ipv4, hits))} {'is' if len(hits) == 1 else 'are'} local here ({where} on {dev}): "
                f"with arp_ignore=0 the kernel answers for {'it' if len(hits) == 1 else 'them'} on {name} too"
            )
    forwarding = _sysctl_int(name, "forwarding") == 1
    when = "it does now: forwarding is on" if forwarding else "once forwarding is on for it; it is off now"
    for scope in ("all", name):
        if _sysctl_int(scope, "proxy_arp"):
            warnings.append(
                f"net.ipv4.conf.{scope}.proxy_arp is on: the kernel answers on {name} for the set's addresses it "
                f"routes through another interface ({when})"
            )
    if _sysctl_int(name, "proxy_arp_pvlan"):
        warnings.append(
            f"net.ipv4.conf.{name}.proxy_arp_pvlan is on: the kernel answers on {name} for the set's addresses it "
            f"routes back out of {name} ({when})"
        )
    proxied = [(ip, dev) for ip, dev in proxies if ip in addresses]
    if proxied:
        warnings.append(
            f"proxy neighbour entries for {_some(f'{format_ipv4(ip)} ({dev})' for ip, dev in proxied)}: the "
            f"kernel answers for them on {name} when they route through another interface ({when})"
        )
    return warnings


def neighbours(ifindex: int) -> list[tuple[int, bytes]]:
    """(ip, mac) of the kernel's ARP entries on the interface that hold a MAC."""
    with _ipr() as ipr:
        entries = ipr.get_neighbours(family=socket.AF_INET, ifindex=ifindex)
    found = []
    for entry in entries:
        lladdr = entry.get_attr("NDA_LLADDR")
        if entry["state"] & NUD_VALID and lladdr and len(lladdr) == 17:
            found.append((parse_ipv4(entry.get_attr("NDA_DST")), parse_mac(lladdr)))
    return found


def _everything(_message: object) -> bool:
    """A dump filter that keeps every message: given explicitly, pyroute2 puts the other keywords in the request."""
    return True


def _some(items) -> str:
    items = list(items)
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _sysctl_int(scope: str, key: str) -> int:
    """net.ipv4.conf.SCOPE.KEY as an integer; 0 when it cannot be read (not Linux, no such interface)."""
    try:
        return int(Path(f"/proc/sys/net/ipv4/conf/{scope}/{key}").read_text())
    except (OSError, ValueError):
        return 0
