"""The session lab for integration tests, and a way to act on a lab host as its operator would.

``lab`` reuses a running lab when it already has the shape the tests need (two full hosts and
``$CHECKPOINTCTL_LAB_LIGHT`` light hosts, default 3), extends or repairs it otherwise, and tears
it down at the end only if this session created it and ``$CHECKPOINTCTL_LAB_KEEP`` is unset:
other people (and other sessions) may be using a lab that was already there.

With ``$CHECKPOINTCTL_LAB_BECOME=1`` the session's ``lab.inventory`` is the lab's
``inventory-sudo.yml``: every test that reaches the hosts through the lab's inventory logs in as
the unprivileged ``checkpointctl`` user and escalates with sudo (issue 19: the whole lab suite
once that way), and so does every test that takes its ``Host`` from ``inventory_host``. Tests
that build their ``Host`` in code log in as they say (root: they are the ones that need a root
login, or test the transport itself).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence

import pytest

import checkpointctl.lab as lab_api
from checkpointctl.inventory import load_inventory
from checkpointctl.lab import LabInfo
from checkpointctl.lab.layout import LabPaths
from checkpointctl.model import Host

FULL_HOSTS = 2


@pytest.fixture(autouse=True)
def _start_up_objects_collected_again() -> Iterator[None]:
    """``cli.main.main`` freezes what its start-up made for the rest of the process
    (``cli/startup.py``); a test process calls it many times, so each test gives them back."""
    yield
    gc.unfreeze()


OnHost = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def lab() -> Iterator[LabInfo]:
    """The running lab (brought up if needed), for the whole session."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, sshd, dockerd)")
    light = int(os.environ.get("CHECKPOINTCTL_LAB_LIGHT", "3"))
    before = lab_api.status()
    # On a lab that is up with at least this shape, `up` keeps every host and returns at once;
    # it still repairs dead parts and rewrites inventory.yml and known_hosts from this code.
    # Never shrink a lab someone else made bigger: only add to it.
    info = lab_api.up(full=max(FULL_HOSTS, before.full), light=max(light, before.light))
    created_here = not before.hosts
    if os.environ.get("CHECKPOINTCTL_LAB_BECOME") == "1":
        info = dataclasses.replace(info, inventory=LabPaths(info.root).sudo_inventory)
    yield info
    if created_here and not os.environ.get("CHECKPOINTCTL_LAB_KEEP"):
        lab_api.down()


@pytest.fixture(scope="session")
def inventory_host(lab: LabInfo) -> Callable[[str], Host]:
    """``inventory_host(name)``: the lab host as the session's ``lab.inventory`` describes it,
    so a test of resources or the engine logs in as the rest of the suite does (root, or with
    ``$CHECKPOINTCTL_LAB_BECOME=1`` the unprivileged user with sudo)."""
    return load_inventory(str(lab.inventory)).host


@pytest.fixture(scope="session")
def on_host(lab: LabInfo) -> OnHost:
    """``on_host(host, argv, *, input=None, check=True, timeout=60)`` runs argv inside a host.

    It enters the host's network, mount and UTS namespaces (``lab.exec_argv``), so the command
    sees the host's /etc/checkpoint, its dockerd socket and its nftables, as an operator logged
    in there would, without going through SSH or checkpointctl's transports.
    """

    def run(
        host: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*lab_api.exec_argv(host), *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"on {host}: {list(argv)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
            )
        return proc

    return run
