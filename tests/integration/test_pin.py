"""``checkpointctl pin`` against the lab registry (a real distribution registry over HTTP).

Stories: a policy written with a tag gets exactly the lab's digest for that tag, on the image
line only; a pinned digest that is behind its tag makes ``pin --check`` exit 1; and when a tag
is pushed with a new image, ``--check`` notices and ``pin`` rewrites only that digest, keeping
every comment byte for byte.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

MOVING_TAG = "gitops-pin-test"
"""A tag only this test moves (on the lab's checkpoint/probe repository)."""
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"

Capsys = pytest.CaptureFixture[str]


def policy_text(image: str, *, sidecar: bool = True) -> str:
    registry = image.split("/", 1)[0]
    text = f"""\
# yaml-language-server: $schema=../schemas/policy.v1.json
# The probe follows a release tag; `checkpointctl pin` keeps the digest current.
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: pinned-probe   # owned by the checkpoint team
selector:
  groups: [checkpoints]
spec:
  registries:
    trusted: [{{registry: "{registry}", prefix: checkpoint/}}]
  containers:
    - name: probe
      image: {image}   # bumped by the nightly pin job
      pin: true
      user: "10001:10001"   # not root
      cap_drop: [ALL]
"""
    if sidecar:
        text += f"""\
    - name: sidecar
      image: "{image}"
      user: "10002:10002"
"""
    return text


def digest_of(pinned: str) -> str:
    return pinned.rpartition("@")[2]


def pin(capsys: Capsys, lab: LabInfo, *argv: str) -> tuple[int, str, str]:
    code = main(["pin", *argv, "--insecure-registry", lab.registry])
    out, err = capsys.readouterr()
    return code, out, err


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def push_tag(lab: LabInfo, source_tag: str, tag: str) -> str:
    """Point ``tag`` at the manifest of ``source_tag`` (what ``docker push`` of that image
    under the new tag does); returns the digest the registry reports."""
    base = f"http://{lab.registry}/v2/checkpoint/probe/manifests"
    get = urllib.request.Request(f"{base}/{source_tag}", headers={"Accept": SCHEMA2})
    with urllib.request.urlopen(get, timeout=10) as resp:
        manifest = resp.read()
    put = urllib.request.Request(
        f"{base}/{tag}", data=manifest, method="PUT", headers={"Content-Type": SCHEMA2}
    )
    with urllib.request.urlopen(put, timeout=10) as resp:
        return str(resp.headers["Docker-Content-Digest"])


@pytest.fixture
def repo_policy(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    return tmp_path / "policies" / "probe.yml"


def test_pin_writes_the_lab_digest_on_the_image_line_only(
    lab: LabInfo, repo_policy: Path, capsys: Capsys
) -> None:
    tagged = f"{lab.registry}/checkpoint/probe:v1"
    before = policy_text(tagged)
    repo_policy.write_text(before)
    code, out, err = pin(capsys, lab, str(repo_policy.parent))
    assert code == 0, err
    v1 = digest_of(lab.checkpoint_image)
    after = repo_policy.read_text()
    assert changed_lines(before, after) == [
        (
            f"      image: {tagged}   # bumped by the nightly pin job\n",
            f"      image: {tagged}@{v1}   # bumped by the nightly pin job\n",
        ),
    ]
    assert f"spec.containers.probe.image: pinned {tagged} to {v1}\n" in out
    assert out.endswith(f"pin: 1 pinned; rewrote {repo_policy}\n")
    # the sidecar has no `pin: true`: untouched (and reported by lint, not by pin)
    assert f'      image: "{tagged}"\n' in after
    code, out, _ = pin(capsys, lab, "--check", str(repo_policy))
    assert code == 0
    assert out.endswith("check: 1 current\n")


def test_check_exits_1_when_the_pinned_digest_is_behind_its_tag(
    lab: LabInfo, repo_policy: Path, capsys: Capsys
) -> None:
    # pinned to v2's digest while following tag v1: v1 now points elsewhere
    v1, v2 = digest_of(lab.checkpoint_image), digest_of(lab.checkpoint_image_v2)
    stale = f"{lab.registry}/checkpoint/probe:v1@{v2}"
    before = policy_text(stale)
    repo_policy.write_text(before)
    code, out, err = pin(capsys, lab, "--check", str(repo_policy))
    assert code == 1
    assert f"spec.containers.probe.image: behind its tag: {stale} now points at {v1}\n" in out
    assert err == "check: 1 behind\n"
    assert repo_policy.read_text() == before  # --check writes nothing
    code, _, err = pin(capsys, lab, str(repo_policy))
    assert code == 0, err
    assert changed_lines(before, repo_policy.read_text()) == [
        (
            f"      image: {stale}   # bumped by the nightly pin job\n",
            f"      image: {stale.replace(v2, v1)}   # bumped by the nightly pin job\n",
        ),
    ]


def test_a_tag_pushed_with_a_new_image_is_noticed_and_bumped(
    lab: LabInfo, repo_policy: Path, capsys: Capsys
) -> None:
    first = push_tag(lab, "v1", MOVING_TAG)
    assert first == digest_of(lab.checkpoint_image)
    tagged = f"{lab.registry}/checkpoint/probe:{MOVING_TAG}"
    repo_policy.write_text(policy_text(tagged))
    assert pin(capsys, lab, str(repo_policy))[0] == 0
    pinned = repo_policy.read_text()
    assert f"image: {tagged}@{first}   #" in pinned

    second = push_tag(lab, "v2", MOVING_TAG)  # a new image under the same tag
    assert second == digest_of(lab.checkpoint_image_v2) != first
    code, out, _ = pin(capsys, lab, "--check", str(repo_policy))
    assert code == 1
    assert f"behind its tag: {tagged}@{first} now points at {second}\n" in out
    code, _, err = pin(capsys, lab, str(repo_policy))
    assert code == 0, err
    bumped = repo_policy.read_text()
    assert changed_lines(pinned, bumped) == [
        (
            f"      image: {tagged}@{first}   # bumped by the nightly pin job\n",
            f"      image: {tagged}@{second}   # bumped by the nightly pin job\n",
        ),
    ]


def test_the_pinned_policy_renders_the_digest_docker_will_pull(
    lab: LabInfo, repo_policy: Path, capsys: Capsys
) -> None:
    repo_policy.write_text(policy_text(f"{lab.registry}/checkpoint/probe:v1", sidecar=False))
    assert pin(capsys, lab, str(repo_policy))[0] == 0
    assert (
        main(
            [
                "render",
                str(repo_policy),
                "-i",
                str(lab.inventory),
                "--host",
                "cp-1",
                "--format",
                "json",
            ]
        )
        == 0
    )
    probe = next(
        c for c in json.loads(capsys.readouterr().out)["cp-1"]["containers"] if c["name"] == "probe"
    )
    repository, _, digest = lab.checkpoint_image.partition("@")
    assert probe["image"] == {"repository": repository, "digest": digest}


def test_plain_http_needs_the_registry_listed_as_insecure(
    lab: LabInfo, repo_policy: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHECKPOINTCTL_INSECURE_REGISTRIES", raising=False)
    repo_policy.write_text(policy_text(f"{lab.registry}/checkpoint/probe:v1"))
    assert main(["pin", "--check", str(repo_policy), "--timeout", "5"]) == 1
    assert "spec.containers.probe.image: error:" in capsys.readouterr().err
    monkeypatch.setenv("CHECKPOINTCTL_INSECURE_REGISTRIES", lab.registry)
    assert main(["pin", "--check", str(repo_policy)]) == 1  # reachable now: not pinned yet
    assert "not pinned:" in capsys.readouterr().out
