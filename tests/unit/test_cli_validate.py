"""``checkpointctl validate`` and ``render`` through ``cli.main``, as users and CI call them.

Contract (DESIGN.md): validate exits 0 when valid and 1 when not, listing *all* errors;
render prints the merged, templated desired state per host with secrets as ``<sensitive>``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from checkpointctl import __version__
from checkpointctl.cli.main import main
from checkpointctl.inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]
POLICIES = str(REPO / "policies")
PROD = str(REPO / "inventories" / "prod.yml")
DIGEST = "sha256:" + "ab" * 32
CIPHERTEXT = "$CHECKPOINTCTL_VAULT;1;c2VjcmV0LWNpcGhlcnRleHQtbmV2ZXItc2hvd24"

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(autouse=True)
def _no_vault_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "CHECKPOINTCTL_VAULT_PASSWORD",
        "CHECKPOINTCTL_VAULT_PASSWORD_FILE",
        "CHECKPOINTCTL_VAULT_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _render_json(capsys: Capsys, *argv: str) -> dict[str, Any]:
    assert main(["render", *argv, "--format", "json"]) == 0, capsys.readouterr().err
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


N_EXAMPLES = len(list(Path(POLICIES).glob("*.yml")))
N_HOSTS = len(load_inventory(PROD).hosts)


def test_the_examples_validate(capsys: Capsys) -> None:
    assert N_EXAMPLES >= 2  # the baseline and the regional override at least
    assert main(["validate", POLICIES, "-i", PROD]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"ok: {N_EXAMPLES} policies, {N_HOSTS} hosts"
    assert err == ""


def test_validate_without_inventory_checks_policies_only(capsys: Capsys) -> None:
    assert main(["validate", POLICIES]) == 0
    assert capsys.readouterr().out.strip() == f"ok: {N_EXAMPLES} policies"


def test_validate_defaults_to_policies_folder(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["validate", "-i", "inventories/prod.yml"]) == 0
    assert f"ok: {N_EXAMPLES} policies, {N_HOSTS} hosts" in capsys.readouterr().out


def test_invalid_folder_lists_all_errors_of_all_files(tmp_path: Path, capsys: Capsys) -> None:
    bad_yaml = _write(
        tmp_path / "policies" / "a-syntax.yml",
        """\
        apiVersion: checkpointctl/v1
        kind: CheckpointPolicy
        metadata:
          name: a: b
        spec: {}
        """,
    )
    bad_schema = _write(
        tmp_path / "policies" / "b-schema.yml",
        """\
        apiVersion: checkpointctl/v1
        kind: CheckpointPolicy
        metadata:
          name: b
        priority: first
        spec:
          containers:
            - name: probe
              privileged: yes please
        """,
    )
    _write(
        tmp_path / "policies" / "c-fine.yml",
        """\
        apiVersion: checkpointctl/v1
        kind: CheckpointPolicy
        metadata:
          name: c
        spec: {}
        """,
    )
    assert main(["validate", str(tmp_path / "policies")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"{bad_yaml}:4:10: YAML syntax error")
    assert lines[1].startswith(f"{bad_schema}:5:11: priority: expected integer")
    assert lines[2].startswith(f"{bad_schema}:9:19: spec.containers[0].privileged: expected bool")
    assert lines[3] == "3 error(s)"
    assert "Traceback" not in err


def test_lint_errors_on_several_hosts_and_warnings(tmp_path: Path, capsys: Capsys) -> None:
    pol = _write(
        tmp_path / "p.yml",
        f"""\
        apiVersion: checkpointctl/v1
        kind: CheckpointPolicy
        metadata:
          name: p
        spec:
          registries:
            trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
          containers:
            - name: probe
              image: registry.example.com/checkpoint/probe@{DIGEST}
              user: "10001:10001"
              cap_drop: [ALL]
              ports: ["{{{{ published }}}}"]
        """,
    )
    inv = _write(
        tmp_path / "inv.yml",
        """\
        all:
          hosts:
            cp-1: {published: "8080:80"}
            cp-2: {published: "9090:90"}
        """,
    )
    assert main(["validate", str(pol), "-i", str(inv)]) == 1
    err = capsys.readouterr().err
    assert err.count("[published-ports]") == 2  # one finding per distinct rendering
    assert "8080:80" in err
    assert "9090:90" in err
    assert err.rstrip().endswith("2 error(s)")


def test_warnings_alone_pass(tmp_path: Path, capsys: Capsys) -> None:
    pol = _write(
        tmp_path / "p.yml",
        f"""\
        apiVersion: checkpointctl/v1
        kind: CheckpointPolicy
        metadata:
          name: p
        spec:
          registries:
            trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
          containers:
            - name: probe
              image: registry.example.com/checkpoint/probe@{DIGEST}
              user: "10001:10001"
              cap_drop: [ALL]
          credentials:
            - name: shop
              username: synthetic-monitor
              secret: "{CIPHERTEXT}"
              scope: {{containers: [journeys], targets: ["https://shop.example.com/"]}}
        """,
    )
    inv = _write(tmp_path / "inv.yml", "all:\n  hosts:\n    cp-1:\n")
    assert main(["validate", str(pol), "-i", str(inv)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ok: 1 policies, 1 hosts"
    assert err.startswith(f"warning: {pol}:17:27: spec.credentials.shop.scope.containers")
    assert CIPHERTEXT not in out + err


def test_missing_path_is_a_clean_error(tmp_path: Path, capsys: Capsys) -> None:
    assert main(["validate", str(tmp_path / "nope.yml")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nope.yml'}:1:1: cannot read" in err
    assert "Traceback" not in err


def test_missing_inventory_is_a_clean_error(tmp_path: Path, capsys: Capsys) -> None:
    assert main(["validate", POLICIES, "-i", str(tmp_path / "none.yml")]) == 1
    err = capsys.readouterr().err
    assert "checkpointctl: error:" in err
    assert "cannot read" in err
    assert "Traceback" not in err


def test_render_host_shows_the_regional_override(capsys: Capsys) -> None:
    assert main(["render", POLICIES, "-i", PROD, "--host", "cp-nyc-1", "--format", "json"]) == 0
    raw = capsys.readouterr().out
    assert "$CHECKPOINTCTL_VAULT" not in raw  # the example credential's secret
    data = json.loads(raw)
    assert list(data) == ["cp-nyc-1"]
    nyc = data["cp-nyc-1"]
    probe = nyc["containers"][0]
    assert probe["limits"]["memory"] == 384 * 1024**2
    assert probe["limits"]["pids"] == 128
    assert probe["env"] == {"CHECKPOINT_NAME": "cp-nyc-1", "CHECKPOINT_REGION": "us"}
    settings = nyc["collection"][0]["settings"]
    assert settings["screenshots"] is True
    assert settings["console_logs"] is True
    assert settings["http_bodies"] is False
    assert nyc["policies"][0] == "baseline"
    assert "region-us" in nyc["policies"]
    assert all(c["secret"] == "<sensitive>" for c in nyc["credentials"])

    ams = _render_json(capsys, POLICIES, "-i", PROD, "--host", "cp-ams-1")["cp-ams-1"]
    assert ams["containers"][0]["limits"]["memory"] == 256 * 1024**2
    assert ams["collection"][0]["settings"]["screenshots"] is False


def test_render_limit_and_yaml_format(capsys: Capsys) -> None:
    assert main(["render", POLICIES, "-i", PROD, "--limit", "us:!cp-nyc-1"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert list(data) == ["cp-sfo-1"]
    assert data["cp-sfo-1"]["firewall"]["outbound"][0]["port"] == 443


def test_render_redacts_secrets(tmp_path: Path, capsys: Capsys) -> None:
    pol = _write(
        tmp_path / "p.yml",
        f"""\
        apiVersion: checkpointctl/v1
        kind: CheckpointPolicy
        metadata:
          name: p
        spec:
          registries:
            trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
          containers:
            - name: probe
              image: registry.example.com/checkpoint/probe@{DIGEST}
              user: "10001:10001"
              cap_drop: [ALL]
              env:
                API_TOKEN: "{CIPHERTEXT}"
          credentials:
            - name: shop
              username: synthetic-monitor
              secret: "{CIPHERTEXT}"
              scope: {{containers: [probe], targets: ["https://shop.example.com/"]}}
        """,
    )
    inv = _write(tmp_path / "inv.yml", "all:\n  hosts:\n    cp-1:\n")
    for fmt in ("json", "yaml"):
        assert main(["render", str(pol), "-i", str(inv), "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert CIPHERTEXT not in out
        assert "c2VjcmV0" not in out
    data = _render_json(capsys, str(pol), "-i", str(inv))["cp-1"]
    assert data["containers"][0]["env"]["API_TOKEN"] == "<sensitive>"
    assert data["credentials"][0]["secret"] == "<sensitive>"
    assert data["credentials"][0]["username"] == "synthetic-monitor"


def test_render_needs_an_inventory(capsys: Capsys) -> None:
    assert main(["render", POLICIES]) == 1
    assert "needs an inventory" in capsys.readouterr().err


def test_render_of_an_invalid_policy_fails_with_its_errors(tmp_path: Path, capsys: Capsys) -> None:
    pol = _write(
        tmp_path / "p.yml",
        """\
        apiVersion: checkpointctl/v1
        kind: CheckpointPolicy
        metadata:
          name: p
        spec:
          containers:
            - name: probe
              image: busybox:latest
        """,
    )
    inv = _write(tmp_path / "inv.yml", "all:\n  hosts:\n    cp-1:\n")
    assert main(["render", str(pol), "-i", str(inv)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"checkpointctl: error: {pol}:8:14: spec.containers.probe.image" in err
    assert "[image-digest]" in err


def test_version(capsys: Capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"checkpointctl {__version__}"


@pytest.mark.parametrize("verb", ["validate", "render"])
def test_help(verb: str, capsys: Capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--inventory" in out
    assert "PATHS" in out
