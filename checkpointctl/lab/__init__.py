"""The lab: a local fleet of checkpoint hosts for the demo, the tests and the benchmarks.

Each lab host is a network namespace on the bridge ``cplab0`` (10.213.0.0/16) with a private
mount namespace, its own sshd and nftables, and on full hosts its own dockerd; a registry on
10.213.0.1:5000 serves test images built from busybox. Everything runs on this machine, as root,
and nothing leaves it. See shared/DESIGN.md, "The lab".

Modules: ``layout`` (names, addresses, paths), ``network``, ``sshd``, ``dockerd``, ``registry``,
``images``, ``hosts`` (launch/stop one host, with host.sh), ``inventory``, ``state`` (records
and the public dataclasses), ``process`` (pidfiles, careful killing), ``lifecycle`` (the API).
"""

from checkpointctl.lab.layout import LabHost
from checkpointctl.lab.lifecycle import down, exec_argv, info, status, up
from checkpointctl.lab.state import HostStatus, LabInfo, LabStatus

__all__ = [
    "HostStatus",
    "LabHost",
    "LabInfo",
    "LabStatus",
    "down",
    "exec_argv",
    "info",
    "status",
    "up",
]
