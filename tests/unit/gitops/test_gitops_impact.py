"""``checkpointctl impact`` on a real temporary Git repository (two commits), in every format.

The acceptance story: commit 2 bumps the probe digest for the EU group (two hosts) and adds an
outbound rule for one host; impact names exactly those hosts, resources and fields, groups the
totals by identical change, and leaves the fourth host unchanged. No host is touched.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
from pathlib import Path

import pytest
from gitops_repo import (
    NEW,
    OLD,
    SECRET_NEW,
    SECRET_OLD,
    Repo,
    git,
    host_nyc,
    isolate_git,
    make_repo,
    write,
)

from checkpointctl.cli.main import main
from checkpointctl.gitops.impact import ABSENT, FieldDelta, compare, diff_values
from checkpointctl.model import Secret

Capsys = pytest.CaptureFixture[str]
INV = "inventories/fleet.yml"
RULE = "{proto: tcp, port: 8443, cidrs: [198.51.100.7/32], comment: metrics}"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    isolate_git(monkeypatch)
    for var in (
        "CHECKPOINTCTL_VAULT_PASSWORD",
        "CHECKPOINTCTL_VAULT_PASSWORD_FILE",
        "CHECKPOINTCTL_VAULT_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    r = make_repo(tmp_path / "repo")
    monkeypatch.chdir(r.root)
    return r


def impact(capsys: Capsys, *argv: str) -> str:
    code = main(["impact", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_text_names_each_host_resource_and_field_with_totals(repo: Repo, capsys: Capsys) -> None:
    out = impact(capsys, "--base", "base", "--head", "main", "-i", INV)
    assert out == (
        f"impact of main ({repo.head[:12]}) against base ({repo.base[:12]}) "
        f"(inventory {INV}): 3 of 4 hosts change\n"
        "\n"
        "cp-ams-1: 1 resource changes\n"
        "  ~ container/probe\n"
        f"      image.digest: {OLD} → {NEW}\n"
        "\n"
        "cp-fra-1: 1 resource changes\n"
        "  ~ container/probe\n"
        f"      image.digest: {OLD} → {NEW}\n"
        "\n"
        "cp-nyc-1: 1 resource changes\n"
        "  ~ firewall/checkpointctl\n"
        "      outbound: +1 rule\n"
        f"        + {RULE}\n"
        "\n"
        "totals:\n"
        "  2 hosts: container/probe image.digest: sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb…\n"
        f"  1 host: firewall/checkpointctl outbound: +1 rule {RULE}\n"
        "\n"
        "unchanged: cp-sfo-1\n"
    )


def test_markdown_is_a_pr_comment_with_totals_and_folded_details(
    repo: Repo, capsys: Capsys
) -> None:
    out = impact(capsys, "--base", "base", "--head", "main", "-i", INV, "--format", "markdown")
    digest_row = f"| ~ | `container/probe` | `image.digest` | `{OLD}` | `{NEW}` |"
    assert (
        out
        == "\n".join(
            [
                "### checkpointctl impact",
                "",
                f"`base ({repo.base[:12]})` → `main ({repo.head[:12]})` · inventory `{INV}` · "
                "**3 of 4 hosts change**",
                "",
                "| hosts | change |",
                "|---:|---|",
                "| 2 | `container/probe` `image.digest`: "
                "sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb… |",
                "| 1 | `firewall/checkpointctl` `outbound`: +1 rule {proto: tcp, port: 8443, "
                "cidrs: \\[198.51.100.7/32\\], comment: metrics} |",
                "",
                "<details><summary>Per host (3 of 3)</summary>",
                "",
                "**cp-ams-1**: 1 resource changes",
                "",
                "| | resource | field | before | after |",
                "|---|---|---|---|---|",
                digest_row,
                "",
                "**cp-fra-1**: 1 resource changes",
                "",
                "| | resource | field | before | after |",
                "|---|---|---|---|---|",
                digest_row,
                "",
                "**cp-nyc-1**: 1 resource changes",
                "",
                "| | resource | field | before | after |",
                "|---|---|---|---|---|",
                f"| ~ | `firewall/checkpointctl` | `outbound` |  | `+ {RULE}` |",
                "",
                "</details>",
                "",
                "Unchanged: `cp-sfo-1`",
            ]
        )
        + "\n"
    )


def test_json_carries_every_change_whole(repo: Repo, capsys: Capsys) -> None:
    data = json.loads(
        impact(capsys, "--base", "base", "--head", "main", "-i", INV, "--format", "json")
    )
    digest_change = {
        "address": "container/probe",
        "action": "update",
        "fields": [{"path": "image.digest", "before": OLD, "after": NEW}],
    }
    rule = {
        "proto": "tcp",
        "port": 8443,
        "cidrs": ["198.51.100.7/32"],
        "hosts": [],
        "comment": "metrics",
    }
    assert data == {
        "format_version": "1",
        "base": f"base ({repo.base[:12]})",
        "head": f"main ({repo.head[:12]})",
        "inventory": INV,
        "summary": {"hosts": 4, "changed": 3, "added": 0, "removed": 0, "unchanged": 1},
        "groups": [
            {
                "address": "container/probe",
                "path": "image.digest",
                "change": "sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb…",
                "count": 2,
                "hosts": ["cp-ams-1", "cp-fra-1"],
            },
            {
                "address": "firewall/checkpointctl",
                "path": "outbound",
                "change": f"+1 rule {RULE}",
                "count": 1,
                "hosts": ["cp-nyc-1"],
            },
        ],
        "hosts": [
            {"host": "cp-ams-1", "status": "changed", "resources": [digest_change]},
            {"host": "cp-fra-1", "status": "changed", "resources": [digest_change]},
            {
                "host": "cp-nyc-1",
                "status": "changed",
                "resources": [
                    {
                        "address": "firewall/checkpointctl",
                        "action": "update",
                        "fields": [{"path": "outbound", "added": [rule], "removed": []}],
                    },
                ],
            },
            {"host": "cp-sfo-1", "status": "unchanged", "resources": []},
        ],
        "notes": [],
    }


def test_output_file_and_exit_zero_with_changes(repo: Repo, capsys: Capsys) -> None:
    assert (
        main(["impact", "--base", "base", "-i", INV, "--format", "markdown", "-o", "impact.md"])
        == 0
    )
    assert capsys.readouterr().out == ""
    assert "| 2 | `container/probe` `image.digest`" in Path("impact.md").read_text()


def test_head_defaults_to_the_working_tree_with_uncommitted_edits(
    repo: Repo, capsys: Capsys
) -> None:
    write(repo.root, "policies/host-cp-nyc-1.yml", host_nyc(False))  # undo the rule, uncommitted
    out = impact(capsys, "--base", "base", "-i", INV)
    assert out.startswith(
        f"impact of working tree against base ({repo.base[:12]}) (inventory {INV}): "
        "2 of 4 hosts change\n"
    )
    assert "firewall" not in out
    assert "unchanged: cp-nyc-1, cp-sfo-1\n" in out


def test_same_revision_has_no_changes(repo: Repo, capsys: Capsys) -> None:
    out = impact(capsys, "--base", "main", "--head", "main", "-i", INV)
    assert out == (
        f"impact of main ({repo.head[:12]}) against main ({repo.head[:12]}) "
        f"(inventory {INV}): no host changes (4 hosts compared)\n"
    )


def test_works_from_a_subfolder_with_explicit_paths(repo: Repo, capsys: Capsys) -> None:
    os.chdir(repo.root / "policies")
    out = impact(capsys, "--base", "base", "--head", "main", ".", "-i", f"../{INV}")
    assert "3 of 4 hosts change" in out


def test_new_and_removed_hosts(repo: Repo, capsys: Capsys) -> None:
    inv = (repo.root / INV).read_text()
    inv = inv.replace("            cp-sfo-1: {address: 192.0.2.51}\n", "")
    inv = inv.replace(
        "cp-fra-1: {address: 192.0.2.31}\n",
        "cp-fra-1: {address: 192.0.2.31}\n            cp-lis-1: {address: 192.0.2.61}\n",
    )
    (repo.root / INV).write_text(inv)
    out = impact(capsys, "--base", "main", "-i", INV)
    assert "cp-lis-1: newly managed\n  + firewall/checkpointctl\n" in out
    assert "cp-sfo-1: no longer managed\n  - firewall/checkpointctl\n" in out
    assert "  1 host: newly managed (selected by no policy before)\n" in out
    assert "  1 host: no longer managed (selected by no policy now)\n" in out


def test_inventory_outside_the_repo_is_used_for_both_sides(
    repo: Repo, tmp_path: Path, capsys: Capsys
) -> None:
    outside = tmp_path / "elsewhere.yml"
    outside.write_text((repo.root / INV).read_text())
    out = impact(capsys, "--base", "base", "--head", "main", "-i", str(outside))
    assert "3 of 4 hosts change" in out


def test_inventory_missing_at_base_falls_back_with_a_note(repo: Repo, capsys: Capsys) -> None:
    git(repo.root, "mv", INV, "inventories/all.yml")
    git(repo.root, "commit", "-q", "-m", "rename inventory")
    out = impact(capsys, "--base", "base", "-i", "inventories/all.yml")
    assert "note: inventories/all.yml is not in base: used the working copy for it\n" in out
    assert "3 of 4 hosts change" in out


def test_secrets_show_as_sensitive_and_their_ciphertext_never_prints(
    repo: Repo, capsys: Capsys
) -> None:
    def cred(secret: str) -> str:
        return f"""\
            apiVersion: checkpointctl/v1
            kind: CheckpointPolicy
            metadata: {{name: creds}}
            selector: {{hosts: [cp-ams-1]}}
            spec:
              credentials:
                - name: portal
                  username: monitor
                  secret: "{secret}"
                  scope: {{containers: [probe], targets: ["https://portal.example.com/"]}}
            """

    write(repo.root, "policies/creds.yml", cred(SECRET_OLD))
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "credential")
    write(repo.root, "policies/creds.yml", cred(SECRET_NEW))
    for fmt in ("text", "json", "markdown", "html"):
        out = impact(capsys, "--base", "main", "-i", INV, "--format", fmt)
        assert "<sensitive>" in (html.unescape(out) if fmt == "html" else out)
        for leak in (SECRET_OLD, SECRET_NEW, SECRET_OLD.split(";")[-1], SECRET_NEW.split(";")[-1]):
            assert leak not in out
    text = impact(capsys, "--base", "main", "-i", INV)
    assert "  ~ credential/portal\n      secret: <sensitive> → <sensitive>\n" in text
    # the container mounting the credential is replaced: its config digest follows the file
    assert "  ~ container/probe\n      config_digest: sha256:" in text


def test_an_invalid_revision_points_at_rev_path_line(repo: Repo, capsys: Capsys) -> None:
    write(repo.root, "policies/region-eu.yml", "apiVersion: checkpointctl/v1\nkind: Nope\n")
    git(repo.root, "commit", "-q", "-am", "broken")
    assert main(["impact", "--base", "HEAD", "--head", "base", "-i", INV]) == 1
    err = capsys.readouterr().err
    assert "checkpointctl: error: HEAD:policies/region-eu.yml:2:" in err
    assert "/tmp" not in err
    assert "checkpointctl-impact-" not in err


def test_a_shallow_clone_fetches_the_base_it_lacks(
    repo: Repo, tmp_path: Path, capsys: Capsys
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth=1",
            "--single-branch",
            "--branch",
            "main",
            f"file://{repo.root}",
            str(clone),
        ],
        check=True,
        capture_output=True,
    )
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    os.chdir(clone)
    out = impact(capsys, "--base", "origin/base", "-i", INV)
    assert out.startswith(f"impact of working tree against origin/base ({repo.base[:12]})")
    assert "3 of 4 hosts change" in out


def test_a_missing_revision_says_what_ci_must_fetch(
    repo: Repo, tmp_path: Path, capsys: Capsys
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", f"file://{repo.root}", str(clone)],
        check=True,
        capture_output=True,
    )
    os.chdir(clone)
    assert main(["impact", "--base", "origin/no-such-branch", "-i", INV]) == 1
    err = capsys.readouterr().err
    assert "revision 'origin/no-such-branch' is not in this clone" in err
    assert "`git fetch --depth=1 origin no-such-branch` failed" in err
    assert "`fetch-depth: 0`" in err
    assert "`GIT_DEPTH: 0`" in err


def test_refs_that_look_like_options_are_refused(repo: Repo, capsys: Capsys) -> None:
    assert main(["impact", "--base=--output=/tmp/x", "-i", INV]) == 1
    assert "is not a revision" in capsys.readouterr().err


def test_outside_a_git_repository_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    isolate_git(monkeypatch)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "policies").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["impact", "--base", "main", "-i", "inv.yml"]) == 1
    assert "is not inside a Git work tree" in capsys.readouterr().err


# --- the pure diff ---------------------------------------------------------------------------


def test_reordered_list_is_one_value_change() -> None:
    assert diff_values({"cmd": ["a", "b"]}, {"cmd": ["b", "a"]}) == [
        FieldDelta("cmd", ["a", "b"], ["b", "a"])
    ]


def test_list_items_added_and_removed_keep_their_order() -> None:
    assert diff_values(["a", "b", "b", "c"], ["b", "c", "d", "e"], "x") == [
        FieldDelta("x", added=("d", "e"), removed=("a", "b"))
    ]


def test_nested_mappings_give_dotted_paths_and_absent_sides() -> None:
    before = {"env": {"A": "1"}, "labels": {"io.x/role": "probe"}}
    after = {"env": {"A": "2", "B": "3"}, "labels": {}}
    assert diff_values(before, after) == [
        FieldDelta("env.A", "1", "2"),
        FieldDelta("env.B", ABSENT, "3"),
        FieldDelta('labels["io.x/role"]', "probe", ABSENT),
    ]


def test_one_and_true_differ_and_equal_secrets_do_not() -> None:
    assert diff_values({"v": 1}, {"v": True}) == [FieldDelta("v", 1, True)]
    assert diff_values({"s": Secret("x")}, {"s": Secret("x")}) == []
    assert len(diff_values({"s": Secret("x")}, {"s": Secret("y")})) == 1


def test_identical_changes_group_and_different_ones_do_not() -> None:
    def host(digest: str) -> dict[str, object]:
        return {"containers": [{"name": "probe", "image": {"digest": digest}}]}

    impact = compare(
        {"a": host("d1"), "b": host("d1"), "c": host("d1")},
        {"a": host("d2"), "b": host("d2"), "c": host("d3")},
        base_label="x",
        head_label="y",
        inventory="i",
    )
    assert [(g.label, g.hosts) for g in impact.groups] == [
        ("container/probe image.digest: d1 → d2", ("a", "b")),
        ("container/probe image.digest: d1 → d3", ("c",)),
    ]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_export_without_extraction_filters_gives_the_same_files(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debian 12's Python 3.11.2 has no tarfile extraction filters (3.11.4 added them)
    from checkpointctl.gitops import gitrev

    with_filters = tmp_path / "with"
    gitrev.export(repo.root, repo.base, ["."], with_filters)
    monkeypatch.setattr(gitrev, "HAS_EXTRACTION_FILTERS", False)
    plain = tmp_path / "plain"
    gitrev.export(repo.root, repo.base, ["."], plain)
    assert _tree(plain) == _tree(with_filters)
    assert INV in _tree(plain)


@pytest.mark.parametrize("name", ["../escape.yml", "/etc/escape.yml", "a/../../escape.yml"])
def test_export_without_filters_refuses_names_outside_the_export(name: str, tmp_path: Path) -> None:
    import io
    import tarfile

    from checkpointctl.gitops import gitrev

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"x: 1\n"
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    with (
        tarfile.open(fileobj=buf, mode="r:") as tar,
        pytest.raises(gitrev.GitError, match="outside the export"),
    ):
        gitrev._extract_plain(tar, dest)
    assert not (tmp_path / "escape.yml").exists()
    assert list(dest.iterdir()) == []


def test_group_vars_beside_the_inventory_are_read_at_each_revision(
    repo: Repo, capsys: Capsys
) -> None:
    write(repo.root, "inventories/group_vars/all.yml", "registry_cidr: 203.0.113.99/32\n")
    git(repo.root, "add", "inventories/group_vars")
    git(repo.root, "commit", "-q", "-m", "registry moves")
    out = impact(capsys, "--base", repo.head, "--head", "main", "-i", INV)
    assert "3 of 4 hosts change" in out  # cp-nyc-1's own policy sets its egress
    assert "+1 rule {proto: tcp, port: 443, cidrs: [203.0.113.99/32]" in out
