"""Re-record the ``docker inspect`` JSON the containers unit tests are fed with, from the lab.

Run as root with the lab up: ``.venv/bin/python tests/unit/resources/containers/record_lab.py``.
It creates containers on lab host cp-1 (through our own resource for the managed ones, through
the docker CLI for the hand-made ones), saves ``docker inspect`` output of each into
``recorded/``, and removes them again. Only the lab is touched.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import yaml
from container_cases import CASES, RECORDED, build_spec, merge

from checkpointctl import lab
from checkpointctl.model import Host
from checkpointctl.resources.containers.resource import ContainersResource
from checkpointctl.spec import (
    OWNER_LABEL,
    DesiredState,
    RegistriesSpec,
    TrustedRegistry,
)
from checkpointctl.transport.connect import connect

HOST = "cp-1"
DOCKER = ["docker", "-H", "unix:///run/docker.sock"]
NAMES = ("probe", "probe-v2", "probe-cli", "rogue", "hostnet", "plain")


def docker(*args: str, check: bool = True) -> str:
    out = subprocess.run(
        [*lab.exec_argv(HOST), *DOCKER, *args], capture_output=True, text=True, timeout=120
    )
    if check and out.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)}: {out.stderr}")
    return out.stdout


def save(name: str, doc: Any) -> None:
    (RECORDED / name).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print("recorded", name)


def inspect(kind: str, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(docker("inspect", "--type", kind, ref))[0]
    return doc


def wait_healthy(name: str) -> None:
    for _ in range(120):
        state = inspect("container", name)["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(0.5)
    raise SystemExit(f"{name} never got healthy")


def main() -> None:
    info = lab.info()
    host = info.host(HOST)
    transport = connect(
        Host(
            name=HOST,
            address=host.address,
            identity_file=str(info.identity_file),
            known_hosts=str(info.known_hosts),
        )
    )
    for n in NAMES:
        docker("rm", "-f", n, check=False)
    transport.write_file("/etc/checkpoint/probe/collection.json", b'{"collect": {}}\n', mode=0o644)
    base = yaml.safe_load((CASES / "_base_spec.yaml").read_text())
    v2 = merge(base, {"name": "probe-v2", "image": info.checkpoint_image_v2})
    desired = DesiredState(
        host=HOST,
        containers=(build_spec(base), build_spec(v2)),
        registries=RegistriesSpec(trusted=(TrustedRegistry(info.registry, "checkpoint/"),)),
    )
    resource = ContainersResource()
    for change in resource.diff(desired, resource.read(transport, desired)):
        if change.address in ("container/probe", "container/probe-v2"):
            resource.apply(transport, change)
    # The same container made by hand with the CLI's spellings (lower-case caps, bare
    # no-new-privileges, --memory/--cpus): parsing must see it exactly like ours.
    docker(
        "run", "-d", "--name", "probe-cli", "--label", f"{OWNER_LABEL}=true",
        "--label", "io.checkpointctl.config-digest=" + base["config_digest"],
        "--label", "io.checkpointctl.policy=lab-test", "--user", "10001:10001", "--read-only",
        "--cap-drop", "all", "--security-opt", "no-new-privileges", "--tmpfs", "/tmp",
        "--memory", "64m", "--memory-swap", "64m", "--cpus", "0.5", "--pids-limit", "64",
        "--restart", "unless-stopped", "-e", "MODE=standard", "-e", "API_TOKEN=lab-token-not-real",
        "--mount", "type=bind,src=/etc/checkpoint/probe/collection.json,"
        "dst=/etc/checkpoint/collection.json,readonly",
        "--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/", "--health-interval", "1s",
        "--health-timeout", "2s", "--health-retries", "3",
        info.checkpoint_image,
    )  # fmt: skip
    docker("pull", info.untrusted_image)
    docker("run", "-d", "--name", "rogue", "-p", "8080:8080", "-p", "127.0.0.1:9090:9090/udp",
           info.untrusted_image)  # fmt: skip
    docker("run", "-d", "--name", "hostnet", "--network", "host", info.untrusted_image)
    docker("run", "-d", "--name", "plain", info.untrusted_image)
    for n in ("probe", "probe-v2", "probe-cli"):
        wait_healthy(n)
    save("container-probe.json", inspect("container", "probe"))
    save("container-probe-v2.json", inspect("container", "probe-v2"))
    save("container-probe-cli.json", inspect("container", "probe-cli"))
    save("container-rogue.json", inspect("container", "rogue"))
    save("container-hostnet.json", inspect("container", "hostnet"))
    save("container-plain.json", inspect("container", "plain"))
    docker("update", "--memory", "32m", "--restart", "no", "probe")
    save("container-probe-updated.json", inspect("container", "probe"))
    docker("stop", "-t", "1", "probe")
    save("container-probe-stopped.json", inspect("container", "probe"))
    save("image-probe-v1.json", inspect("image", info.checkpoint_image))
    save("image-probe-v2.json", inspect("image", info.checkpoint_image_v2))
    save("image-tool.json", inspect("image", info.untrusted_image))
    for n in NAMES:
        docker("rm", "-f", n, check=False)
    transport.run(["rm", "-rf", "/etc/checkpoint/probe"], check=False)
    transport.close()


if __name__ == "__main__":
    main()
