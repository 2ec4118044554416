#!/bin/sh
# daemon.sh PIDFILE ARGV...: record this shell's PID, then become ARGV (exec keeps the PID).
# checkpointctl.lab starts root-namespace daemons (the registry) through it, detached with
# `setsid -f`, so the daemon's PID is known without it being the controller's child.
set -eu
pidfile=$1
shift
echo $$ >"$pidfile.tmp"
mv "$pidfile.tmp" "$pidfile"
exec "$@"
