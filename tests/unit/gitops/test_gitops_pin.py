"""The YAML splice (one scalar changes, every other byte stays) and ``pin_paths`` logic.

``pin_paths`` takes the tag → digest lookup as a function; here it is a dictionary of what the
"registry" says, so the rules (pin, update, current, behind, skipped, errors, --check writes
nothing) are tested without a network. The real registry is in tests/integration/test_pin.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.errors import CheckpointctlError
from checkpointctl.gitops.pin import pin_paths
from checkpointctl.gitops.reference import ImageReference
from checkpointctl.gitops.yamlsplice import SpliceError, find_images, splice

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
REG = "registry.example.com"

POLICY = f"""\
# yaml-language-server: $schema=../schemas/policy.v1.json
# Probe images: the bot keeps the digests current (pin: true).
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: probes   # one policy for both probes
selector:
  groups: [checkpoints]
spec:
  registries:
    trusted:
      - {{registry: {REG}, prefix: checkpoint/}}
  containers:
    - name: probe
      image: {REG}/checkpoint/probe:v1      # follows v1
      pin: true
      user: "10001:10001"
      cap_drop: [ALL]

    - name: agent
      image: '{REG}/checkpoint/agent:v2@{D1}'
      pin: true
      user: "10002:10002"
      cap_drop: [ALL]
    - name: fixed   # not pinned by the bot
      image: "{REG}/checkpoint/fixed@{D1}"
      user: "10003:10003"
      cap_drop: [ALL]
"""


def registry(answers: dict[str, str]) -> object:
    def resolve(ref: ImageReference) -> str:
        key = f"{ref.name}:{ref.tag}"
        if key not in answers:
            raise CheckpointctlError(f"{ref.name}: tag {ref.tag!r} not found")
        return answers[key]

    return resolve


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


# --- splice ----------------------------------------------------------------------------------


def test_find_images_reports_each_container_with_its_pin_flag() -> None:
    sites = find_images(POLICY)
    assert [(s.container, s.pin, s.style, s.line, s.col) for s in sites] == [
        ("probe", True, None, 15, 14),
        ("agent", True, "'", 21, 14),
        ("fixed", False, '"', 26, 14),
    ]
    assert sites[0].value == f"{REG}/checkpoint/probe:v1"


def test_splice_changes_only_the_scalar_and_keeps_comments_and_quotes() -> None:
    sites = find_images(POLICY)
    new = splice(POLICY, sites[0], f"{REG}/checkpoint/probe:v1@{D2}")
    assert changed_lines(POLICY, new) == [
        (
            f"      image: {REG}/checkpoint/probe:v1      # follows v1\n",
            f"      image: {REG}/checkpoint/probe:v1@{D2}      # follows v1\n",
        ),
    ]
    new = splice(POLICY, sites[1], f"{REG}/checkpoint/agent:v2@{D2}")
    assert changed_lines(POLICY, new) == [
        (
            f"      image: '{REG}/checkpoint/agent:v2@{D1}'\n",
            f"      image: '{REG}/checkpoint/agent:v2@{D2}'\n",
        ),
    ]


def test_splice_keeps_crlf_bom_flow_style_and_other_documents() -> None:
    text = (
        "\ufeff# a\r\nx: 1\r\n---\r\nspec:\r\n  containers:\r\n"
        "    - {name: p, image: r.example/p:v1, pin: yes}  # flow\r\n"
    )
    (site,) = find_images(text)
    assert (site.document, site.pin) == (1, True)
    new = splice(text, site, f"r.example/p:v1@{D1}")
    assert new == text.replace("image: r.example/p:v1,", f"image: r.example/p:v1@{D1},")


def test_splice_quotes_a_value_that_cannot_be_plain() -> None:
    text = "spec:\n  containers:\n    - name: p\n      image: r.example/p:v1 # c\n"
    (site,) = find_images(text)
    assert splice(text, site, "x #y") == text.replace("r.example/p:v1", '"x #y"')


def test_block_scalars_are_refused() -> None:
    text = "spec:\n  containers:\n    - name: p\n      image: >-\n        r.example/p:v1\n"
    (site,) = find_images(text)
    with pytest.raises(SpliceError, match="block scalar"):
        splice(text, site, f"r.example/p:v1@{D1}")


# --- pin_paths -------------------------------------------------------------------------------


def test_pin_writes_digests_keeping_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "probes.yml"
    path.write_text(POLICY)
    resolve = registry({f"{REG}/checkpoint/probe:v1": D1, f"{REG}/checkpoint/agent:v2": D2})
    report = pin_paths([str(tmp_path)], resolve)  # type: ignore[arg-type]
    assert [(i.site.container, i.status) for i in report.items] == [
        ("probe", "pinned"),
        ("agent", "updated"),
    ]
    assert report.exit_code == 0
    assert report.written == (str(path),)
    after = path.read_text()
    assert changed_lines(POLICY, after) == [
        (
            f"      image: {REG}/checkpoint/probe:v1      # follows v1\n",
            f"      image: {REG}/checkpoint/probe:v1@{D1}      # follows v1\n",
        ),
        (
            f"      image: '{REG}/checkpoint/agent:v2@{D1}'\n",
            f"      image: '{REG}/checkpoint/agent:v2@{D2}'\n",
        ),
    ]
    again = pin_paths([str(path)], resolve)  # type: ignore[arg-type]
    assert [i.status for i in again.items] == ["current", "current"]
    assert again.written == ()
    assert again.summary() == "pin: 2 current"


def test_check_lists_what_is_behind_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "probes.yml"
    path.write_text(POLICY)
    resolve = registry({f"{REG}/checkpoint/probe:v1": D1, f"{REG}/checkpoint/agent:v2": D2})
    report = pin_paths([str(path)], resolve, check=True)  # type: ignore[arg-type]
    assert path.read_text() == POLICY
    assert report.exit_code == 1
    assert [str(i) for i in report.items] == [
        f"{path}:15:14: spec.containers.probe.image: not pinned: "
        f"{REG}/checkpoint/probe:v1 points at {D1}",
        f"{path}:21:14: spec.containers.agent.image: behind its tag: "
        f"{REG}/checkpoint/agent:v2@{D1} now points at {D2}",
    ]
    assert report.summary() == "check: 1 behind, 1 unpinned"
    current = registry({f"{REG}/checkpoint/probe:v1": D1, f"{REG}/checkpoint/agent:v2": D1})
    path.write_text(POLICY.replace("probe:v1 ", f"probe:v1@{D1} "))
    assert pin_paths([str(path)], current, check=True).exit_code == 0  # type: ignore[arg-type]


def test_templated_digest_only_and_unresolvable_images(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        "spec:\n  containers:\n"
        '    - {name: t, image: "{{ probe_image }}", pin: true}\n'
        f"    - {{name: d, image: 'r.example/d@{D1}', pin: true}}\n"
        "    - {name: g, image: r.example/gone:v1, pin: true}\n"
        "    - {name: bad, image: 'NOT A REF', pin: true}\n"
    )
    report = pin_paths([str(path)], registry({}))  # type: ignore[arg-type]
    assert [(i.site.container, i.status) for i in report.items] == [
        ("t", "skipped"),
        ("d", "skipped"),
        ("g", "error"),
        ("bad", "error"),
    ]
    assert "templated image" in report.items[0].message
    assert "no tag to follow" in report.items[1].message
    assert "tag 'v1' not found" in report.items[2].message
    assert report.exit_code == 1


def test_unreadable_files_are_reported_with_their_location(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("spec: [unclosed\n")
    report = pin_paths([str(tmp_path)], registry({}))  # type: ignore[arg-type]
    assert report.exit_code == 1
    assert str(report.problems[0]).startswith(f"{tmp_path}/bad.yml:2:1: YAML syntax error")


# --- what pin writes validates and renders ---------------------------------------------------


def test_a_tagged_digest_validates_and_renders_without_the_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pinned = POLICY.replace("probe:v1 ", f"probe:v1@{D1} ")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yml").write_text(pinned)
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  children:\n    checkpoints:\n      hosts:\n        cp-1: {}\n")
    assert main(["validate", str(tmp_path / "policies"), "-i", str(inv)]) == 0
    assert main(["render", str(tmp_path / "policies"), "-i", str(inv), "--format", "json"]) == 0
    out = capsys.readouterr().out
    rendered = json.loads(out[out.index("{") :])
    assert {c["name"]: c["image"] for c in rendered["cp-1"]["containers"]} == {
        "probe": {"repository": f"{REG}/checkpoint/probe", "digest": D1},
        "agent": {"repository": f"{REG}/checkpoint/agent", "digest": D1},
        "fixed": {"repository": f"{REG}/checkpoint/fixed", "digest": D1},
    }


def test_lint_suggests_pin_for_a_tag_with_pin_true(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yml").write_text(POLICY)
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  children:\n    checkpoints:\n      hosts:\n        cp-1: {}\n")
    assert main(["validate", str(tmp_path / "p.yml"), "-i", str(inv)]) == 1
    assert "run `checkpointctl pin`" in capsys.readouterr().err
