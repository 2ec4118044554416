"""The managed-paths resource: unsafe directories are security drift naming path and problem,
repaired (the entry itself) or refused; leftovers of a crash are removed. The survey script runs
on a temporary tree through the local transport, so the shell and the plan are tested together."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checkpointctl.model import Action, Host
from checkpointctl.resources.paths import (
    Leftover,
    PathRepair,
    PathsActual,
    PathsResource,
    apply_path_target,
    repair_change,
)
from checkpointctl.spec import DesiredState
from checkpointctl.transport import safepath
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.safepath import Problem, UnsafePathError, Violation

STATE = DesiredState(host="h")


@pytest.mark.parametrize(
    ("violation", "field", "repairable"),
    [
        (Violation("/etc/checkpoint", Problem.MODE, "777"), ("mode", "0777", "0755"), True),
        (
            Violation("/etc/checkpoint/credentials", Problem.LINK),
            ("link", "symbolic link", "directory"),
            True,
        ),
        (
            Violation("/var/lib/checkpointctl", Problem.OWNER, "1000"),
            ("owner", "uid 1000", "uid 0"),
            True,
        ),
        (
            Violation("/etc/checkpoint/probe", Problem.TYPE, "1180"),
            ("type", "FIFO", "directory"),
            False,
        ),
        (Violation("/etc", Problem.MODE, "777"), ("mode", "0777", "0755"), False),
    ],
)
def test_each_violation_is_a_change_naming_path_and_problem(
    violation: Violation, field: tuple[str, str, str], repairable: bool
) -> None:
    change, target = repair_change(violation)
    assert change.address == f"path{violation.path}"
    assert change.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in change.fields] == [field]
    assert violation.path in change.reason
    assert change.reason.startswith("security: ")
    assert target == PathRepair(violation, repairable)
    assert ("refuses" in change.reason) is not repairable


def test_diff_orders_parents_first_and_removes_leftovers() -> None:
    actual = PathsActual(
        (
            Violation("/etc/checkpoint/credentials", Problem.OWNER, "5"),
            Violation("/etc/checkpoint", Problem.MODE, "777"),
        ),
        ("/var/lib/checkpointctl/firewall.rollback.nft",),
    )
    changes = PathsResource().diff(STATE, actual)
    assert [c.address for c in changes] == [
        "path/etc/checkpoint",
        "path/etc/checkpoint/credentials",
        "path/var/lib/checkpointctl/firewall.rollback.nft",
    ]
    assert changes[-1].action is Action.DELETE
    assert changes[-1].desired == Leftover("/var/lib/checkpointctl/firewall.rollback.nft")
    assert PathsResource().diff(STATE, PathsActual((), ())) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership rules need root")
def test_survey_repair_and_refusal_on_a_real_tree(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    root = tmp_path / "checkpoint"
    root.mkdir()
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "marker").write_text("x")
    (root / "credentials").symlink_to(decoy)
    (root / "wide").mkdir()
    (root / "wide").chmod(0o777)
    (root / "theirs").mkdir()
    os.chown(root / "theirs", 1000, 1000)
    os.mkfifo(root / "fifo")  # not a directory: not surveyed as one
    rollback = tmp_path / "rollback.nft"
    rollback.write_text("table")
    local = LocalTransport(Host("h", "127.0.0.1", connection="local"))
    command = safepath.survey_command(
        str(root), [str(root / "credentials")], (str(rollback), str(tmp_path / "pid")), "timer"
    )
    survey = safepath.parse_survey("h", local.run(command.argv, check=False))
    assert sorted(survey.violations, key=lambda v: v.path) == [
        Violation(str(root / "credentials"), Problem.LINK),
        Violation(str(root / "theirs"), Problem.OWNER, "1000"),
        Violation(str(root / "wide"), Problem.MODE, "777"),
    ]
    assert survey.leftovers == ()  # only looked for once every directory is safe
    roots = (str(root),)
    for v in survey.violations:
        apply_path_target(local, repair_change(v, roots)[1])
    assert (decoy / "marker").read_text() == "x"  # the link's target untouched
    assert (root / "credentials").is_dir()
    assert not (root / "credentials").is_symlink()
    assert oct((root / "wide").stat().st_mode & 0o777) == "0o755"
    assert (root / "theirs").stat().st_uid == 0
    again = safepath.parse_survey("h", local.run(command.argv, check=False))
    assert again.violations == ()
    assert again.leftovers == (str(rollback),)
    apply_path_target(
        local, PathsResource().diff(STATE, PathsActual((), again.leftovers))[0].desired
    )
    assert not rollback.exists()
    fifo = Violation(str(root / "fifo"), Problem.TYPE, "1180")
    with pytest.raises(UnsafePathError, match="FIFO"):
        apply_path_target(local, repair_change(fifo, roots)[1])
