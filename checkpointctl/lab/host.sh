#!/bin/sh
# host.sh HOSTDIR NAME ADDR/PREFIX [DOCKERD-ARGV...]: the launcher of one lab host.
#
# checkpointctl.lab.hosts starts it detached, inside the host's network namespace and a fresh
# private mount and UTS namespace:
#   setsid -f nsenter --net=/var/run/netns/cplab-NAME \
#       unshare --mount --uts --propagation private -- /bin/sh host.sh HOSTDIR NAME ADDR/16 ...
# It gives the host its own /run (tmpfs), /etc/checkpoint, /var/lib/checkpointctl and
# /etc/docker, then starts sshd (and, on full hosts, the dockerd argv it was given) in that same
# mount namespace, so SSH sessions see exactly the files and the Docker socket the daemons see.
# (`ip netns exec` is not used: it remounts /sys, which hides the cgroups dockerd needs.)
#
# Values arrive as arguments and are only ever expanded quoted: no shell text is built from
# them. PIDs go to pidfiles in HOSTDIR; `lab down` signals those PIDs after checking cmdlines.
set -eu

hostdir=$1
name=$2
cidr=$3
shift 3

echo $$ >"$hostdir/launcher.pid.tmp"
mv "$hostdir/launcher.pid.tmp" "$hostdir/launcher.pid"

# The network: the controller created eth0 in this namespace. It reaches the lab bridge and
# nothing else: there is no default route, on purpose.
ip link set lo up
ip addr replace "$cidr" dev eth0
ip link set eth0 up
hostname "$name"

# In a chroot (fresh-debian-check runs the lab inside one), entering a mount namespace lands at
# that namespace's real root, which is the machine's, not the chroot's: `docker exec` (so every
# HEALTHCHECK) and nsenter would run in the machine's file system, not the container's. Here,
# in this host's private mount namespace only, the chroot's root is made the namespace's root:
# step out of the chroot (in a process of its own), and if that lands anywhere but where we
# were, pivot_root into the chroot's directory (a mount point: the chroot tool bind-mounts it on
# itself) and drop the machine's tree. Not in a chroot, stepping out lands at / and nothing
# else happens.
python3 -c '
import os, subprocess, sys
inside = os.open("/", os.O_RDONLY)
os.chroot(sys.argv[1])
os.fchdir(inside)
for _ in range(64):
    os.chdir("..")
os.chroot(".")
root = os.readlink(f"/proc/self/fd/{inside}")
if root != "/":
    old = os.path.join(root, ".cplab-machine-root")
    os.makedirs(old, exist_ok=True)
    subprocess.run(["pivot_root", root, old], check=True)
    os.chdir("/")
    subprocess.run(["umount", "-l", "/.cplab-machine-root"], check=True)
' "$hostdir"

# The host's own view of the file system. The mount namespace is private: none of this is
# visible on the machine or in another host, and it all vanishes with the host's processes.
mount -t tmpfs -o mode=0755,size=64m "cplab-$name-run" /run
mkdir -p /run/sshd /run/lock
mount --bind "$hostdir/etc-checkpoint" /etc/checkpoint
mount --bind "$hostdir/state" /var/lib/checkpointctl
mount --bind "$hostdir/etc-docker" /etc/docker

# A lab host stands for a checkpoint host, not for this build machine: root's login files here
# (this machine sets up pyenv in them, which costs 0.1-0.5 s of CPU per SSH session) must not
# run in every session. Empty files hide them, in this host's mount namespace only.
: >"$hostdir/empty-rc"
for rc in /root/.bashrc /root/.profile /root/.bash_profile /root/.bash_login; do
    if [ -f "$rc" ]; then
        mount --bind "$hostdir/empty-rc" "$rc"
    fi
done

if [ $# -eq 0 ]; then
    # A light host is just sshd: the launcher becomes it (same PID, one process per host).
    echo $$ >"$hostdir/sshd.pid"
    exec /usr/sbin/sshd -D -f "$hostdir/sshd_config" -E "$hostdir/sshd.log"
fi

/usr/sbin/sshd -D -f "$hostdir/sshd_config" -E "$hostdir/sshd.log" </dev/null &
echo $! >"$hostdir/sshd.pid"

"$@" >>"$hostdir/dockerd.log" 2>&1 </dev/null &
echo $! >"$hostdir/dockerd.pid"

# Stay as the supervisor, so the namespaces have an owner while the daemons run. On TERM pass
# it on and keep waiting: dockerd stops its containers before it exits.
trap 'kill -TERM $(cat "$hostdir/dockerd.pid" "$hostdir/sshd.pid") 2>/dev/null || :' TERM INT
while ! wait; do :; done
