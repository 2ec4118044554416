"""Hostile values, for real: shell metacharacters in every field that reaches a command, and
template syntax in what hosts report back.

1. Payloads (``;``, ``$(…)``, backticks, quotes, newlines, leading dashes), each one trying to
   create a marker file, go into the credential username/targets/permissions (a file written
   over SFTP, a read script whose paths are arguments), the firewall rule comments (an nft
   script on stdin) and container env values (the Docker API). What must hold: they arrive as
   literal data (read back on the host), or are refused with a clear error, and no marker file
   exists afterwards on the host, in the container or on the controller.
2. Values a host reports (a hand-edited credential manifest, a hand-added nft rule comment,
   container labels set by hand) that contain ``{{ … }}``/``{% … %}`` appear verbatim in every
   report format: they are data, never rendered (no ``49`` for ``{{ 7*7 }}``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faultlib import docker, host_run, inspect, remove_containers, run_controller

from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.lab import LabInfo
from checkpointctl.model import Host, HostStatus, RunReport, Secret
from checkpointctl.report import render
from checkpointctl.resources.credentials.resource import CredentialsResource
from checkpointctl.resources.firewall.resource import FirewallResource
from checkpointctl.spec import (
    OWNER_LABEL,
    CredentialSpec,
    DesiredState,
    FirewallRule,
    FirewallSpec,
)
from checkpointctl.transport.connect import connect

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LIGHT = "lt-2"
FULL = "cp-1"
MARK = f"/tmp/cp-pwned-{uuid.uuid4().hex[:8]}"
PAYLOADS = (
    f"; touch {MARK}",
    f"$(touch {MARK})",
    f"`touch {MARK}`",
    f"'; touch {MARK}; echo '",
    f'"; touch {MARK}; echo "',
    f"x\ntouch {MARK}\n",
    f"--output={MARK}",
    f"-oProxyCommand=touch {MARK}",
)
TEMPLATES = "{{ 7*7 }}{% if true %}RENDERED{% endif %}"
"""Rendered, this would read ``49RENDERED``: the string no output may contain."""


def _no_marker(*hosts: str) -> None:
    assert not Path(MARK).exists(), "a payload ran on the controller"
    for h in hosts:
        assert host_run(h, ["test", "-e", MARK], check=False).returncode == 1, f"ran on {h}"


def _state(with_rules: bool = True) -> DesiredState:
    creds = tuple(
        CredentialSpec(
            name=f"fault-hostile-{i}",
            username=p,
            secret=Secret(f"not-a-real-secret-{i}"),
            targets=(f"https://example.invalid/{p}",),
            permissions=(p,),
        )
        for i, p in enumerate(PAYLOADS)
    )
    rules = tuple(FirewallRule("tcp", 5000, ("10.213.0.1/32",), comment=p) for p in PAYLOADS)
    return DesiredState(
        host=LIGHT,
        credentials=creds,
        firewall=FirewallSpec(
            management_from=("10.213.0.1/32",), outbound=rules if with_rules else ()
        ),
        policies=("fault-hostile",),
    )


@pytest.fixture
def light(inventory_host: Callable[[str], Host]) -> Iterator[Host]:
    yield inventory_host(LIGHT)
    host_run(LIGHT, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)
    host_run(LIGHT, ["sh", "-c", "rm -rf /etc/checkpoint/credentials"], check=False)
    host_run(LIGHT, ["rm", "-f", MARK], check=False)


def _converge(host: Host, state: DesiredState, mode: str = "apply") -> object:
    return converge_host(
        host,
        state,
        connect,
        mode,  # type: ignore[arg-type]
        [FirewallResource(), CredentialsResource()],
        options=ApplyOptions(lock_wait=30.0, health_gate=False),
    )


def test_payloads_in_credentials_and_firewall_comments_are_data_and_nothing_runs(
    light: Host,
) -> None:
    result = _converge(light, _state())
    assert result.status is HostStatus.CONVERGED, result.error  # type: ignore[attr-defined]
    manifest = json.loads(
        host_run(LIGHT, ["cat", "/etc/checkpoint/credentials/manifest.json"]).stdout
    )
    text = json.dumps(manifest)
    for p in PAYLOADS:
        assert json.dumps(p)[1:-1] in text, f"{p!r} not stored literally"
    for i, p in enumerate(PAYLOADS):
        doc = json.loads(
            host_run(LIGHT, ["cat", f"/etc/checkpoint/credentials/fault-hostile-{i}"]).stdout
        )
        assert doc["username"] == p
    ruleset = host_run(LIGHT, ["nft", "list", "table", "inet", "checkpointctl"]).stdout
    # nft strings have no escapes: the compiler reduces comments to a safe alphabet
    comments = re.findall(r'comment "([^"]*)"', ruleset)
    # each rule is in the output and the forward chain; one payload has no "touch" in it
    assert sum("touch" in c for c in comments) == 2 * sum("touch" in p for p in PAYLOADS)
    assert not [c for c in comments if set(c) & set(";$`'\n")]
    again = _converge(light, _state(), mode="drift")
    assert again.status is HostStatus.IN_SYNC  # type: ignore[attr-defined]
    _no_marker(LIGHT)


def test_payloads_in_container_env_reach_the_container_as_literal_values(lab: LabInfo) -> None:
    name = f"fault-env-{uuid.uuid4().hex[:6]}"
    env = [f"--env=P{i}={p}" for i, p in enumerate(PAYLOADS) if "\n" not in p]
    try:
        run = run_controller(FULL, name, "v1", *env)
        assert run.code == 0, run.stderr + run.stdout
        info = inspect(FULL, name)
        assert info is not None
        got = dict(e.split("=", 1) for e in info["Config"]["Env"])
        for i, p in enumerate(PAYLOADS):
            if "\n" not in p:
                assert got[f"P{i}"] == p
        inside = docker(FULL, "exec", name, "test", "-e", MARK, check=False)
        assert inside.returncode == 1
        _no_marker(FULL)
    finally:
        remove_containers(FULL, name)


def test_host_values_holding_templates_are_shown_verbatim_in_every_format(
    light: Host, lab: LabInfo
) -> None:
    state = _state(with_rules=False)
    assert _converge(light, state).status is HostStatus.CONVERGED  # type: ignore[attr-defined]
    path = "/etc/checkpoint/credentials/manifest.json"
    manifest = json.loads(host_run(LIGHT, ["cat", path]).stdout)
    first = next(iter(manifest["credentials"]))
    manifest["credentials"][first]["username"] = TEMPLATES
    host_run(LIGHT, ["sh", "-c", f"cat > {path}"], input=json.dumps(manifest))
    host_run(
        LIGHT,
        ["nft", "add", "rule", "inet", "checkpointctl", "output", "tcp", "dport", "9", "accept",
         "comment", f'"{TEMPLATES}"'],
    )  # fmt: skip

    drift = _converge(light, state, mode="drift")
    assert drift.status is HostStatus.DRIFT  # type: ignore[attr-defined]
    report = RunReport(mode="drift", hosts=(drift,))  # type: ignore[arg-type]
    for fmt in ("text", "json", "markdown", "junit"):
        out = render(report, fmt)  # type: ignore[arg-type]
        if fmt in ("text", "json"):  # the formats that show field values
            assert "7*7" in out, f"{fmt}: the host's value is missing"
        assert "49RENDERED" not in out, f"{fmt}: a host value was rendered as a template"
    _no_marker(LIGHT)


def test_container_labels_holding_templates_are_shown_verbatim(lab: LabInfo) -> None:
    name = f"fault-tpl-{uuid.uuid4().hex[:6]}"
    try:
        docker(
            FULL, "create", "--name", name, "--label", f"{OWNER_LABEL}=true",
            "--label", f"note={TEMPLATES}", lab.checkpoint_image,
        )  # fmt: skip
        run = run_controller(FULL, name, "v1", "--mode", "drift")
        assert run.report["status"] == "drift", run.report
        changes = json.dumps(run.report["changes"])
        assert "{{ 7*7 }}" in changes
        assert "49RENDERED" not in changes
    finally:
        remove_containers(FULL, name)
