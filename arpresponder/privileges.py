"""CAP_NET_RAW for the raw sockets: make it effective where it is only permitted, and say why it is missing.

The container image gives its python binary CAP_NET_RAW as a file capability
in the permitted set only (`setcap cap_net_raw+p`), without the effective bit.
With the effective bit, the kernel refuses to exec the binary at all when the
bounding set lacks the capability (capabilities(7), "Safety checking for
capability-dumb binaries"): `--help` would fail in a container started
without NET_RAW. Permitted only, python starts anywhere, and this module
raises the capability into the effective set just before a raw socket is
opened (`raise_net_raw`); when it cannot, `why_no_net_raw` names the cause.

Capabilities are set per thread: the thread that raises CAP_NET_RAW is the one
that must open the socket.

libcap (libcap.so.2, installed wherever `setcap` is: libcap2-bin depends on
it) is called through ctypes rather than through a Python binding, because
none fits: python-prctl is published as an sdist only and needs libcap's
headers and a C compiler at install; deescalate's last release dates from
2019; oslo.privsep brings a privilege-separation daemon and OpenStack's
dependencies (eventlet, oslo.config, oslo.log). Four libcap calls are all we
need. The process's capability sets are read from /proc/self/status
(proc(5)), which needs no library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from dataclasses import dataclass

from .errors import UserError

NET_RAW = 13  # CAP_NET_RAW, <linux/capability.h>
PR_CAPBSET_DROP = 24  # <linux/prctl.h>
PR_SET_KEEPCAPS = 8

# cap_flag_t and cap_flag_value_t, <sys/capability.h>
CAP_EFFECTIVE = 0
CAP_PERMITTED = 1
CAP_INHERITABLE = 2
_CAP_CLEAR = 0
_CAP_SET = 1

STATUS_FILE = "/proc/self/status"


@dataclass(frozen=True)
class Capabilities:
    """The calling thread's capability sets (capability numbers, e.g. NET_RAW) and no_new_privs flag, from proc(5)."""

    effective: frozenset[int]
    permitted: frozenset[int]
    bounding: frozenset[int]
    ambient: frozenset[int]
    no_new_privs: bool


def _numbers(mask_hex: str) -> frozenset[int]:
    mask = int(mask_hex, 16)
    return frozenset(n for n in range(mask.bit_length()) if mask >> n & 1)


def current_capabilities(status_file: str = STATUS_FILE) -> Capabilities | None:
    """The calling thread's capabilities, from /proc/self/status; None where there is no such file (not Linux)."""
    try:
        with open(status_file) as f:
            fields = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None
    return Capabilities(
        effective=_numbers(fields["CapEff"]),
        permitted=_numbers(fields["CapPrm"]),
        bounding=_numbers(fields["CapBnd"]),
        ambient=_numbers(fields["CapAmb"]),
        no_new_privs=fields.get("NoNewPrivs", "0").strip() == "1",
    )


@functools.cache
def _libcap() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("cap") or "libcap.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    lib.cap_get_proc.restype = ctypes.c_void_p
    lib.cap_init.restype = ctypes.c_void_p
    lib.cap_set_flag.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    lib.cap_set_proc.argtypes = [ctypes.c_void_p]
    lib.cap_free.argtypes = [ctypes.c_void_p]
    return lib


def set_capability_flags(changes: list[tuple[int, int, bool]]) -> None:
    """Change the calling thread's capabilities: each (CAP_EFFECTIVE|CAP_PERMITTED|CAP_INHERITABLE, cap, on).

    All changes are applied at once (one capset(2)). The kernel only lets a
    thread raise into its effective and inheritable sets what its permitted
    set holds, and never raise its permitted set. OSError when libcap is
    missing or the kernel refuses.
    """
    lib = _libcap()
    if lib is None:
        raise OSError("libcap.so.2 not found (apt-get install libcap2)")
    caps = lib.cap_get_proc()
    if not caps:
        raise OSError(ctypes.get_errno(), f"cap_get_proc: {os.strerror(ctypes.get_errno())}")
    try:
        for flag, cap, on in changes:
            value = ctypes.c_int(cap)
            if lib.cap_set_flag(caps, flag, 1, ctypes.byref(value), _CAP_SET if on else _CAP_CLEAR) != 0:
                raise OSError(ctypes.get_errno(), f"cap_set_flag: {os.strerror(ctypes.get_errno())}")
        if lib.cap_set_proc(caps) != 0:
            raise OSError(ctypes.get_errno(), f"cap_set_proc: {os.strerror(ctypes.get_errno())}")
    finally:
        lib.cap_free(caps)


def raise_net_raw() -> bool:
    """Make CAP_NET_RAW effective for the calling thread if it is permitted; whether it is effective now.

    Call it right before opening a raw socket, in the thread that opens it.
    Never raises: False means the socket will probably be refused, and
    why_no_net_raw() says why. Outside Linux: False (no capabilities there).
    """
    caps = current_capabilities()
    if caps is None:
        return False
    if NET_RAW in caps.effective:
        return True
    if NET_RAW not in caps.permitted:
        return False
    try:
        set_capability_flags([(CAP_EFFECTIVE, NET_RAW, True)])
    except OSError:
        return False
    return True


def why_no_net_raw() -> str:
    """Why this process lacks CAP_NET_RAW, and what to do: one line that calls the capability "it".

    Meant to follow "needs CAP_NET_RAW; ". The causes, tested in this order:
    not in the bounding set (a container started without it); effective, yet
    refused (a security module or a foreign user namespace); permitted but not
    raisable (no libcap); no_new_privs, which makes exec ignore file
    capabilities it would gain (capabilities(7)); otherwise not root and no
    file capability.
    """
    caps = current_capabilities()
    if caps is None:
        return "run as root"
    if NET_RAW not in caps.bounding:
        return (
            "it is not in this process's bounding set (a container started without it): add --cap-add NET_RAW "
            "(Kubernetes: securityContext.capabilities.add: [NET_RAW])"
        )
    if NET_RAW in caps.effective:
        return (
            "it is effective, yet the kernel refuses: a security module (AppArmor, SELinux, seccomp) forbids it, "
            "or this network namespace belongs to another user namespace"
        )
    if NET_RAW in caps.permitted:
        return "it is permitted but could not be made effective: is libcap.so.2 installed? (apt-get install libcap2)"
    if caps.no_new_privs:
        return (
            "no_new_privs is set (--security-opt no-new-privileges; Kubernetes: allowPrivilegeEscalation: false), "
            "so the kernel ignored the Python binary's file capability that grants it: start without that option, "
            "or as root keeping only NET_RAW (--user 0 --cap-drop ALL --cap-add NET_RAW)"
        )
    if os.geteuid() == 0:
        return "this root process has dropped it from its permitted set"
    python = os.path.realpath(sys.executable)
    return f"run as root, or give it to the Python binary: setcap cap_net_raw+p {python}"


class PrivilegeError(UserError):
    """Switching to another user cannot be done as asked."""


def drop_to_user(name: str) -> tuple[int, int]:
    """Become user `name` (its uid, its primary group, no other groups), keeping CAP_NET_RAW and nothing else.

    For `run --user`: the sockets are open, the control socket made; from
    here on the process needs no root, only CAP_NET_RAW to open a raw socket
    again when an interface comes back. The steps (capabilities(7)): keep
    the permitted set across the uid change (PR_SET_KEEPCAPS), change groups
    and uid (glibc changes every thread's; threads other than this one lose
    all their capabilities with it), then set this thread's sets to NET_RAW
    alone, in the permitted and effective sets. Before all that, everything
    but NET_RAW leaves the bounding set, so nothing can be regained by exec.
    Threads this one starts later inherit its sets. Returns (uid, gid).
    PrivilegeError when the user does not exist or we are not root.
    """
    entry = user_entry(name)
    libc = ctypes.CDLL(None, use_errno=True)
    # The bounding set first: dropping from it takes CAP_SETPCAP, which we have only until the end.
    for cap in range(_last_cap() + 1):
        if cap != NET_RAW:
            libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        raise PrivilegeError(f"--user {name}: prctl(PR_SET_KEEPCAPS): {os.strerror(ctypes.get_errno())}")
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    try:
        set_only(NET_RAW)
    except OSError as e:
        raise PrivilegeError(f"--user {name}: keeping CAP_NET_RAW failed: {e.strerror or e}") from None
    libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)
    return entry.pw_uid, entry.pw_gid


def user_entry(name: str, given: str = "--user"):
    """The passwd entry of user `name`, if we may become it: PrivilegeError (naming `given`, where the name came
    from) when there is no such user, or we are not root (only root can switch users)."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PrivilegeError(f"{given}: no user named {name!r} here (useradd --system {name})") from None
    if os.geteuid() != 0:
        raise PrivilegeError(f"{given}: switching to {name} needs root; start as root, or without it")
    return entry


def set_only(cap: int) -> None:
    """The calling thread keeps `cap` in its permitted and effective sets and no other capability. OSError if refused."""
    lib = _libcap()
    if lib is None:
        raise OSError("libcap.so.2 not found (apt-get install libcap2)")
    caps = lib.cap_init()  # every set empty
    if not caps:
        raise OSError(ctypes.get_errno(), f"cap_init: {os.strerror(ctypes.get_errno())}")
    try:
        value = ctypes.c_int(cap)
        for flag in (CAP_PERMITTED, CAP_EFFECTIVE):
            if lib.cap_set_flag(caps, flag, 1, ctypes.byref(value), _CAP_SET) != 0:
                raise OSError(ctypes.get_errno(), f"cap_set_flag: {os.strerror(ctypes.get_errno())}")
        if lib.cap_set_proc(caps) != 0:
            raise OSError(ctypes.get_errno(), f"cap_set_proc: {os.strerror(ctypes.get_errno())}")
    finally:
        lib.cap_free(caps)


def _last_cap() -> int:
    """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40
