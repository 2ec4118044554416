"""``up``, ``down``, ``status``, ``info`` and ``exec_argv``: the lab as a whole.

``up`` is level-based like the rest of checkpointctl: it looks at what exists (namespaces,
veths, host directories, pidfiles), keeps the wanted hosts whose processes run, removes the
rest (including the leftovers of an earlier lab whose processes were killed), and creates what
is missing. Running it twice is therefore safe and, the second time, quick. ``down`` removes
everything ``up`` made, and is safe when nothing is up. Both hold a machine-wide lock, because
the lab's names and addresses are machine-wide.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from checkpointctl.errors import LabError
from checkpointctl.lab import access, images, inventory, network, registry, sshd, webdav
from checkpointctl.lab import hosts as lab_hosts
from checkpointctl.lab.layout import (
    HOST_MOUNTS,
    NETNS_DIR,
    REGISTRY,
    LabHost,
    LabPaths,
    bastion_host,
    host_by_name,
    lab_paths,
    plan_hosts,
)
from checkpointctl.lab.process import run
from checkpointctl.lab.state import (
    HostStatus,
    LabInfo,
    LabRecord,
    LabStatus,
    load_record,
    make_info,
    save_record,
)

Progress = Callable[[str], None]
LOCK = Path("/run/checkpointctl-lab.lock")


def _quiet(_: str) -> None:
    return None


@contextmanager
def _locked() -> Iterator[None]:
    """Serialise ``up``/``down`` across processes (two test sessions starting at once)."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (it creates network namespaces and starts daemons)")


def _ensure_root_dir(paths: LabPaths) -> None:
    """Create the lab root, refusing a non-empty directory that is not a lab root."""
    root = paths.root
    if root.exists() and not paths.marker.exists() and any(root.iterdir()):
        raise LabError(
            f"{root} exists and is not a lab root (no {paths.marker.name}); not using it"
        )
    root.mkdir(parents=True, exist_ok=True)
    # Others may traverse, not list: sshd reads authorized_keys as the unprivileged lab user.
    # The private keys inside are 0600 files.
    os.chmod(root, 0o711)  # noqa: S103 (traverse only; see above)
    paths.marker.touch()
    paths.hosts_dir.mkdir(exist_ok=True)
    paths.registry_dir.mkdir(exist_ok=True)


def _present_host_names(paths: LabPaths, record: LabRecord | None) -> set[str]:
    """Every host some trace of which exists: namespace, veth, directory or record."""
    names = network.lab_netns_names() | network.lab_veth_names()
    if paths.hosts_dir.is_dir():
        names |= {e.name for e in paths.hosts_dir.iterdir() if host_by_name(e.name)}
    if record is not None:
        names |= {h.name for h in record.hosts}
    return names


def _remove_hosts(paths: LabPaths, names: set[str]) -> None:
    doomed = [h for n in sorted(names) if (h := host_by_name(n)) is not None]
    lab_hosts.stop(paths, doomed)
    network.remove_hosts(names)
    lab_hosts.remove_dirs(paths, names)


def _ensure_dirs(record: LabRecord | None) -> tuple[str, ...]:
    """Create missing mount points (empty dirs) and remember which ones ``up`` created."""
    created = set(record.created_dirs if record else ())
    for target in (*HOST_MOUNTS.values(), NETNS_DIR.resolve()):
        if not target.exists():
            target.mkdir(parents=True)
            created.add(str(target))
    return tuple(sorted(created))


def up(
    full: int = 2, light: int = 0, progress: Progress | None = None, *, bastion: bool = False
) -> LabInfo:
    """Bring the lab to ``full`` full hosts and ``light`` light hosts; return where it is.

    With ``bastion`` a bastion host joins, and the other hosts accept SSH from it alone (see
    :mod:`checkpointctl.lab.access`); without it, a lab left in that shape is given back its
    default one (no bastion, no gate).

    Idempotent: running wanted hosts are kept, broken or unwanted ones (and stale leftovers
    of an earlier lab) are removed, missing ones are created. Writes ``inventory.yml``,
    ``known_hosts`` and ``images.json`` under the lab root.

    Raises:
        LabError: not root, a bad shape, or a piece of the lab did not start (with log tails).
    """
    say = progress or _quiet
    _require_root()
    planned = plan_hosts(full, light)
    wanted = (*planned, bastion_host()) if bastion else planned
    paths = lab_paths()
    with _locked():
        started = time.monotonic()
        _ensure_root_dir(paths)
        old = load_record(paths)
        if old is not None and old.bastion:
            # kept hosts must answer the controller's readiness check; the gate returns below
            access.set_gate(_running(paths, old.hosts), on=False)
        by_name = {h.name: h for h in wanted}
        present = _present_host_names(paths, old)
        wired = network.lab_netns_names() & network.lab_veth_names()
        keep = {n for n in present & wired if n in by_name and lab_hosts.alive(paths, by_name[n])}
        doomed = present - keep
        if doomed:
            say(f"removing {len(doomed)} host(s) that are unwanted or not running")
            _remove_hosts(paths, doomed)
        record = LabRecord(full, light, _ensure_dirs(old), bastion=bastion)
        save_record(paths, record)

        network.ensure_bridge()
        registry.ensure_running(paths)
        webdav.ensure_running(paths)
        entries = images.ensure_images(paths.images)
        say(f"registry {REGISTRY}: {len(entries)} images")

        sshd.ensure_client_key(paths)
        new = [h for h in wanted if h.name not in keep]
        if new:
            say(f"starting {len(new)} host(s): {_names(new)}")
            for host in new:
                lab_hosts.prepare(paths, host)
            network.add_hosts(new)
            lab_hosts.start_all(paths, new)
        # Kept full hosts too: their dockerd must answer before up returns.
        lab_hosts.wait_ready(paths, [h for h in wanted if h not in new and h.kind == "full"] + new)
        sshd.write_known_hosts(paths, wanted)
        access.ensure_user()
        access.write_sudoers()
        inventory.write(paths.inventory, inventory.render(paths, planned, entries))
        for path, text in inventory.render_variants(paths, planned, entries, bastion).items():
            inventory.write(path, text)
        if bastion:
            access.write_text(
                paths.ssh_config, access.render_ssh_config(paths, planned, bastion_host())
            )
            access.set_gate(planned, on=True)
            say(f"bastion {bastion_host().address}: hosts accept SSH from it only")
        else:
            for path in (paths.ssh_config, paths.bastion_inventory):
                path.unlink(missing_ok=True)
        say(
            f"lab up: {full} full, {light} light in {time.monotonic() - started:.1f}s; "
            f"inventory {paths.inventory}"
        )
        return make_info(paths, record)


def _running(paths: LabPaths, hosts: tuple[LabHost, ...]) -> list[LabHost]:
    """The hosts whose namespace exists (a gate can only be lifted there)."""
    present = network.lab_netns_names()
    return [h for h in hosts if h.name in present]


def _names(hosts: list[LabHost]) -> str:
    shown = ", ".join(h.name for h in hosts[:6])
    return shown + (f" ... ({len(hosts)} in all)" if len(hosts) > 6 else "")


def down(progress: Progress | None = None) -> None:
    """Stop everything ``up`` started and remove what it created. Safe when nothing is up.

    Raises:
        LabError: not root, or a directory could not be removed.
    """
    say = progress or _quiet
    _require_root()
    paths = lab_paths()
    with _locked():
        record = load_record(paths)
        names = _present_host_names(paths, record)
        if names:
            say(f"stopping {len(names)} host(s)")
            _remove_hosts(paths, names)
        registry.stop(paths)
        webdav.stop(paths)
        network.remove_bridge()
        access.remove_user()
        if paths.marker.exists():
            shutil.rmtree(paths.root)
        _remove_created_dirs(record)
        say("lab down")


def _remove_created_dirs(record: LabRecord | None) -> None:
    """Remove the machine directories ``up`` created, if they are still empty."""
    if record is None:
        return
    for name in sorted(record.created_dirs, key=len, reverse=True):
        target = Path(name)
        if target == NETNS_DIR.resolve():
            if target.is_dir() and any(target.iterdir()):
                continue
            # `ip netns add` made it a bind mount of itself; undo that too.
            for _ in range(5):
                if not _is_mount_point(target):
                    break
                run(["umount", str(target)], check=False)
        with contextlib.suppress(OSError):  # not empty (someone uses it) or gone: leave it
            target.rmdir()


def _is_mount_point(path: Path) -> bool:
    # os.path.ismount misses a bind mount of a directory onto itself (same device).
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(len(f) > 4 and f[4] == str(path) for f in (line.split() for line in lines))


def status() -> LabStatus:
    """What is running, per host and for the registry (cheap: pidfiles and /proc only)."""
    paths = lab_paths()
    record = load_record(paths)
    rows = []
    for host in record.hosts if record else ():
        running = lab_hosts.pids(paths, host)
        rows.append(
            HostStatus(
                name=host.name,
                address=host.address,
                kind=host.kind,
                sshd=running.sshd is not None,
                dockerd=None if host.kind == "light" else running.dockerd is not None,
            )
        )
    return LabStatus(
        root=paths.root,
        registry=REGISTRY,
        registry_running=registry.running_pid(paths) is not None,
        hosts=tuple(rows),
    )


def info() -> LabInfo:
    """Where the running lab's pieces are, without changing anything.

    Raises:
        LabError: there is no lab (run ``checkpointctl lab up``).
    """
    paths = lab_paths()
    record = load_record(paths)
    if record is None or not paths.inventory.exists():
        raise LabError(f"no lab under {paths.root}; run `checkpointctl lab up`")
    return make_info(paths, record)


def exec_argv(host: str) -> list[str]:
    """An argv prefix that runs a command inside the lab host's network and mount namespaces.

    ``exec_argv("cp-1") + ["nft", "list", "ruleset"]`` acts on cp-1 as an operator logged in
    there would: its /etc/checkpoint, its /run, its dockerd socket, its nftables.

    Raises:
        LabError: no such lab host, or it is not running.
    """
    paths = lab_paths()
    record = load_record(paths)
    lab_host = host_by_name(host)
    if record is None or lab_host is None or lab_host not in record.hosts:
        raise LabError(f"{host!r} is not a host of the lab under {paths.root}")
    pid = lab_hosts.pids(paths, lab_host).sshd
    if pid is None:
        raise LabError(f"lab host {host} is not running (its sshd is down); run `lab up`")
    # -r -w: the host's own root and working directory too. Entering a mount namespace sets
    # the root to that namespace's real root, which is not the lab's when the lab runs in a
    # chroot (fresh-debian-check): the command would see another /etc/checkpoint and /run.
    return ["nsenter", "-t", str(pid), "-n", "-m", "-u", "-r", "-w", "--"]
