"""Vendor checkpoints on the lab: one policy per vendor converges both full hosts.

The lab cannot pull the vendors' images, so the policies run the lab's stand-ins
(``checkpointctl.lab.standins``): they read exactly the vendor's documented variables and files,
refuse to start without its credentials, and write their effective settings to
``/tmp/standin/effective.json``, which the tests read with ``docker exec`` inside the host. The
example policies (``policies/``) are applied alongside, so the rest of the lab stays as the
other suites expect it. Secrets are distinctive strings that must never show up in output.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo
from checkpointctl.lab.standins import EFFECTIVE
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


def vendor_policies(screenshots: bool = True) -> dict[str, dict[str, Any]]:
    return {
        "uptrends": _policy("vendor-uptrends", {
            "name": "ams", "vendor": "uptrends",
            "data_collection": {"profile": "full", "screenshots": screenshots},
            "settings": {"ServerId": "4711",
                         "Password": _vault("checkpoints.ams.settings.Password")},
            "containers": [
                {"name": "checkpoint", "image": "{{ standin_uptrends_checkpoint_image }}"},
                {"name": "transactionprocessor",
                 "image": "{{ standin_uptrends_processor_image }}"},
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


def write_repo(root: Path, screenshots: bool = True) -> None:
    for vendor, doc in vendor_policies(screenshots).items():
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


def effective(on_host: Callable[..., Any], host: str, name: str) -> dict[str, str]:
    out = on_host(host, [*DOCKER, "exec", name, "cat", EFFECTIVE]).stdout
    doc: dict[str, str] = json.loads(out)
    return doc


def test_each_vendor_converges_both_hosts_in_order_on_its_own_network(
    converged: LabInfo, on_host: Callable[..., Any], inspect: Inspect
) -> None:
    for host in HOSTS:
        tp, cp = inspect(host, "ams-transactionprocessor"), inspect(host, "ams-checkpoint")
        assert (
            tp["HostConfig"]["NetworkMode"] == cp["HostConfig"]["NetworkMode"] == ("checkpoint-ams")
        )
        assert tp["State"]["StartedAt"] <= cp["State"]["StartedAt"]  # depends_on
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
