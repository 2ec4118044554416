"""Vendor checkpoints on the lab: one policy per vendor converges both full hosts.

The lab cannot pull the vendors' images, so the policies run the lab's stand-ins
(``checkpointctl.lab.standins``): they read exactly the vendor's documented variables and files,
refuse to start without its credentials, and write their effective settings to
``/tmp/standin/effective.json``, which the tests read with ``docker exec`` inside the host once
the stand-in's health signal says it is there (``standin_health.effective``). The
example policies (``policies/``) are applied alongside, so the rest of the lab stays as the
other suites expect it. Secrets are distinctive strings that must never show up in output.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from standin_health import effective

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo
from checkpointctl.trust.vault import VaultKey, encrypt

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
VAULT_PASSWORD = REPO / "examples" / "lab-vault-password"
HOSTS = ("cp-1", "cp-2")
DOCKER = ("docker", "-H", "unix:///run/docker.sock")
SECRETS = {
    "checkpoints.ams.settings.Password": "uptrends-pw-7Qx2",
    "checkpoints.dd.settings.accessKey": "dd-access-Zk41",
    "checkpoints.dd.settings.secretAccessKey": "dd-secret-Lp90",
    "checkpoints.dd.settings.privateKey": "dd-private-Wq55",
    "checkpoints.chk.settings.API_KEY": "pl_checkly-Jr38",
    "checkpoints.nr.settings.PRIVATE_LOCATION_KEY": "NRSP-nr-key-Tt12",
}
DD_FILE = "/etc/checkpoint/secret-files/dd-worker_synthetics-check-runner.json"


def _vault(path: str) -> str:
    key = VaultKey.from_password(VAULT_PASSWORD.read_bytes().strip())
    return encrypt(SECRETS[path].encode(), key, path)


def _policy(name: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "checkpointctl/v1",
        "kind": "CheckpointPolicy",
        "metadata": {"name": name},
        "selector": {"groups": ["checkpoints"]},
        "priority": 20,
        "spec": {
            "registries": {
                "trusted": [
                    {"registry": "{{ lab_registry }}", "prefix": "checkpoint/"},
                    {"registry": "{{ lab_registry }}", "prefix": "standin/"},
                ]
            },
            "checkpoints": [checkpoint],
        },
    }


def vendor_policies(
    screenshots: bool = True, processor_env: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    processor: dict[str, Any] = {"name": "transactionprocessor",
                                 "image": "{{ standin_uptrends_processor_image }}"}
    if processor_env:
        processor["env"] = processor_env
    return {
        "uptrends": _policy("vendor-uptrends", {
            "name": "ams", "vendor": "uptrends",
            "data_collection": {"profile": "full", "screenshots": screenshots},
            "settings": {"ServerId": "4711",
                         "Password": _vault("checkpoints.ams.settings.Password")},
            "containers": [
                {"name": "checkpoint", "image": "{{ standin_uptrends_checkpoint_image }}"},
                processor,
            ],
        }),
        "datadog": _policy("vendor-datadog", {
            "name": "dd", "vendor": "datadog", "egress": [],
            "settings": {
                "id": "pl:lab-1", "site": "datadoghq.eu", "concurrency": 4,
                "publicKey.pem": "-----BEGIN PUBLIC KEY-----lab",
                "publicKey.fingerprint": "lab-fingerprint",
                **{k: _vault(f"checkpoints.dd.settings.{k}")
                   for k in ("accessKey", "secretAccessKey", "privateKey")},
            },
            "containers": [{"name": "worker", "image": "{{ standin_datadog_image }}"}],
        }),
        "checkly": _policy("vendor-checkly", {
            "name": "chk", "vendor": "checkly", "egress": [],
            "settings": {"API_KEY": _vault("checkpoints.chk.settings.API_KEY"),
                         "JOB_CONCURRENCY": "3"},
            "containers": [{"name": "agent", "image": "{{ standin_checkly_image }}"}],
        }),
        "newrelic": _policy("vendor-newrelic", {
            "name": "nr", "vendor": "newrelic", "egress": [],
            "settings": {"PRIVATE_LOCATION_KEY":
                         _vault("checkpoints.nr.settings.PRIVATE_LOCATION_KEY")},
            "containers": [{"name": "job-manager", "image": "{{ standin_newrelic_image }}"}],
        }),
    }  # fmt: skip


def write_repo(
    root: Path, screenshots: bool = True, processor_env: dict[str, str] | None = None
) -> None:
    for vendor, doc in vendor_policies(screenshots, processor_env).items():
        (root / f"vendor-{vendor}.yml").write_text(yaml.safe_dump(doc, sort_keys=False))


def cli(
    capsys: pytest.CaptureFixture[str], repo: Path, lab: LabInfo, verb: str, *extra: str
) -> tuple[int, str]:
    argv = [verb, str(repo), "-i", str(lab.inventory), "--vault-password-file",
            str(VAULT_PASSWORD), *extra]  # fmt: skip
    code = main(argv)
    out, err = capsys.readouterr()
    no_secret(err)
    return code, out


def no_secret(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vendor-policies")
    for example in (REPO / "policies").glob("*.yml"):
        shutil.copy(example, root / example.name)
    write_repo(root)
    return root


@pytest.fixture(scope="module")
def converged(repo: Path, lab: LabInfo) -> LabInfo:
    code = main(["apply", str(repo), "-i", str(lab.inventory), "--vault-password-file",
                 str(VAULT_PASSWORD), "-q", "--limit", "lab_full"])  # fmt: skip
    assert code == 0, "the vendor policies must converge both full hosts"
    return lab


Inspect = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def inspect(on_host: Callable[..., Any]) -> Inspect:
    def run(host: str, name: str) -> dict[str, Any]:
        out = on_host(host, [*DOCKER, "inspect", "--type", "container", name]).stdout
        info: dict[str, Any] = json.loads(out)[0]
        return info

    return run


def started(info: dict[str, Any]) -> datetime:
    """``State.StartedAt`` (RFC 3339 with up to nanoseconds, trailing zeros trimmed: not
    comparable as text) as a time, to the microsecond."""
    head, _, frac = info["State"]["StartedAt"].rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def test_each_vendor_converges_both_hosts_in_order_on_its_own_network(
    converged: LabInfo, on_host: Callable[..., Any], inspect: Inspect
) -> None:
    for host in HOSTS:
        tp, cp = inspect(host, "ams-transactionprocessor"), inspect(host, "ams-checkpoint")
        assert (
            tp["HostConfig"]["NetworkMode"] == cp["HostConfig"]["NetworkMode"] == ("checkpoint-ams")
        )
        assert started(tp) <= started(cp)  # depends_on
        assert cp["HostConfig"]["LogConfig"] == {
            "Type": "json-file",
            "Config": {"max-file": "3", "max-size": "10m"},
        }
        assert cp["HostConfig"]["ReadonlyRootfs"] is True
        assert cp["HostConfig"]["CapDrop"] == ["ALL"]
        volume = next(m for m in cp["Mounts"] if m["Type"] == "volume")
        assert (volume["Name"], volume["RW"]) == ("ams-certificates", False)
        up = effective(on_host, host, "ams-checkpoint")
        assert up["ServerId"] == "4711"
        assert up["Password"] == "<set>"
        assert up["AllowScreenshotsInResults"] == "true"
        dd = effective(on_host, host, "dd-worker")
        assert (dd["site"], dd["concurrency"], dd["accessKey"]) == ("datadoghq.eu", "4", "<set>")
        assert effective(on_host, host, "chk-agent")["JOB_CONCURRENCY"] == "3"
        assert effective(on_host, host, "nr-job-manager")["PRIVATE_LOCATION_KEY"] == "<set>"
        mode = on_host(host, ["stat", "-c", "%a %u:%g", DD_FILE]).stdout.split()
        assert mode == ["400", "10001:10001"]


def test_drift_is_empty_and_second_apply_changes_nothing(
    converged: LabInfo, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, repo, converged, "drift", "--limit", "lab_full")
    assert code == 0, out
    # New Relic's waivers, with the vendor's documented reason, in an in-sync host's report
    assert "docker-socket" in out
    assert "New Relic's job manager starts runtime containers" in out
    code, out = cli(capsys, repo, converged, "apply", "--limit", "lab_full", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert all(h["changes"] == [] and h["applied"] == [] for h in report["hosts"])


def test_stand_in_refuses_to_start_without_the_vendors_credentials(
    converged: LabInfo, on_host: Callable[..., Any], inspect: Inspect
) -> None:
    image = inspect("cp-1", "ams-checkpoint")["Config"]["Image"]
    run = on_host("cp-1", [*DOCKER, "run", "--rm", "--read-only", "--tmpfs", "/tmp", image],
                  check=False)  # fmt: skip
    assert run.returncode == 1
    assert "ServerId is not set" in run.stderr


def test_screenshots_off_is_drift_on_the_vendor_variable_and_restarts_only_its_reader(
    converged: LabInfo,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    on_host: Callable[..., Any],
    inspect: Inspect,
) -> None:
    before = {h: (inspect(h, "ams-transactionprocessor")["Id"], inspect(h, "ams-checkpoint")["Id"])
              for h in HOSTS}  # fmt: skip
    write_repo(repo, screenshots=False)
    try:
        code, out = cli(capsys, repo, converged, "drift", "--limit", "lab_full",
                        "--format", "json")  # fmt: skip
        assert code == 2
        no_secret(out)
        report = json.loads(out)
        for host in report["hosts"]:
            (change,) = host["changes"]
            assert change["address"] == "container/ams-checkpoint"
            fields = {f["path"]: (f["before"], f["after"]) for f in change["fields"]}
            assert fields["env.AllowScreenshotsInResults"] == ("true", "false")
        code, text = cli(capsys, repo, converged, "drift", "--limit", "lab_full")
        assert code == 2
        assert "AllowScreenshotsInResults" in text
        assert "cp-1" in text
        no_secret(text)
        code, out = cli(capsys, repo, converged, "apply", "--limit", "lab_full")
        assert code == 0, out
        no_secret(out)
        for host in HOSTS:
            assert effective(on_host, host, "ams-checkpoint")["AllowScreenshotsInResults"] == (
                "false"
            )
            tp_id, cp_id = before[host]
            assert inspect(host, "ams-transactionprocessor")["Id"] == tp_id
            assert inspect(host, "ams-checkpoint")["Id"] != cp_id
    finally:
        write_repo(repo, screenshots=True)
        assert cli(capsys, repo, converged, "apply", "--limit", "lab_full")[0] == 0


def test_datadog_secret_file_changed_by_hand_is_drift_put_back_and_never_shown(
    converged: LabInfo,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    on_host: Callable[..., Any],
    inspect: Inspect,
) -> None:
    digest = on_host("cp-1", ["sha256sum", DD_FILE]).stdout.split()[0]
    on_host("cp-1", ["sed", "-i", "s/datadoghq.eu/evil.example/", DD_FILE])
    outputs = []
    for fmt in ("text", "json", "junit", "markdown"):
        code, out = cli(capsys, repo, converged, "drift", "--limit", "cp-1", "--format", fmt)
        assert code == 2, out
        outputs.append(out)
    assert "secret-file/dd-worker/etc/datadog/synthetics-check-runner.json" in outputs[0]
    report = json.loads(outputs[1])
    (change,) = report["hosts"][0]["changes"]
    assert change["fields"][0]["path"] == "content"
    assert change["fields"][0]["after"] == "<sensitive>"
    code, out = cli(capsys, repo, converged, "apply", "--limit", "cp-1")
    assert code == 0, out
    outputs.append(out)
    assert on_host("cp-1", ["sha256sum", DD_FILE]).stdout.split()[0] == digest
    audit = on_host("cp-1", ["cat", "/var/lib/checkpointctl/audit.jsonl"]).stdout
    container = json.dumps(inspect("cp-1", "dd-worker"))
    for text in (*outputs, audit, container):
        no_secret(text)
        assert "evil.example" not in text


def test_a_vendor_auto_update_cron_entry_shows_in_drift_and_status(
    converged: LabInfo,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    on_host: Callable[..., Any],
) -> None:
    # A tmpfs over /etc/cron.d inside cp-2's own mount namespace: the machine's /etc/cron.d
    # (which the lab host otherwise shares) is never touched.
    on_host("cp-2", ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/etc/cron.d"])
    try:
        on_host("cp-2", ["sh", "-c", 'printf "%s\\n" "$1" > /etc/cron.d/uptrends-update', "sh",
                         "0 * * * * root cd /opt/uptrends && docker-compose pull && "
                         "docker-compose down && docker-compose up -d"])  # fmt: skip
        code, out = cli(capsys, repo, converged, "drift", "--limit", "lab_full")
        assert code == 0, out  # a finding, not drift
        assert "auto-updater /etc/cron.d/uptrends-update:1 pulls images" in out
        assert out.count("auto-updater") == 1  # cp-1 has none
        code = main(["status", "-i", str(converged.inventory), "--limit", "cp-2", "--format",
                     "json", str(repo)])  # fmt: skip
        status, _ = capsys.readouterr()
        assert "auto-updater /etc/cron.d/uptrends-update:1" in status
    finally:
        on_host("cp-2", ["umount", "/etc/cron.d"])


OBJECTS_POLICY = "objects.yml"


def _objects_policy() -> dict[str, Any]:
    """A checkpoint of one container (no vendor) on its own network with a named volume."""
    app = {
        "name": "app", "image": "{{ checkpoint_image }}", "user": "10001:10001",
        "read_only": True, "cap_drop": ["ALL"], "no_new_privileges": True, "tmpfs": ["/tmp"],
        "resources": {"memory": "64m", "cpus": 0.2, "pids": 32},
        "volumes": [{"name": "objs-data", "target": "/data"}],
    }  # fmt: skip
    return _policy("objects", {"name": "objs", "containers": [app]})


def _labels(on_host: Callable[..., Any], kind: str, name: str) -> dict[str, str] | None:
    run = on_host("cp-1", [*DOCKER, kind, "inspect", "--format", "{{json .Labels}}", name],
                  check=False)  # fmt: skip
    return json.loads(run.stdout) or {} if run.returncode == 0 else None


def _docker_changes(changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(address, action) of the plan's networks, volumes and containers, in plan order."""
    kinds = ("network/", "volume/", "container/")
    return [(c["address"], c["action"]) for c in changes if c["address"].startswith(kinds)]


def test_networks_and_volumes_are_planned_labelled_ours_and_removed_when_unwanted(
    converged: LabInfo,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    on_host: Callable[..., Any],
) -> None:
    policy = repo / OBJECTS_POLICY
    policy.write_text(yaml.safe_dump(_objects_policy(), sort_keys=False))
    hand = (("network", "hand-net"), ("volume", "hand-vol"))  # an operator's: never touched
    try:
        for kind, name in hand:
            on_host("cp-1", [*DOCKER, kind, "create", name])
        code, out = cli(capsys, repo, converged, "drift", "--limit", "cp-1", "--format", "json")
        assert code == 2
        changes = json.loads(out)["hosts"][0]["changes"]
        assert _docker_changes(changes) == [
            ("network/checkpoint-objs", "create"), ("volume/objs-data", "create"),
            ("container/objs-app", "create"),
        ]  # fmt: skip
        assert cli(capsys, repo, converged, "apply", "--limit", "cp-1")[0] == 0
        for kind, name in (("network", "checkpoint-objs"), ("volume", "objs-data")):
            assert _labels(on_host, kind, name) == {"io.checkpointctl.managed": "true"}

        # removed by hand (the container first: the engine refuses to remove what is in use)
        on_host("cp-1", [*DOCKER, "rm", "-f", "objs-app"])
        on_host("cp-1", [*DOCKER, "network", "rm", "checkpoint-objs"])
        on_host("cp-1", [*DOCKER, "volume", "rm", "objs-data"])
        code, out = cli(capsys, repo, converged, "drift", "--limit", "cp-1", "--format", "json")
        assert code == 2
        changes = json.loads(out)["hosts"][0]["changes"]
        assert _docker_changes(changes) == [
            ("network/checkpoint-objs", "create"), ("volume/objs-data", "create"),
            ("container/objs-app", "create"),
        ]  # fmt: skip
        assert cli(capsys, repo, converged, "apply", "--limit", "cp-1")[0] == 0
        code, out = cli(capsys, repo, converged, "apply", "--limit", "cp-1", "--format", "json")
        assert code == 0
        assert json.loads(out)["hosts"][0]["changes"] == []

        # no longer wanted: removed (after the container), in every report format
        policy.unlink()
        outputs = {}
        for fmt in ("text", "json", "junit", "markdown"):
            code, outputs[fmt] = cli(capsys, repo, converged, "drift", "--limit", "cp-1",
                                     "--format", fmt)  # fmt: skip
            assert code == 2
            assert "network/checkpoint-objs" in outputs[fmt]
            assert "volume/objs-data" in outputs[fmt]
        changes = json.loads(outputs["json"])["hosts"][0]["changes"]
        assert _docker_changes(changes) == [
            ("container/objs-app", "delete"), ("network/checkpoint-objs", "delete"),
            ("volume/objs-data", "delete"),
        ]  # fmt: skip
        code, out = cli(capsys, repo, converged, "apply", "--limit", "cp-1")
        assert code == 0, out
        assert _labels(on_host, "network", "checkpoint-objs") is None
        assert _labels(on_host, "volume", "objs-data") is None
        for kind, name in hand:
            assert _labels(on_host, kind, name) == {}
        assert cli(capsys, repo, converged, "drift", "--limit", "cp-1")[0] == 0
    finally:
        policy.unlink(missing_ok=True)
        for kind, name in hand:
            on_host("cp-1", [*DOCKER, kind, "rm", name], check=False)
        assert cli(capsys, repo, converged, "apply", "--limit", "cp-1")[0] == 0


def test_replacing_a_dependency_restarts_its_dependants_after_it_and_nothing_else(
    converged: LabInfo,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    on_host: Callable[..., Any],
    inspect: Inspect,
) -> None:
    """Compose's choice (``depends_on`` with ``restart: true``): Uptrends' Checkpoint is
    restarted, in place, once its TransactionProcessor has been replaced."""
    host = "cp-1"
    before = {n: inspect(host, n) for n in ("ams-transactionprocessor", "ams-checkpoint",
                                            "chk-agent")}  # fmt: skip
    write_repo(repo, processor_env={"STANDIN_LAB_BUMP": "1"})
    try:
        code, out = cli(capsys, repo, converged, "drift", "--limit", host, "--format", "json")
        assert code == 2
        (change,) = json.loads(out)["hosts"][0]["changes"]
        assert (change["address"], change["action"]) == (
            "container/ams-transactionprocessor", "replace"
        )  # fmt: skip
        fields = {f["path"]: f["after"] for f in change["fields"]}
        assert fields["restarts_dependants"] == ["ams-checkpoint"]
        code, out = cli(capsys, repo, converged, "apply", "--limit", host)
        assert code == 0, out
        tp, cp, other = (inspect(host, n) for n in before)
        assert tp["Id"] != before["ams-transactionprocessor"]["Id"]  # replaced
        assert cp["Id"] == before["ams-checkpoint"]["Id"]  # restarted in place, not recreated
        assert started(cp) > started(before["ams-checkpoint"])
        assert started(cp) > started(tp)  # after its dependency
        assert (other["Id"], other["State"]["StartedAt"]) == (
            before["chk-agent"]["Id"], before["chk-agent"]["State"]["StartedAt"]
        )  # fmt: skip
        assert effective(on_host, host, "ams-checkpoint")["ServerId"] == "4711"
        code, out = cli(capsys, repo, converged, "apply", "--limit", host, "--format", "json")
        assert code == 0
        assert json.loads(out)["hosts"][0]["changes"] == []
    finally:
        write_repo(repo)
        assert cli(capsys, repo, converged, "apply", "--limit", host)[0] == 0


def test_watchtower_and_a_vendors_compose_project_show_in_drift_and_status(
    converged: LabInfo,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    on_host: Callable[..., Any],
    inspect: Inspect,
) -> None:
    """Started by hand on cp-2, as an operator following the vendor's or Watchtower's page
    would: found in the containers drift reads anyway."""
    image = inspect("cp-2", "ams-checkpoint")["Config"]["Image"]  # the Uptrends stand-in
    sleep = ["--entrypoint", "/bin/sleep"]
    started = ("watchtower", "uptrends-checkpoint-1")
    try:
        on_host("cp-2", [*DOCKER, "tag", image, "containrrr/watchtower:latest"])
        on_host("cp-2", [*DOCKER, "run", "-d", "--name", "watchtower", *sleep,
                         "containrrr/watchtower:latest", "3600"])  # fmt: skip
        on_host("cp-2", [*DOCKER, "run", "-d", "--name", "uptrends-checkpoint-1",
                         "--label", "com.docker.compose.project=uptrends",
                         "--label", "com.docker.compose.service=checkpoint",
                         *sleep, image, "3600"])  # fmt: skip
        code, out = cli(capsys, repo, converged, "drift", "--limit", "lab_full")
        assert code == 0, out  # findings, not drift
        assert "auto-updater container watchtower runs Watchtower" in out
        assert "auto-updater compose project uptrends (service checkpoint" in out
        assert out.count("auto-updater") == 2  # cp-1 has neither
        main(["status", "-i", str(converged.inventory), "--limit", "cp-2", "--format", "json",
              str(repo)])  # fmt: skip
        status, _ = capsys.readouterr()
        assert "container watchtower runs Watchtower" in status
        assert "compose project uptrends" in status
    finally:
        on_host("cp-2", [*DOCKER, "rm", "-f", *started], check=False)
        on_host("cp-2", [*DOCKER, "rmi", "containrrr/watchtower:latest"], check=False)


def test_a_windows_host_is_refused_alone_while_the_others_are_checked(
    converged: LabInfo,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The lab's inventory plus a host marked ``os: windows`` (never connected to)."""
    inventory = yaml.safe_load(converged.inventory.read_text())
    full = inventory["all"]["children"]["checkpoints"]["children"]["lab_full"]["hosts"]
    full["win-1"] = {"address": "10.213.1.250", "region": "eu", "os": "windows"}
    path = tmp_path / "with-windows.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    code = main(["drift", str(repo), "-i", str(path), "--vault-password-file",
                 str(VAULT_PASSWORD), "--limit", "cp-1:win-1", "--format", "json"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 1, out
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    assert hosts["cp-1"]["status"] == "in-sync"
    assert hosts["win-1"]["status"] == "failed"
    assert "os: windows is not supported yet" in hosts["win-1"]["error"]
    assert "docs/windows.md" in hosts["win-1"]["error"]
