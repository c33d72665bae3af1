"""arpresponder: answer ARP for a set of IPv4 addresses from userspace."""

__version__ = "0.1.0"
