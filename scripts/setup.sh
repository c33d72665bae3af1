#!/bin/sh
# Install what arpresponder, its demo and its tests need, on Debian, as root:
# system tools with apt-get (only those missing), Python packages into ./.venv.
# Safe to run again: it only does what is not done yet.
set -eu
cd "$(dirname "$0")/.."

# iproute2: namespaces and veth for the lab; iputils-*, arp-scan, nmap: the real clients the demo and tests ask;
# tcpdump: captures in tests; libpcap0.8: compiles the scapy engine's filter; python3-venv: the virtualenv;
# netsniff-ng (trafgen): the bench's flood generator; farpd: a responder the bench measures against;
# gcc, libc6-dev: `cc` compiles the bench's userspace floor (bench/floor.c); tmux: the terminal the live panel's
# test draws in; podman, runc and debootstrap: the container test builds the image on a Debian stand-in base and
# runs it (runc: crun refuses CI's hybrid cgroups); libcap2-bin: setcap for the capability tests; keepalived: the
# failover test's VRRP; systemd: systemd-analyze checks the example unit.
packages="iproute2 iputils-ping iputils-arping arp-scan nmap tcpdump libpcap0.8 netsniff-ng farpd gcc libc6-dev tmux"
packages="$packages podman runc debootstrap libcap2-bin keepalived systemd"
command -v python3 >/dev/null 2>&1 || packages="$packages python3"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages="$packages python3-venv"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: arpresponder needs Python 3.11 or newer" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
