"""What we need to know about the interface before answering on it, and what to warn about."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import netifaces

from .addrset import AddressSet
from .codec import AddressSyntaxError, format_ipv4, format_mac, parse_ipv4, parse_mac
from .errors import UserError

ARPHRD_ETHER = 1


class InterfaceError(UserError):
    """The interface is missing or cannot carry Ethernet ARP."""


@dataclass(frozen=True)
class InterfaceFacts:
    name: str
    mac: bytes
    ipv4: tuple[int, ...]  # addresses assigned to the interface
    proxy_arp: bool | None  # None: unknown (not Linux)
    up: bool | None


def interface_facts(name: str) -> InterfaceFacts:
    """Look the interface up; InterfaceError (listing the ones that exist) if it is not usable."""
    available = netifaces.interfaces()
    if name not in available:
        raise InterfaceError(f"no interface named {name!r}; interfaces here: {', '.join(sorted(available))}")
    addrs = netifaces.ifaddresses(name)
    links = addrs.get(netifaces.AF_LINK, [])
    try:
        mac = parse_mac(links[0]["addr"]) if links else None
    except (AddressSyntaxError, KeyError):
        mac = None
    hw_type = _sysfs(name, "type")
    if mac is None or not any(mac) or (hw_type is not None and hw_type != str(ARPHRD_ETHER)):
        raise InterfaceError(f"{name} is not an Ethernet interface; ARP needs one (a veth, a NIC, a bridge)")
    ipv4 = []
    for entry in addrs.get(netifaces.AF_INET, []):
        with contextlib.suppress(AddressSyntaxError, KeyError):
            ipv4.append(parse_ipv4(entry["addr"]))
    proxy = _proc(f"/proc/sys/net/ipv4/conf/{name}/proxy_arp")
    flags = _sysfs(name, "flags")
    up = None if flags is None else bool(int(flags, 16) & 1)  # IFF_UP; operstate is "unknown" on some drivers
    return InterfaceFacts(name, mac, tuple(ipv4), None if proxy is None else proxy != "0", up)


def warnings_for(facts: InterfaceFacts, addresses: AddressSet) -> list[str]:
    """Things that work but are probably not what the user wants."""
    warnings = []
    assigned = [ip for ip in facts.ipv4 if ip in addresses]
    if assigned:
        shown = ", ".join(format_ipv4(ip) for ip in assigned)
        warnings.append(
            f"{shown} {'is' if len(assigned) == 1 else 'are'} assigned to {facts.name}: the kernel answers too"
        )
    if facts.proxy_arp:
        warnings.append(f"proxy_arp is on for {facts.name}: the kernel may answer for addresses it routes, too")
    if facts.up is False:
        warnings.append(f"{facts.name} is down: nothing will be received until it is up")
    ours = {facts.mac, *addresses.entry_macs()}
    owned = [(ip, mac) for ip, mac in neighbours(facts.name) if ip in addresses and mac not in ours]
    for ip, mac in owned[:5]:
        warnings.append(
            f"{format_ipv4(ip)} is in the neighbour table at {format_mac(mac)}: another host seems to own it, "
            "and answering for it takes its traffic"
        )
    if len(owned) > 5:
        warnings.append(f"... and {len(owned) - 5} more addresses in the set that other hosts seem to own")
    return warnings


def neighbours(interface: str) -> list[tuple[int, bytes]]:
    """(ip, mac) of complete entries in the kernel's ARP table for interface (Linux; elsewhere empty)."""
    try:
        lines = Path("/proc/net/arp").read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()  # IP address, HW type, Flags, HW address, Mask, Device
        if len(fields) >= 6 and fields[5] == interface and int(fields[2], 16) & 0x2:  # ATF_COM
            with contextlib.suppress(AddressSyntaxError):
                found.append((parse_ipv4(fields[0]), parse_mac(fields[3])))
    return found


def _sysfs(name: str, attribute: str) -> str | None:
    return _proc(f"/sys/class/net/{name}/{attribute}")


def _proc(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None
