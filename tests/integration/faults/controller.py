"""A controller process for the fault suite: converge containers on one lab host, print JSON.

``python controller.py HOST NAME IMAGE_KEY [--env K=V ...] [--secret-env K=V ...]`` runs the
real engine (connect over SSH, host lock, plan, apply, verify, health gate, audit record) with
the containers resource restricted to ``NAME`` and its ``--next``/``--old`` leftovers, so other
containers on the shared lab host are never planned away. It is a separate process so a test
can ``kill -9`` it mid-apply (see ``CHECKPOINTCTL_TEST_PAUSE_AT`` in resources/containers.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from checkpointctl import lab as lab_api
from checkpointctl.engine.audit import LocalAuditLog
from checkpointctl.engine.rollback import OnlyAddresses
from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.inventory import load_inventory
from checkpointctl.lab.layout import LabPaths
from checkpointctl.model import Host, RunReport, Secret, change_to_json
from checkpointctl.report import render
from checkpointctl.resources.containers.resource import ContainersResource
from checkpointctl.spec import (
    ContainerSpec,
    DesiredState,
    Healthcheck,
    HealthSpec,
    ImageRef,
    Limits,
    RegistriesSpec,
    TrustedRegistry,
)
from checkpointctl.transport.connect import connect

HEALTHY = Healthcheck(
    test=("CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"),
    interval=1.0,
    timeout=2.0,
    retries=3,
)


def lab_host(name: str) -> Host:
    """The host as the lab's inventory describes it: as root, or with
    ``$CHECKPOINTCTL_LAB_BECOME=1`` (inherited from the test session) as the unprivileged user
    with sudo, as the session's ``lab`` fixture chooses (tests/integration/conftest.py)."""
    info = lab_api.info()
    inventory = info.inventory
    if os.environ.get("CHECKPOINTCTL_LAB_BECOME") == "1":
        inventory = LabPaths(info.root).sudo_inventory
    return load_inventory(str(inventory)).host(name)


def image(key: str) -> ImageRef:
    info = lab_api.info()
    pinned = {"v1": info.checkpoint_image, "v2": info.checkpoint_image_v2}.get(key, key)
    repo, _, digest = pinned.partition("@")
    return ImageRef(repo, digest)


def desired(
    host: str, name: str, ref: ImageRef, env: tuple[tuple[str, str | Secret], ...]
) -> DesiredState:
    spec = ContainerSpec(
        name=name,
        image=ref,
        env=env,
        user="10001:10001",
        tmpfs=("/tmp",),
        limits=Limits(memory=64 * 1024 * 1024, pids=64),
        healthcheck=HEALTHY,
        labels=(("io.checkpointctl.policy", "fault-suite"),),
    )
    return DesiredState(
        host=host,
        containers=(spec,),
        registries=RegistriesSpec(
            trusted=(TrustedRegistry(ref.registry, ""),),
        ),
        health=HealthSpec(timeout=30.0),
        policies=("fault-suite",),
    )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("name")
    p.add_argument("image")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--secret-env", action="append", default=[])
    p.add_argument("--mode", default="apply")
    p.add_argument("--audit-log", help="also append the controller's audit line here")
    p.add_argument("--render", action="store_true", help="print the report in every format")
    args = p.parse_args(argv)
    env: list[tuple[str, str | Secret]] = []
    for item in args.env:
        k, _, v = item.partition("=")
        env.append((k, v))
    for item in args.secret_env:
        k, _, v = item.partition("=")
        # "@VAR": the value from the environment, so a secret never sits on a command line
        env.append((k, Secret(os.environ[v[1:]] if v.startswith("@") else v)))
    name = args.name
    only = OnlyAddresses(
        ContainersResource(),
        frozenset(f"container/{n}" for n in (name, f"{name}--next", f"{name}--old")),
    )
    result = converge_host(
        lab_host(args.host),
        desired(args.host, name, image(args.image), tuple(env)),
        connect,
        args.mode,
        [only],
        options=ApplyOptions(
            lock_wait=60.0, audit_log=LocalAuditLog(args.audit_log) if args.audit_log else None
        ),
    )
    if args.render:
        report = RunReport(mode=args.mode, hosts=(result,))
        for fmt in ("text", "json", "junit", "markdown"):
            print(f"--- {fmt}")
            print(render(report, fmt))
    print(
        json.dumps(
            {
                "status": result.status.value,
                "error": result.error,
                "applied": list(result.applied),
                "changes": [change_to_json(c) for c in result.changes],
            }
        )
    )
    return 0 if result.status.value in ("converged", "in-sync") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
