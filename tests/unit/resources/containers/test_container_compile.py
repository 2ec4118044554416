"""Golden files for the create request a spec compiles to (what is POSTed to the engine).

Regenerate after an intended change with ``UPDATE_GOLDEN=1 .venv/bin/pytest
tests/unit/resources/containers`` and review the diff like code.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from container_cases import GOLDEN, build_spec

from checkpointctl.errors import ResourceError
from checkpointctl.resources.containers.compile import compile_create, compile_update, parse_port
from checkpointctl.resources.containers.parse import PortBinding

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SPECS = sorted(p.name.removesuffix(".spec.yaml") for p in GOLDEN.glob("*.spec.yaml"))


@pytest.mark.parametrize("case", SPECS)
def test_create_request_matches_golden(case: str) -> None:
    spec = build_spec(yaml.safe_load((GOLDEN / f"{case}.spec.yaml").read_text()))
    text = json.dumps(compile_create(spec).to_json(), indent=2, sort_keys=True) + "\n"
    path = GOLDEN / f"{case}.json"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_secret_env_stays_out_of_the_body() -> None:
    spec = build_spec(yaml.safe_load((GOLDEN / "probe-full.spec.yaml").read_text()))
    request = compile_create(spec)
    dumped = json.dumps(request.to_json()) + repr(request)
    assert "do-not-print-me" not in dumped
    assert [k for k, _ in request.secret_env] == ["API_TOKEN"]
    assert "MODE=standard" in request.body["Env"]  # type: ignore[operator]


def test_hardening_is_in_the_request() -> None:
    spec = build_spec(yaml.safe_load((GOLDEN / "hardened-defaults.spec.yaml").read_text()))
    host = compile_create(spec, "probe--next").body["HostConfig"]
    assert isinstance(host, dict)
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Privileged"] is False
    assert host["PortBindings"] == {}
    assert compile_create(spec, "probe--next").name == "probe--next"


def test_update_holds_only_what_docker_update_can_change() -> None:
    spec = build_spec(yaml.safe_load((GOLDEN / "probe-full.spec.yaml").read_text()))
    assert compile_update(spec) == {
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 5},
        "mem_limit": 268435456,
        "memswap_limit": 268435456,
    }


@pytest.mark.parametrize(
    ("text", "binding"),
    [
        ("8080", PortBinding("8080")),
        ("8080/udp", PortBinding("8080", "udp")),
        ("9000:80", PortBinding("80", "tcp", "9000")),
        ("127.0.0.1:9000:80/tcp", PortBinding("80", "tcp", "9000", "127.0.0.1")),
        ("0.0.0.0:9000:80", PortBinding("80", "tcp", "9000")),
        ("[::1]:9000:80", PortBinding("80", "tcp", "9000", "::1")),
    ],
)
def test_parse_port(text: str, binding: PortBinding) -> None:
    assert parse_port(text) == binding


@pytest.mark.parametrize("text", ["http", "80:http", "a:b:c:d/tcp", ""])
def test_parse_port_rejects_nonsense(text: str) -> None:
    with pytest.raises(ResourceError, match="expected"):
        parse_port(text)
