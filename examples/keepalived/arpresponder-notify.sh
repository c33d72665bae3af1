#!/bin/sh
# keepalived's notify script for arpresponder: keepalived runs it as
#     arpresponder-notify.sh INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY
# and it tells the running arpresponder to answer (MASTER) or to stand by (anything else).
#
# Set here (or in the environment): ARPRESPONDER, the command (default: arpresponder on PATH); ARPRESPONDER_ARGS,
# how to find the instance, e.g. "-i eth0" or "--control-socket /run/arpresponder/eth0.sock" (default: the only
# one on this host).
set -eu
ARPRESPONDER=${ARPRESPONDER:-arpresponder}
ARPRESPONDER_ARGS=${ARPRESPONDER_ARGS:-}
case "${3:-}" in
    MASTER) exec $ARPRESPONDER activate $ARPRESPONDER_ARGS ;;
    BACKUP|FAULT|STOP) exec $ARPRESPONDER standby $ARPRESPONDER_ARGS ;;
    *) echo "arpresponder-notify.sh: unexpected state '${3:-}'" >&2; exit 2 ;;
esac
